"""Checks shared by every way a network enters or leaves snnsim (spec, checkpoint, NIR,
Python API): layer and connection names, and finite tensors.

Names: a layer name is 1 to :data:`MAX_NAME_LENGTH` characters from ``A-Z a-z 0-9 _ -``
(torch refuses ``.`` in module names, ``/`` and ``>`` would make the keys of a weights file
``"src->tgt/param"`` ambiguous, and a path-like ``../x`` has no business in a name) and must
not be an attribute of a BindsNET ``Network`` (``layers``, ``dt``, ``run``...), which torch
would also refuse. :func:`check_name` is the one function that says so.

Finite tensors: :func:`check_finite` refuses NaN or infinite values, naming the tensor.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import torch

from snnsim.errors import UserError, UserTypeError

MAX_NAME_LENGTH = 64
NAME_CHARS = "letters, digits, '_' and '-'"
_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}")
_RESERVED: set[str] = set()


def _reserved() -> set[str]:
    """Attributes of a BindsNET ``Network`` (torch's ``add_module`` refuses them as names)."""
    if not _RESERVED:
        from bindsnet.network import Network

        _RESERVED.update(name for name in dir(Network(dt=1.0)) if not name.startswith("__"))
    return _RESERVED


def check_name(name: Any, what: str = "layer name") -> str:
    """Return ``name`` if it is a valid layer name, else raise a one-line :class:`UserError`
    (``UserTypeError`` for a non-string) that starts with ``what`` and states the rule."""
    if not isinstance(name, str):
        raise UserTypeError(f"{what} must be a string, got {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise UserError(
            f"{what} {name!r} is not allowed: use 1-{MAX_NAME_LENGTH} {NAME_CHARS} "
            "(no '.', '/', spaces or other characters)"
        )
    if name in _reserved():
        raise UserError(
            f"{what} {name!r} is not allowed: it is an attribute of a BindsNET Network; rename it (e.g. {name}_1)"
        )
    return name


def check_names(names: Iterable[Any], what: str = "layer") -> None:
    """:func:`check_name` for each of ``names`` (``{what}s[i].name`` in messages)."""
    for i, name in enumerate(names):
        check_name(name, f"{what}s[{i}].name")


def check_finite(tensors: Mapping[str, Any], what: str) -> None:
    """Raise a one-line :class:`UserError` naming the first tensor of ``tensors``
    ({name: tensor}) that holds NaN or infinite values (``what``: where they come from)."""
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
            if value.device.type == "meta" or bool(torch.isfinite(value.detach().sum())):
                continue  # a finite sum proves it (one cheap reduction); overflow needs the full check
            bad = ~torch.isfinite(value.detach())
            if bool(bad.any()):
                n_nan = int(torch.isnan(value.detach()).sum())
                raise UserError(
                    f"{what}: {name} holds {int(bad.sum())} non-finite values ({n_nan} NaN, "
                    f"{int(bad.sum()) - n_nan} infinite) of {value.numel()}; "
                    "retrain or repair these weights"
                )


def network_tensors(network: Any) -> dict[str, torch.Tensor]:
    """The floating-point parameters and buffers of ``network``'s connections and layers,
    named ``src->tgt/param`` or ``layer/param`` (for :func:`check_finite`)."""
    out: dict[str, torch.Tensor] = {}
    for (src, tgt), conn in getattr(network, "connections", {}).items():
        for key, value in conn.state_dict().items():
            if key.split(".", 1)[0] in ("source", "target"):  # the layers' state (e.g. v = -inf): not weights
                continue
            if key.rsplit(".", 1)[-1] not in ("wmin", "wmax"):  # BindsNET's clamp bounds: +-inf by default
                out[f"connection {src}->{tgt}/{key}"] = value
    for name, layer in getattr(network, "layers", {}).items():
        for key in ("thresh", "leak", "v_reset"):
            value = getattr(getattr(layer, "params", None), key, None)
            if isinstance(value, torch.Tensor):
                out[f"layer {name}.{key}"] = value
    return out
