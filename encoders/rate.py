"""Rate coding: Bernoulli ("Poisson") spike trains.

Each input intensity ``x`` in ``[0, 1]`` becomes an independent spike train in
which every step spikes with probability ``p = x * scale``. This is the usual
discrete-time approximation of a Poisson process: with a rate of ``r`` Hz and a
step of ``dt`` ms the per-step probability is ``r * dt / 1000``.
"""

from __future__ import annotations

import torch

from encoders.validation import check_generator, check_input, check_scalar, check_timesteps
from snnsim.errors import UserError
from snnsim.limits import check_allocation, dense_bytes

__all__ = ["poisson", "bernoulli"]


CHUNK_BYTES = 64 * 1024**2
"""Bytes of uniform samples drawn at once; the float draws are made in slices of ``T``
of at most this size, so the peak memory is the bool output plus one slice."""


def _sample(
    x: torch.Tensor,
    timesteps: int,
    scale: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Bernoulli samples with probability ``x * scale``: bool ``[T, *x.shape]``.

    The uniform draws ``u`` (float32, or float64 for float64 ``x``) are made in slices
    of ``T`` of at most :data:`CHUNK_BYTES` and compared into a preallocated bool output,
    so the float samples never exist for all ``T`` steps at once. The result depends only
    on the generator state: on the CPU, consecutive ``torch.rand`` calls continue one
    stream, so the spikes equal those of a single ``torch.rand((T, *x.shape))`` call
    (the implementation before chunking); on CUDA they equal it whenever one slice
    holds all ``T`` steps (up to 64 MiB of samples) and differ for larger draws.
    """
    # Half-precision inputs are sampled in float32 for a finer probability grid.
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    check_allocation(
        dense_bytes((timesteps, *x.shape), torch.bool), f"Poisson spike trains of {timesteps} steps x {list(x.shape)}"
    )
    prob = (x.to(dtype) * scale).unsqueeze(0)  # new tensor: x is never modified
    out = torch.empty((timesteps, *x.shape), dtype=torch.bool, device=x.device)
    step_bytes = max(dense_bytes(x.shape, dtype), 1)
    chunk = max(1, min(timesteps, CHUNK_BYTES // step_bytes))
    for start in range(0, timesteps, chunk):
        stop = min(start + chunk, timesteps)
        u = torch.rand((stop - start, *x.shape), generator=generator, device=x.device, dtype=dtype)
        # u is in [0, 1): p = 0 never spikes, p = 1 always spikes.
        torch.lt(u, prob, out=out[start:stop])
    return out


def _per_step_scale(max_rate: float | None, dt: float, prob_scale: float | None) -> float:
    """The spike probability per step for ``x = 1`` of :func:`poisson`, checked."""
    if max_rate is not None and prob_scale is not None:
        raise UserError(
            "give at most one of max_rate (Hz, with dt in ms) and prob_scale "
            f"(probability per step), got max_rate={max_rate!r} and "
            f"prob_scale={prob_scale!r}"
        )
    dt_value = check_scalar(dt, "dt", minimum=0.0, strict=True)
    if max_rate is not None:
        rate = check_scalar(max_rate, "max_rate", minimum=0.0)
        scale = rate * dt_value / 1000.0
        if scale > 1.0:
            raise UserError(
                f"max_rate * dt / 1000 = {rate:g} Hz * {dt_value:g} ms / 1000 = "
                f"{scale:g} is the spike probability per step for x = 1 and must "
                f"be <= 1; lower max_rate to at most {1000.0 / dt_value:g} Hz or "
                f"use a smaller dt"
            )
    else:
        if dt_value != 1.0:
            raise UserError(
                f"dt={dt_value:g} only has an effect together with max_rate; pass "
                f"max_rate (Hz) or drop dt and use prob_scale"
            )
        scale = 1.0 if prob_scale is None else check_scalar(prob_scale, "prob_scale")
        if scale < 0.0 or scale > 1.0:
            raise UserError(
                f"prob_scale is the spike probability per step for x = 1 and must be in [0, 1], got {scale:g}"
            )
    return scale


def poisson(
    x: torch.Tensor,
    timesteps: int,
    *,
    max_rate: float | None = None,
    dt: float = 1.0,
    prob_scale: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rate-code intensities as Bernoulli ("Poisson") spike trains.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of simulation steps ``T`` (int >= 1).
        max_rate: firing rate in Hz for ``x = 1``; the per-step probability is
            ``p = x * max_rate * dt / 1000``.
        dt: simulation step in ms; only meaningful together with ``max_rate``.
        prob_scale: per-step probability for ``x = 1`` (``p = x * prob_scale``).
            Defaults to 1.0 when neither ``max_rate`` nor ``prob_scale`` is set.
        generator: optional ``torch.Generator`` (on ``x``'s device) for
            reproducible sampling.

    Returns:
        Bool spike tensor of shape ``[T, *x.shape]`` on ``x.device``.

    Raises:
        ValueError: both ``max_rate`` and ``prob_scale`` given, ``dt`` changed
            without ``max_rate``, or the per-step probability scale exceeds 1
            (e.g. ``max_rate=2000`` Hz with ``dt=1`` ms).
    """
    scale = _per_step_scale(max_rate, dt, prob_scale)
    check_input(x)
    steps = check_timesteps(timesteps)
    check_generator(generator, device=x.device)
    return _sample(x, steps, scale, generator)


def bernoulli(
    x: torch.Tensor,
    timesteps: int,
    *,
    prob_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bernoulli spike trains with explicit probability per step ``p = x * prob_scale``.

    The setting of Lee et al. (2020) for MNIST is ``prob_scale=0.5``.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of steps ``T`` (int >= 1).
        prob_scale: spike probability per step for ``x = 1``, in ``[0, 1]``.
        generator: optional ``torch.Generator`` for reproducible sampling.

    Returns:
        Bool spike tensor of shape ``[T, *x.shape]`` on ``x.device``.
    """
    return poisson(x, timesteps, prob_scale=prob_scale, generator=generator)
