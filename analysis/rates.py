"""Firing rates: per layer (bar chart) and per neuron (histogram per layer).

Units: ``"step"`` = spikes per neuron per time step (in [0, 1]); ``"hz"`` = spikes per
second, ``rate_per_step * 1000 / dt`` with ``dt`` in ms.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from matplotlib.figure import Figure

from analysis.plotting import PathLike, RecordLike, as_record, check_layers, layer_color, new_figure, save_figure
from snnsim.engine import Record
from snnsim.errors import UserError

UNITS = ("step", "hz")


def _scale(unit: str, dt: float) -> float:
    if unit not in UNITS:
        raise UserError(f"unit must be one of {UNITS}, got {unit!r}")
    if not dt > 0:
        raise UserError(f"dt must be > 0 ms, got {dt}")
    return 1.0 if unit == "step" else 1000.0 / dt


def unit_label(unit: str) -> str:
    """Axis label of a rate unit."""
    _scale(unit, 1.0)
    return "spikes / neuron / step" if unit == "step" else "rate (Hz)"


def firing_rates(record: RecordLike, unit: str = "step", layers: Optional[Sequence[str]] = None) -> dict[str, float]:
    """Mean firing rate of each layer over its neurons, samples and steps.

    In spikes/step this is ``counts.sum() / (T * B * n_neurons)``; ``unit="hz"`` scales by
    ``1000 / record.dt``. Returns layer -> rate, in the record's layer order. ``record``:
    anything :func:`~analysis.plotting.as_record` takes (a Record, dict or tensor/array).
    """
    record = as_record(record)
    scale = _scale(unit, record.dt)
    return {n: float(record.spikes[n].double().mean()) * scale for n in check_layers(list(record.spikes), layers)}


def rates_from_counts(
    neuron_counts: dict[str, torch.Tensor], samples: int, timesteps: int, unit: str = "step", dt: float = 1.0
) -> dict[str, float]:
    """Layer rates from :attr:`snnsim.engine.evaluate.Evaluation.neuron_counts` (total spikes per
    neuron ``[*shape]`` over ``samples`` samples of ``timesteps`` steps)."""
    if samples < 1 or timesteps < 1:
        raise UserError(f"samples and timesteps must be >= 1, got {samples} and {timesteps}")
    scale = _scale(unit, dt)
    return {n: float(c.double().mean()) / (samples * timesteps) * scale for n, c in neuron_counts.items()}


def rates_from_report(report: dict[str, Any], unit: str = "step") -> Optional[dict[str, Any]]:
    """Layer rates from a ``report.json``'s ``spikes_per_neuron`` (spikes per neuron and
    sample; ``{layer: x}`` or ``{run: {layer: x}}``) and ``timesteps`` (``dt`` from the
    report, default 1 ms). Returns the same nesting, or None if absent."""
    spn, steps = report.get("spikes_per_neuron"), report.get("timesteps")
    if not isinstance(spn, dict) or not spn or not isinstance(steps, (int, float)) or steps < 1:
        return None
    scale = _scale(unit, float(report.get("dt") or 1.0)) / steps

    def layer_rates(d: Any) -> Optional[dict[str, float]]:
        if not isinstance(d, dict) or not d or not all(isinstance(v, (int, float)) for v in d.values()):
            return None
        return {str(n): float(v) * scale for n, v in d.items()}

    if all(isinstance(v, dict) for v in spn.values()):
        runs = {str(r): layer_rates(d) for r, d in spn.items()}
        return None if any(v is None for v in runs.values()) else runs
    return layer_rates(spn)


def neuron_rates(record: RecordLike, layer: str, unit: str = "step") -> torch.Tensor:
    """Rate of every neuron of ``layer`` averaged over samples and steps: ``[*shape]`` float64."""
    record = as_record(record)
    check_layers(list(record.spikes), [layer])
    return record.spikes[layer].double().mean((0, 1)) * _scale(unit, record.dt)


def rate_histogram_data(
    record: RecordLike, layers: Optional[Sequence[str]] = None, bins: int = 20, unit: str = "step"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Histogram of per-neuron rates (see :func:`neuron_rates`) for each layer.

    The range is [0, max possible rate] (1 spike/step), widened if an analog input layer
    goes beyond it, so every neuron is counted: the counts of a layer sum to its number of
    neurons. Returns layer -> (counts int ``[bins]``, bin edges ``[bins + 1]``).
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise UserError(f"bins must be a positive int, got {bins!r}")
    record = as_record(record)
    top = _scale(unit, record.dt)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in check_layers(list(record.spikes), layers):
        r = neuron_rates(record, name, unit).flatten().numpy()
        lo, hi = min(0.0, float(r.min())), max(top, float(r.max()))
        counts, edges = np.histogram(r, bins=bins, range=(lo, hi))
        out[name] = (counts.astype(np.int64), edges)
    return out


def plot_firing_rates(
    rates: Union[RecordLike, dict[str, Any]],
    unit: str = "step",
    *,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Bar chart of the mean firing rate per layer (as in the tdBN figure).

    ``rates``: recorded spikes (a :class:`Record`, or a dict layer -> / one tensor or array
    ``[T, B, ...]`` / ``[T, N]``; rates computed with :func:`firing_rates` in ``unit``), a
    dict layer -> rate already in ``unit``, or ``{run: {layer: rate}}`` for grouped bars
    (one colour per run). Bars are annotated with their value.
    """
    if isinstance(rates, (Record, torch.Tensor, np.ndarray)) or (
        isinstance(rates, dict)
        and any(isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim >= 2 for v in rates.values())
    ):
        rates = firing_rates(rates, unit)  # recorded spikes, not rates
    if not isinstance(rates, dict) or not rates:
        raise UserError("rates must be a Record, a dict layer -> rate or a dict run -> {layer: rate}")
    grouped = all(isinstance(v, dict) for v in rates.values())
    runs: dict[str, dict[str, float]] = {str(r): dict(v) for r, v in rates.items()} if grouped else {"": dict(rates)}
    names = list(dict.fromkeys(n for r in runs.values() for n in r))
    width = 0.8 / len(runs)
    fig = new_figure(max(4.0, (0.6 + 0.25 * len(runs)) * len(names) + 2.0), 3.6)
    ax = fig.add_subplot()
    top = 0.0
    for j, (run, r) in enumerate(runs.items()):
        values = [float(r.get(n, float("nan"))) for n in names]
        xs = [i + (j - (len(runs) - 1) / 2) * width for i in range(len(names))]
        colors = f"C{j % 10}" if grouped else [layer_color(i) for i in range(len(names))]
        bars = ax.bar(xs, values, width=width * 0.95, color=colors, label=run or None)
        ax.bar_label(
            bars,
            labels=[f"{v:.3g}" for v in values],
            fontsize=7 if grouped else 8,
            padding=2,
            rotation=90 if grouped and len(runs) > 2 else 0,
        )
        top = max([top] + [v for v in values if v == v])
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 6 else 0, fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel(unit_label(unit))
    ax.set_ylim(0, (top if top > 0 else 1.0) * (1.35 if grouped else 1.15))
    if grouped:
        ax.legend(fontsize=8)
    ax.set_title(title or "average firing rate per layer", fontsize=10)
    save_figure(fig, path)
    return fig


def plot_rate_histogram(
    record: RecordLike,
    layers: Optional[Sequence[str]] = None,
    *,
    bins: int = 20,
    unit: str = "step",
    log_y: bool = True,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Histogram of per-neuron firing rates, one panel per layer (bar heights = counts).
    ``record``: anything :func:`~analysis.plotting.as_record` takes."""
    record = as_record(record)
    data = rate_histogram_data(record, layers, bins, unit)
    names = list(data)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = new_figure(3.2 * cols, 2.5 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for i, (ax, name) in enumerate(zip(axes, names)):
        counts, edges = data[name]
        ax.bar(
            edges[:-1],
            counts,
            width=np.diff(edges),
            align="edge",
            color=layer_color(i),
            edgecolor="white",
            linewidth=0.4,
        )
        if log_y and counts.max() > 0:
            ax.set_yscale("log")
        ax.set_title(f"{name} ({int(counts.sum())} neurons)", fontsize=9)
        ax.set_xlabel(unit_label(unit), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("neurons")
    fig.suptitle(
        title or f"per-neuron firing rates ({record.batch_size} samples, {record.timesteps} steps)", fontsize=10
    )
    save_figure(fig, path)
    return fig
