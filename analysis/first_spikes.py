"""First-spike times (time to first spike, TTFS) and their histogram per layer, for any spike record
(TTFS networks above all: :mod:`snnsim.methods.ttfs.plots` names them for the method)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from analysis.plotting import (
    PathLike,
    RecordLike,
    as_record,
    check_layers,
    layer_color,
    new_figure,
    save_figure,
    time_label,
)
from encoders import first_spike_times as _first_spike_index
from snnsim.errors import UserError


def first_spike_times(record: RecordLike, layer: str) -> torch.Tensor:
    """Step of the first spike of every neuron and sample of ``layer``: float ``[B, *shape]``
    (0-based step index; ``inf`` where the neuron never fires). Multiply by ``record.dt``
    for ms. ``record``: anything :func:`~analysis.plotting.as_record` takes."""
    record = as_record(record)
    check_layers(list(record.spikes), [layer])
    return _first_spike_index(record.spikes[layer])


def ttfs_histogram_data(
    record: RecordLike, layers: Optional[Sequence[str]] = None, bins: Optional[int] = None
) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per layer: (counts ``[bins]``, edges in steps ``[bins + 1]``, number that never fired).

    Bins cover steps ``[0, T)``; default one bin per step (at most 100). The counts of a
    layer sum to the number of (sample, neuron) pairs that fired at least once.
    """
    record = as_record(record)
    t = record.timesteps
    nb = bins if bins is not None else min(t, 100)
    if isinstance(nb, bool) or not isinstance(nb, int) or nb < 1:
        raise UserError(f"bins must be a positive int, got {bins!r}")
    out: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for name in check_layers(list(record.spikes), layers):
        ft = first_spike_times(record, name).flatten()
        fired = ft[torch.isfinite(ft)].numpy()
        counts, edges = np.histogram(fired, bins=nb, range=(-0.5, t - 0.5))
        out[name] = (counts.astype(np.int64), edges, int(ft.numel() - fired.size))
    return out


def plot_first_spike_times(
    record: RecordLike,
    layers: Optional[Sequence[str]] = None,
    *,
    bins: Optional[int] = None,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Histogram of first-spike times over all samples and neurons, one panel per layer;
    the share of neurons that never fired is given in each panel's title."""
    record = as_record(record)
    data = ttfs_histogram_data(record, layers, bins)
    dt = record.dt
    names = list(data)
    fig = new_figure(7.0, 0.8 + 1.8 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names)):
        counts, edges, silent = data[name]
        total = int(counts.sum()) + silent
        ax.bar(
            edges[:-1] * dt,
            counts,
            width=np.diff(edges) * dt,
            align="edge",
            color=layer_color(i),
            edgecolor="white",
            linewidth=0.3,
        )
        ft = first_spike_times(record, name)
        if counts.sum():
            mean = float(ft[torch.isfinite(ft)].double().mean()) * dt
            note = f"mean first spike {mean:.1f}{' ms' if dt != 1.0 else ''}"
        else:
            note = "no spikes"
            ax.set_ylim(0, 1)
        ax.set_title(
            f"{name}: {int(counts.sum())} of {total} fired ({note}), {100 * silent / max(total, 1):.1f}% silent",
            fontsize=8,
        )
        ax.set_ylabel("neurons", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("first spike " + time_label(dt))
    fig.suptitle(title or f"time to first spike ({record.batch_size} samples)", fontsize=10)
    save_figure(fig, path)
    return fig
