"""What the HTML viewer (:mod:`analysis.html_viewer`) shows, per sample, as numpy arrays.

Everything here is plain data, independent of the plotting library: the raster points of
each layer (layers above ``max_neurons`` neurons subsampled by
:func:`analysis.raster.shown_neurons`, as the PNG raster), spikes per step, firing rates,
membrane-potential traces (:func:`analysis.traces.pick_neurons`) and first-spike times
(:func:`analysis.first_spikes.first_spike_times`). Samples are included in order until the spike
budget ``max_spikes`` is spent, which bounds the size of the HTML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch

from analysis.plotting import as_record, check_layers
from analysis.raster import MAX_NEURONS, raster_points, shown_neurons
from analysis.traces import pick_neurons, trace_data
from snnsim.engine import Record
from snnsim.errors import UserError

#: Default spike budget of one HTML file. A spike takes about 5.3 bytes (two base64
#: uint16s), and the sample shown first is stored twice (plot and menu): with plotly.js
#: (4.8 MB) a page stays under about 16 MB.
MAX_SPIKES = 1_000_000


@dataclass
class SampleData:
    """One sample's panels. Arrays are numpy; ``T`` = record timesteps."""

    raster: dict[str, tuple[np.ndarray, np.ndarray]]  # layer -> (steps [N], flat neurons [N])
    counts: dict[str, np.ndarray]  # layer -> spikes per step, all neurons [T]
    rates: dict[str, float]  # layer -> spikes / neuron / step
    traces: dict[str, tuple[list[int], np.ndarray]]  # voltage layer -> (neurons [K], potentials [T, K])
    first_spikes: dict[str, np.ndarray]  # layer -> first-spike steps of the neurons that fired [M]

    @property
    def n_spikes(self) -> int:
        """Raster points of this sample over all layers."""
        return sum(int(t.size) for t, _ in self.raster.values())


@dataclass
class ViewerData:
    """The samples of a record that one viewer shows (see :func:`viewer_data`)."""

    names: list[str]
    sizes: dict[str, int]  # layer -> neurons
    shown: dict[str, int]  # layer -> neurons drawn in the raster (< size when subsampled)
    dt: float
    timesteps: int
    samples: list[int]  # record indices of the included samples, ascending
    data: dict[int, SampleData]
    labels: Optional[list[Any]] = None  # class label of every record sample, or None
    ttfs: bool = False
    n_samples: int = 0  # samples in the record
    notes: list[str] = field(default_factory=list)

    @property
    def n_spikes(self) -> int:
        """Raster points over all included samples."""
        return sum(d.n_spikes for d in self.data.values())


def looks_ttfs(record: Record) -> bool:
    """True when every non-input layer fires at most once per neuron and sample and some
    layer fires at all: the signature of time-to-first-spike coding."""
    names = [n for n in record.spikes if record.kinds.get(n) != "input"]
    if not record.kinds:
        names = names[1:]  # unknown kinds: take the first layer as the input
    if not names:
        return False
    counts = [record.spikes[n].reshape(record.timesteps, record.batch_size, -1).ne(0).sum(0) for n in names]
    return all(int(c.max()) <= 1 for c in counts) and any(int(c.sum()) > 0 for c in counts)


def _sample(
    record: Record, b: int, names: Sequence[str], keep: dict[str, Optional[torch.Tensor]], ttfs: dict[str, torch.Tensor]
) -> SampleData:
    """Panels of record sample ``b``; ``ttfs``: layer -> first-spike steps ``[B, *shape]``."""
    t_steps = record.timesteps
    raster, counts, rates, traces, first = {}, {}, {}, {}, {}
    for n in names:
        t, i = raster_points(record.spikes[n], b, neurons=keep[n])
        raster[n] = (t.cpu().numpy(), i.cpu().numpy())
        c = record.spikes[n][:, b].reshape(t_steps, -1).ne(0).sum(1).cpu().numpy()
        counts[n] = c
        rates[n] = float(c.sum()) / (t_steps * record.spikes[n][0, 0].numel())
        if n in record.voltages:
            idx = pick_neurons(record, n, b)
            traces[n] = (idx, trace_data(record, n, idx, b).float().cpu().numpy())
        if n in ttfs:
            ft = ttfs[n][b].flatten()
            first[n] = ft[torch.isfinite(ft)].cpu().numpy()
    return SampleData(raster, counts, rates, traces, first)


def viewer_data(
    record: Record,
    labels: Optional[Any] = None,
    *,
    layers: Optional[Sequence[str]] = None,
    sample: int = 0,
    max_neurons: Optional[int] = MAX_NEURONS,
    max_spikes: int = MAX_SPIKES,
    ttfs: Optional[bool] = None,
) -> ViewerData:
    """Per-sample panels of ``record`` (spikes ``[T, B, ...]``) for ``layers`` (default all).

    ``sample`` is always included; the others follow in order while the raster points stay
    within ``max_spikes`` (a note says how many were left out). ``ttfs``: add first-spike
    times (None: when :func:`looks_ttfs`). Raises :class:`UserError` when ``sample`` alone
    exceeds the budget.
    """
    record = as_record(record)
    names = check_layers(list(record.spikes), layers)
    b_total = record.batch_size
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < b_total:
        raise UserError(f"sample must be in [0, {b_total - 1}] (the record holds {b_total} samples), got {sample!r}")
    if isinstance(max_spikes, bool) or not isinstance(max_spikes, int) or max_spikes < 1:
        raise UserError(f"max_spikes must be a positive int, got {max_spikes!r}")
    label_list = None if labels is None else torch.as_tensor(labels).reshape(-1).tolist()
    if label_list is not None and len(label_list) != b_total:
        raise UserError(f"labels has {len(label_list)} entries for {b_total} samples")
    sizes = {n: int(record.spikes[n][0, 0].numel()) for n in names}
    keep = {n: shown_neurons(sizes[n], max_neurons) for n in names}
    ttfs = looks_ttfs(record) if ttfs is None else bool(ttfs)
    firsts: dict[str, Any] = {}
    if ttfs:
        from analysis.first_spikes import first_spike_times

        firsts = {n: first_spike_times(record, n) for n in names}
    data: dict[int, SampleData] = {}
    used = 0
    for b in [sample] + [i for i in range(b_total) if i != sample]:
        d = _sample(record, b, names, keep, firsts)
        if used + d.n_spikes > max_spikes:
            if b == sample:
                raise UserError(
                    f"sample {b} alone has {d.n_spikes} spikes to draw, over the budget of {max_spikes}; "
                    "raise max_spikes (--max-spikes) or lower max_neurons (--max-neurons)"
                )
            break
        data[b], used = d, used + d.n_spikes
    shown = {n: sizes[n] if keep[n] is None else int(keep[n].numel()) for n in names}
    notes = [f"{n}: {shown[n]} of {sizes[n]} neurons shown (evenly spaced)" for n in names if shown[n] < sizes[n]]
    if len(data) < b_total:
        notes.append(f"{len(data)} of {b_total} samples included (spike budget {max_spikes})")
    return ViewerData(
        names, sizes, shown, float(record.dt), record.timesteps, sorted(data), data, label_list, ttfs, b_total, notes
    )
