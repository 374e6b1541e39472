"""Shared plotting helpers: pyplot-free figures, saving, argument checks.

Static plots are built on a bare :class:`matplotlib.figure.Figure` (not ``pyplot``), so
they work under any backend (Agg on servers, inline in notebooks), never select a
backend as a side effect and never pile up in pyplot's figure registry. Only the
interactive :mod:`analysis.viewer` uses ``pyplot``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from matplotlib.figure import Figure

from snnsim.engine import Record

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
        raise ValueError(f"plots are saved as {' or '.join('.' + f for f in FORMATS)}; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format=fmt)


def check_record(record: object) -> Record:
    """``record`` if it is a :class:`snnsim.engine.Record` with at least one layer."""
    if not isinstance(record, Record):
        raise TypeError(f"expected an snnsim.engine.Record, got {type(record).__name__}")
    if not record.spikes:
        raise ValueError("the record holds no layers (was anything simulated?)")
    return record


def check_layers(available: Sequence[str], layers: Optional[Sequence[str]], what: str = "recorded") -> list[str]:
    """``layers`` (default: all of ``available``) after checking each is in ``available``."""
    if isinstance(layers, str):
        layers = [layers]
    names = list(available) if layers is None else list(layers)
    if not names:
        raise ValueError("no layers to plot")
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"layers {missing} were not {what}; {what}: {list(available)}")
    return names


def check_sample(tensor: torch.Tensor, sample: int) -> int:
    """``sample`` if it indexes dim 1 (batch) of ``tensor`` ``[T, B, ...]``."""
    if isinstance(sample, bool) or not isinstance(sample, int):
        raise TypeError(f"sample must be an int, got {type(sample).__name__}")
    b = tensor.shape[1]
    if not 0 <= sample < b:
        raise ValueError(f"sample must be in [0, {b - 1}] (the record holds {b} samples), got {sample}")
    return sample


def time_label(dt: float) -> str:
    """x-axis label: ms when ``dt`` is a physical step, else steps."""
    return "time (ms)" if dt != 1.0 else "time step"


def layer_color(i: int) -> str:
    """A distinct colour for the ``i``-th layer."""
    return f"C{i % 10}"
