"""Spike raster of one sample: neurons by time, one panel per layer, layers stacked.

Layers above ``max_neurons`` (:data:`MAX_NEURONS`, 2,000) neurons are drawn for an
evenly spaced subset of that many neurons (at their own indices), so that rasters of
large nets (e.g. ResNet-19, 100k+ neurons per layer) stay fast; the panel label says
"n of N shown".
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from matplotlib.figure import Figure

from analysis.plotting import (
    PathLike,
    RecordLike,
    as_record,
    as_time_major,
    check_layers,
    check_sample,
    layer_color,
    new_figure,
    save_figure,
    time_label,
)
from snnsim.engine import Record
from snnsim.errors import UserError

#: Most neurons drawn per layer by :func:`plot_raster` (evenly spaced subset above it).
from snnsim.names import MAX_NEURONS  # noqa: E402  (light for the CLI)


def shown_neurons(size: int, max_neurons: Optional[int] = MAX_NEURONS) -> Optional[torch.Tensor]:
    """Flat indices of the neurons drawn for a layer of ``size`` neurons: ``None`` (all)
    up to ``max_neurons``, else ``max_neurons`` evenly spaced ones ``[max_neurons]``,
    first and last included (deterministic)."""
    if max_neurons is not None and (
        isinstance(max_neurons, bool) or not isinstance(max_neurons, int) or max_neurons < 2
    ):
        raise UserError(f"max_neurons must be an int >= 2 or None, got {max_neurons!r}")
    if max_neurons is None or size <= max_neurons:
        return None
    return torch.linspace(0, size - 1, max_neurons, dtype=torch.float64).round().long()


def _window(t: int, time_window: Optional[tuple[int, int]]) -> tuple[int, int]:
    """Checked ``[t0, t1)`` step window inside ``[0, t)`` (default: all steps)."""
    if time_window is None:
        return 0, t
    t0, t1 = (int(v) for v in time_window)
    if not 0 <= t0 < t1 <= t:
        raise UserError(f"time_window must be (t0, t1) steps with 0 <= t0 < t1 <= {t}, got {tuple(time_window)}")
    return t0, t1


def marker_area(row_pt: float) -> float:
    """Scatter size (points^2) of a ``|`` marker as tall as one neuron row (0.6 to 8 pt)."""
    return min(8.0, max(0.6, row_pt)) ** 2


def raster_points(
    spikes: Union[torch.Tensor, np.ndarray],
    sample: int = 0,
    *,
    time_window: Optional[tuple[int, int]] = None,
    neurons: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(step indices, flat neuron indices) of the spikes of one sample.

    ``spikes``: ``[T, B, *shape]``, or ``[T, N]`` for one sample (bool, or numeric where
    nonzero is a spike; a tensor with or without grad, or a numpy array, see
    :func:`~analysis.plotting.as_time_major`);
    ``time_window``: optional ``(t0, t1)`` keeping steps ``t0 <= t < t1``;
    ``neurons``: optional sorted flat indices ``[K]`` of the only neurons to look at.
    """
    spikes = as_time_major(spikes)
    check_sample(spikes, sample)
    t0, t1 = _window(spikes.shape[0], time_window)
    s = spikes[t0:t1, sample].reshape(t1 - t0, -1)
    if neurons is not None:
        neurons = neurons.to(device=s.device, dtype=torch.long)
        s = s[:, neurons]
    t, n = (s != 0).nonzero(as_tuple=True)
    return t + t0, (n if neurons is None else neurons[n])


def plot_raster(
    spikes: RecordLike,
    sample: int = 0,
    layers: Optional[Sequence[str]] = None,
    dt: float = 1.0,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
    *,
    time_window: Optional[tuple[int, int]] = None,
    max_neurons: Optional[int] = MAX_NEURONS,
) -> Figure:
    """Raster of ``sample`` for ``layers`` (default all), one panel per layer, top to bottom.

    ``spikes``: a :class:`Record` (whose ``dt`` is then used), a dict layer name -> spikes,
    or one tensor/array of spikes; each ``[T, B, ...]`` or ``[T, N]`` (one sample), with or
    without grad, tensor or numpy (see :func:`~analysis.plotting.as_record`). Each panel
    holds one scatter whose points are (time in ms, flat neuron index); its height grows
    with the layer size. A layer above ``max_neurons`` neurons shows only
    :func:`shown_neurons` (``None``: always all). Saves PNG/SVG to ``path`` if given.
    """
    if isinstance(spikes, Record):
        dt = spikes.dt if dt == 1.0 else dt
    spikes = as_record(spikes).spikes
    names = check_layers(list(spikes), layers)
    t_max = max(spikes[n].shape[0] for n in names)
    t0, t1 = _window(t_max, time_window)
    sizes = [spikes[n][0, 0].numel() for n in names]
    heights = [max(1.0, min(3.0, size / 400)) for size in sizes]
    fig = new_figure(8.0, 1.0 + 1.1 * sum(heights))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    total, subsampled = 0, False
    for i, (ax, name, size) in enumerate(zip(axes, names, sizes)):
        window = (t0, min(t1, spikes[name].shape[0])) if t0 < spikes[name].shape[0] else None
        keep = shown_neurons(size, max_neurons)
        shown = size if keep is None else keep.numel()
        subsampled = subsampled or keep is not None
        if window is None:
            t, n = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        else:
            t, n = raster_points(spikes[name], sample, time_window=window, neurons=keep)
            t, n = t.cpu(), n.cpu()
        total += t.numel()
        row_pt = heights[i] / sum(heights) * (fig.get_figheight() - 1.0) * 72 / shown  # points per drawn row
        col_pt = 6.5 * 72 / max(1, t1 - t0)  # points per time step
        ax.scatter(
            (t.double() * dt).numpy(),
            n.numpy(),
            s=marker_area(row_pt),
            marker="|",
            color=layer_color(i),
            linewidths=min(1.0, 0.6 * col_pt),
        )
        ax.set_ylim(size - 0.5, -0.5)
        rate = t.numel() / max(1, shown * (t1 - t0))
        count = f"{size} n" if keep is None else f"{shown} of {size}\nneurons shown"
        ax.set_ylabel(f"{name}\n{count}\n{t.numel()} sp", rotation=0, ha="right", va="center", fontsize=8)
        ax.text(1.0, 1.0, f"{rate:.3f} sp/step", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlim((t0 - 0.5) * dt, (t1 - 0.5) * dt)
    axes[-1].set_xlabel(time_label(dt))
    note = f"; layers above {max_neurons} neurons subsampled" if subsampled else ""
    fig.suptitle((title or f"spike raster, sample {sample} ({total} spikes)") + note, fontsize=10)
    save_figure(fig, path)
    return fig
