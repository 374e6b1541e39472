"""Membrane potential traces of chosen neurons, with the firing threshold."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch
from bindsnet.network import Network
from matplotlib.figure import Figure

from analysis.plotting import (
    PathLike,
    RecordLike,
    as_record,
    check_layers,
    check_sample,
    new_figure,
    save_figure,
    time_label,
)
from snnsim.core.nodes import SpikingNodes, param_json
from snnsim.errors import UserError

#: a layer's threshold: one number, or per-neuron values (nested lists/tensor shaped like the layer)
Thresh = Union[float, Sequence[Any], torch.Tensor]


def layer_thresholds(network: Network) -> dict[str, Thresh]:
    """Threshold of every spiking snnsim layer of ``network`` (integrators excluded): a float,
    or nested lists of per-neuron thresholds (JSON-ready) for a layer whose neurons differ."""
    return {
        name: param_json(layer.params.thresh)
        for name, layer in network.layers.items()
        if isinstance(layer, SpikingNodes) and layer.params.spiking
    }


def neuron_thresholds(thresh: Optional[Thresh], neurons: Sequence[int]) -> Optional[list[float]]:
    """The threshold of each of the flat neuron indices ``neurons``: ``thresh`` is one number
    or per-neuron values (indexed flat, as the traces are); None stays None."""
    if thresh is None:
        return None
    t = torch.as_tensor(thresh, dtype=torch.float64).reshape(-1)
    if t.numel() == 1:
        return [float(t[0])] * len(neurons)
    bad = [i for i in neurons if not 0 <= i < t.numel()]
    if bad:
        raise UserError(f"neurons {bad} have no threshold: {t.numel()} per-neuron thresholds given")
    return [float(t[i]) for i in neurons]


def pick_neurons(record: RecordLike, layer: str, sample: int = 0, max_neurons: int = 3) -> list[int]:
    """Default neurons to trace: all of a layer of <= 10 neurons, else the ``max_neurons``
    with the most spikes in ``sample`` (ties: highest peak potential, then lowest index;
    potentials only, without spikes: highest peak)."""
    record = as_record(record, what="voltages")
    v = record.voltages[layer][:, sample].reshape(record.timesteps, -1)
    n = v.shape[1]
    if n <= 10:
        return list(range(n))
    s = record.spikes.get(layer)
    counts = s[:, sample].reshape(record.timesteps, -1).sum(0).tolist() if s is not None else [0] * n
    peak = v.double().amax(0).tolist()
    order = sorted(range(n), key=lambda i: (-counts[i], -peak[i], i))
    return sorted(order[:max_neurons])


def trace_data(record: RecordLike, layer: str, neurons: Sequence[int], sample: int = 0) -> torch.Tensor:
    """Potentials ``[T, len(neurons)]`` of flat neuron indices ``neurons`` in ``sample``."""
    record = as_record(record, what="voltages")
    v = record.voltages[layer][:, sample].reshape(record.timesteps, -1)
    idx = [int(i) for i in neurons]
    bad = [i for i in idx if not 0 <= i < v.shape[1]]
    if bad:
        raise UserError(f"neurons {bad} out of range for layer {layer!r} with {v.shape[1]} neurons")
    return v[:, idx]


def plot_traces(
    record: RecordLike,
    layers: Optional[Union[str, Sequence[str]]] = None,
    neurons: Optional[Union[Sequence[int], dict[str, Sequence[int]]]] = None,
    sample: int = 0,
    *,
    thresh: Optional[Union[Thresh, dict[str, Thresh]]] = None,
    max_neurons: int = 3,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Membrane potential over time of chosen neurons, one panel per layer.

    Args:
        record: needs ``voltages`` of ``layers`` (default: every layer with voltages): a
            Record, or potentials alone as a dict layer -> / one tensor or array
            ``[T, B, ...]`` / ``[T, N]`` (with or without grad; see
            :func:`~analysis.plotting.as_record`).
        neurons: flat indices for every layer, or a dict layer -> indices (default
            :func:`pick_neurons`).
        thresh: threshold drawn as a dashed line: one value, or layer -> value (see
            :func:`layer_thresholds`); a layer's value may be per-neuron (nested lists or a
            tensor shaped like the layer): then each traced neuron's own threshold is drawn
            in its colour (gid ``"threshold:layer:i"``). None draws none. Spikes are marked
            with dots on the threshold.
    Each traced neuron is one ``Line2D`` whose y data are the recorded potentials
    (after the reset of each step) and whose label is ``"layer[i]"``.
    """
    record = as_record(record, what="voltages")
    if not record.voltages:
        raise UserError(
            "the record holds no membrane potentials; simulate with record_voltage=True "
            "(or record(..., variables=('s', 'v')))"
        )
    names = check_layers(list(record.voltages), layers, what="recorded with voltages")
    check_sample(record.voltages[names[0]], sample)
    fig = new_figure(9.0, 0.8 + 2.2 * len(names))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    dt = record.dt
    t_axis = torch.arange(record.timesteps, dtype=torch.float64) * dt
    for ax, name in zip(axes, names):
        idx = neurons.get(name) if isinstance(neurons, dict) else neurons
        idx = pick_neurons(record, name, sample, max_neurons) if idx is None else [int(i) for i in idx]
        v = trace_data(record, name, idx, sample)
        th = neuron_thresholds(thresh.get(name) if isinstance(thresh, dict) else thresh, idx)
        s = record.spikes[name][:, sample].reshape(record.timesteps, -1)[:, idx] if name in record.spikes else None
        for j, i in enumerate(idx):
            (line,) = ax.plot(t_axis.numpy(), v[:, j].numpy(), lw=1.0, label=f"{name}[{i}]", color=f"C{j % 10}")
            line.set_gid(f"trace:{name}:{i}")
            if s is not None and th is not None and bool(s[:, j].any()):
                ts = t_axis[s[:, j].bool()].numpy()
                ax.plot(
                    ts,
                    [th[j]] * len(ts),
                    linestyle="none",
                    marker="o",
                    ms=3,
                    color=line.get_color(),
                    gid=f"spikes:{name}:{i}",
                )
        _threshold_lines(ax, name, idx, th)
        ax.set_ylabel(f"{name}\npotential", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[-1].set_xlabel(time_label(dt))
    fig.suptitle(title or f"membrane potentials, sample {sample}", fontsize=10)
    save_figure(fig, path)
    return fig


def _threshold_lines(ax: Any, name: str, idx: Sequence[int], th: Optional[list[float]]) -> None:
    """One red dashed line (gid "threshold") when the traced neurons share a threshold, else a
    dashed line per neuron in its trace's colour (gid "threshold:layer:i")."""
    if not th:
        return
    if len(set(th)) == 1:
        ax.axhline(th[0], color="red", linestyle="--", lw=0.9, label="threshold", gid="threshold")
        return
    for j, i in enumerate(idx):
        ax.axhline(
            th[j],
            color=f"C{j % 10}",
            linestyle="--",
            lw=0.9,
            label=f"threshold {name}[{i}]",
            gid=f"threshold:{name}:{i}",
        )
