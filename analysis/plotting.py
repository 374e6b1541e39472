"""Shared plotting helpers: pyplot-free figures, saving, argument checks.

Static plots are built on a bare :class:`matplotlib.figure.Figure` (not ``pyplot``), so
they work under any backend (Agg on servers, inline in notebooks), never select a
backend as a side effect and never pile up in pyplot's figure registry. Only the
interactive :mod:`analysis.viewer` uses ``pyplot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from matplotlib.figure import Figure

from snnsim.engine import Record
from snnsim.errors import UserError, UserTypeError

PathLike = Union[str, Path]
FORMATS = ("png", "svg")


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches that is not registered with pyplot."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, path: Optional[PathLike], dpi: int = 120) -> None:
    """Save ``fig`` to ``path`` (``.png`` or ``.svg``) if ``path`` is given."""
    if path is None:
        return
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UserError(f"plots are saved as {' or '.join('.' + f for f in FORMATS)}; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format=fmt)


#: What the analysis functions accept as recorded data (see :func:`as_record`).
RecordLike = Union[Record, Mapping[str, Any], torch.Tensor, np.ndarray]


def as_time_major(x: Any, what: str = "spikes") -> torch.Tensor:
    """``x`` as a CPU tensor ``[T, B, *shape]`` outside autograd: the one normaliser of the
    analysis functions' tensors. ``x``: a torch tensor (requiring grad or not, on any device)
    or a numpy array, bool or numeric. ``[T, N]`` is one sample of N neurons (as BindsNET's
    plots take it) and becomes ``[T, 1, N]``; ``[T, B, N]`` and ``[T, B, *shape]`` are kept.
    No copy for a CPU tensor (a detached view)."""
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise UserTypeError(f"{what} must be a numeric or bool array, got dtype object")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise UserTypeError(
            f"{what} must be a torch tensor or numpy array [T, N], [T, B, N] or [T, B, *shape], got {type(x).__name__}"
        )
    if x.dim() < 2:
        raise UserError(f"{what} must be [T, N], [T, B, N] or [T, B, *shape], got shape {list(x.shape)}")
    x = x.detach().cpu()
    return x.unsqueeze(1) if x.dim() == 2 else x


def as_record(data: RecordLike, dt: Optional[float] = None, *, what: str = "spikes") -> Record:
    """The :class:`Record` that every analysis function works on, with each tensor through
    :func:`as_time_major` (detached, on CPU, ``[T, B, *shape]``).

    ``data``: a Record (an ``analysis.record`` Recording too; ``dt`` and ``kinds`` kept), a
    dict layer -> tensor/array, or one tensor/array (a layer named ``"layer"``). Dict and
    single data are ``what`` ("spikes", or "voltages" for potentials). ``dt``: step in ms
    (default: the record's, else 1). Raises UserError when nothing was recorded."""
    if what not in ("spikes", "voltages"):
        raise UserError(f"what must be 'spikes' or 'voltages', got {what!r}")
    if isinstance(data, Record):
        rec = Record(
            {k: as_time_major(v, f"spikes of {k!r}") for k, v in data.spikes.items()},
            {k: as_time_major(v, f"potentials of {k!r}") for k, v in data.voltages.items()},
            float(data.dt if dt is None else dt),
            dict(getattr(data, "kinds", {}) or {}),
        )
    else:
        layers = dict(data) if isinstance(data, Mapping) else {"layer": data}
        tensors = {str(k): as_time_major(v, f"{what} of {k!r}") for k, v in layers.items()}
        rec = Record(
            tensors if what == "spikes" else {}, tensors if what == "voltages" else {}, 1.0 if dt is None else float(dt)
        )
    if not rec.spikes and not rec.voltages:
        raise UserError("the record holds no layers (was anything simulated?)")
    return rec


def check_layers(available: Sequence[str], layers: Optional[Sequence[str]], what: str = "recorded") -> list[str]:
    """``layers`` (default: all of ``available``) after checking each is in ``available``."""
    if isinstance(layers, str):
        layers = [layers]
    names = list(available) if layers is None else list(layers)
    if not names:
        raise UserError("no layers to plot")
    missing = [n for n in names if n not in available]
    if missing:
        raise UserError(f"layers {missing} were not {what}; {what}: {list(available)}")
    return names


def check_sample(tensor: torch.Tensor, sample: int) -> int:
    """``sample`` if it indexes dim 1 (batch) of ``tensor`` ``[T, B, ...]``."""
    if isinstance(sample, bool) or not isinstance(sample, int):
        raise UserTypeError(f"sample must be an int, got {type(sample).__name__}")
    b = tensor.shape[1]
    if not 0 <= sample < b:
        raise UserError(f"sample must be in [0, {b - 1}] (the record holds {b} samples), got {sample}")
    return sample


def time_label(dt: float) -> str:
    """x-axis label: ms when ``dt`` is a physical step, else steps."""
    return "time (ms)" if dt != 1.0 else "time step"


def layer_color(i: int) -> str:
    """A distinct colour for the ``i``-th layer."""
    return f"C{i % 10}"
