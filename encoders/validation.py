"""Shared argument checks for the encoders.

Every encoder validates its arguments with these helpers so that mistakes
(integer images, NaNs, a float number of steps, ...) fail early with a message
that says what was expected and what was received. None of the checks modify
their inputs.
"""

from __future__ import annotations

import math
import numbers

import torch

from snnsim.errors import UserError, UserTypeError

__all__ = [
    "check_input",
    "check_timesteps",
    "check_generator",
    "check_scalar",
]


def _describe(value: object) -> str:
    """Short description of an arbitrary value for error messages."""
    if isinstance(value, torch.Tensor):
        return f"torch.Tensor(dtype={value.dtype}, shape={tuple(value.shape)})"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__module__}.{type(value).__name__} with shape {tuple(shape)}"
    return f"{type(value).__name__} {value!r}"[:200]


def check_input(x: object, *, name: str = "x", unit_interval: bool = True) -> None:
    """Check an encoder input tensor ``x`` of shape ``[B, ...]``.

    Requires a floating-point ``torch.Tensor`` with at least one dimension
    (the batch dimension) and only finite values. With ``unit_interval`` the
    values must also lie in ``[0, 1]`` (intensities / probabilities).

    Raises:
        TypeError: ``x`` is not a tensor, or has an integer/bool/complex dtype.
        ValueError: ``x`` is 0-D, contains NaN/inf, or is outside ``[0, 1]``.
    """
    if not isinstance(x, torch.Tensor):
        hint = ""
        if type(x).__module__ == "numpy":
            hint = "; convert with torch.from_numpy(a).float()"
        elif isinstance(x, (list, tuple)):
            hint = "; convert with torch.tensor(data, dtype=torch.float32)"
        raise UserTypeError(f"{name} must be a torch.Tensor, got {_describe(x)}{hint}")
    if not x.is_floating_point():
        raise UserTypeError(
            f"{name} must have a floating-point dtype, got {x.dtype}; convert it "
            f"first, e.g. x.float() / 255 for uint8 images"
        )
    if x.dim() < 1:
        raise UserError(
            f"{name} must have at least 1 dimension (the batch dimension [B, ...]), "
            f"got a 0-D tensor; use x.reshape(1) or x.unsqueeze(0)"
        )
    if x.numel() == 0:
        return
    if not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise UserError(f"{name} must contain only finite values, found {n_nan} NaN and {n_inf} inf entries")
    if unit_interval:
        lo = float(x.min())
        hi = float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise UserError(
                f"{name} must have values in [0, 1] for this encoder, got "
                f"min={lo:.6g}, max={hi:.6g}; normalise it first "
                f"(e.g. x / 255 or (x - x.min()) / (x.max() - x.min()))"
            )


def check_timesteps(timesteps: object, *, name: str = "timesteps") -> int:
    """Check that ``timesteps`` is an integer >= 1 and return it as ``int``.

    ``bool`` and ``float`` values (even integral floats like ``10.0``) are
    rejected with ``TypeError``; integers < 1 raise ``ValueError``.
    """
    if isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral):
        raise UserTypeError(f"{name} must be an int >= 1, got {type(timesteps).__name__} {timesteps!r}")
    value = int(timesteps)
    if value < 1:
        raise UserError(f"{name} must be an int >= 1, got {value}")
    return value


def check_generator(generator: object, *, device: torch.device | None = None) -> None:
    """Check that ``generator`` is ``None`` or a ``torch.Generator``.

    When ``device`` is given, a generator must live on the same device type
    (``torch.rand`` cannot sample CUDA tensors from a CPU generator).
    """
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise UserTypeError(
            f"generator must be None or a torch.Generator, got {type(generator).__name__} {generator!r}"[:300]
        )
    if device is not None and generator.device.type != torch.device(device).type:
        raise UserError(
            f"generator is on device {generator.device} but the input is on "
            f"{device}; create it with torch.Generator(device=x.device)"
        )


def check_scalar(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """Check a finite real parameter and return it as ``float``.

    Args:
        value: the parameter; ``bool`` and non-real values raise ``TypeError``.
        name: parameter name used in messages.
        minimum: lower bound (inclusive unless ``strict``).
        strict: make ``minimum`` exclusive.
        maximum: inclusive upper bound.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserTypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}"[:300])
    out = float(value)
    if not math.isfinite(out):
        raise UserError(f"{name} must be finite, got {out}")
    if minimum is not None:
        if strict and not out > minimum:
            raise UserError(f"{name} must be > {minimum}, got {out}")
        if not strict and out < minimum:
            raise UserError(f"{name} must be >= {minimum}, got {out}")
    if maximum is not None and out > maximum:
        raise UserError(f"{name} must be <= {maximum}, got {out}")
    return out
