"""Sparsity and latency of TTFS networks.

Every TTFS neuron emits exactly one spike per sample, but a spike at the end of the
neuron's window (``t_i = t_max``: a neuron forced to fire because it never reached its
threshold, activation 0) carries no information: the next layer ignores it (it
arrives at that layer's ``t_min`` and adds ``W_ij (t_min - t_max) = 0``), and in
hardware it would not be sent. So:

- *informative spike*: ``t_i < t_max`` of the neuron's layer (activation > 0); for
  the input, ``t_j < 1`` (pixel > 0).
- ``spikes_per_neuron`` of a layer: informative spikes / (neurons x samples); the
  network figure is over all spiking layers, input included (``..._hidden``: without
  the input). The non-spiking read-out is excluded. This is the count in which the TTFS
  paper reports "fewer than 0.3 spikes per neuron".
- ``latency`` of a layer: mean of ``t_i - t_min`` over its informative spikes (time from
  the window opening to the first spike); ``mean_spike_time``: mean absolute ``t_i``.
- ``decision_time``: the read-out time (the read-out's ``t_min``).

:class:`SpikeStats` accumulates these over batches from exact forward results
(:func:`snnsim.methods.ttfs.ttfs_forward`) or from engine records; :func:`informative_spikes`
drops the forced spikes from simulated spike trains (for spike counts and SynOps);
:func:`spike_penalty` is the differentiable spike regulariser of training (``spike_reg``).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from bindsnet.network import Network

from snnsim.engine import Record
from snnsim.errors import UserError
from snnsim.methods.ttfs.chain import INPUT_T_MAX, hidden_layers, readout_time
from snnsim.methods.ttfs.exact import TTFSResult


class SpikeStats:
    """Running totals per layer: neurons x samples, informative spikes, latency sums."""

    def __init__(self) -> None:
        self.layers: dict[str, dict[str, float]] = {}
        self.windows: dict[str, tuple[float, float]] = {}
        self.samples = 0
        self.decision_time: Optional[float] = None

    def _add(
        self, name: str, t: torch.Tensor, t_min: float, t_max: float, fired: Optional[torch.Tensor] = None
    ) -> None:
        t = t.detach()
        early = t < torch.tensor(t_max, dtype=t.dtype)  # compare in t's dtype: t_max - 0 rounds there
        info = early if fired is None else fired & early
        t = t.double()
        acc = self.layers.setdefault(name, {"neuron_samples": 0.0, "spikes": 0.0, "latency_sum": 0.0, "time_sum": 0.0})
        acc["neuron_samples"] += t.numel()
        acc["spikes"] += float(info.sum())
        acc["latency_sum"] += float((t - t_min)[info].sum())
        acc["time_sum"] += float(t[info].sum())
        self.windows[name] = (float(t_min), float(t_max))

    def add_result(self, result: TTFSResult) -> None:
        """Add a batch of exact spike times."""
        batch = next(iter(result.times.values())).shape[0]
        for name, t in result.times.items():
            t_min, t_max = result.windows[name]
            self._add(name, t, t_min, t_max)
        self.samples += batch

    def add_record(self, network: Network, record: Record) -> None:
        """Add a batch simulated in discrete time (spike step x ``record.dt``)."""
        first_in = next(iter(network.layers))
        spans = {first_in: (0.0, INPUT_T_MAX)}
        spans.update({layer.name: (layer.node.t_min, layer.node.t_max) for layer in hidden_layers(network)})
        for name, (t_min, t_max) in spans.items():
            s = record.spikes[name] != 0
            fired = s.any(0)
            t = s.to(torch.uint8).argmax(0).double() * record.dt
            self._add(name, t, t_min, t_max, fired)
        self.samples += record.batch_size
        self.decision_time = readout_time(network)

    def summary(self, network: Optional[Network] = None) -> dict[str, Any]:
        """JSON-ready figures (see the module docstring)."""
        layers = {}
        tot = {"all": [0.0, 0.0], "hidden": [0.0, 0.0]}
        for i, (name, acc) in enumerate(self.layers.items()):
            n, k = acc["neuron_samples"], acc["spikes"]
            layers[name] = {
                "neurons": int(round(n / max(self.samples, 1))),
                "spikes_per_neuron": k / n if n else 0.0,
                "latency": acc["latency_sum"] / k if k else None,
                "mean_spike_time": acc["time_sum"] / k if k else None,
                "window": list(self.windows[name]),
            }
            for key in ("all", "hidden") if i > 0 else ("all",):
                tot[key][0] += k
                tot[key][1] += n
        decision = readout_time(network) if network is not None else self.decision_time
        return {
            "samples": self.samples,
            "spikes_per_neuron": tot["all"][0] / tot["all"][1] if tot["all"][1] else 0.0,
            "spikes_per_neuron_hidden": tot["hidden"][0] / tot["hidden"][1] if tot["hidden"][1] else 0.0,
            "decision_time": decision,
            "layers": layers,
        }


def informative_spikes(
    network: Network, spikes: dict[str, torch.Tensor], dt: Optional[float] = None
) -> dict[str, torch.Tensor]:
    """The informative part of simulated spike trains: spikes at step k with
    ``k * dt < t_max`` of their layer (input: ``t_max = 1``, i.e. pixel > 0); the forced
    spikes at or after ``t_max`` are zeroed. ``spikes``: layer -> ``[T, B, *shape]``
    (other layers, e.g. the read-out, pass unchanged); ``dt`` defaults to ``network.dt``.
    Returns a new dict (changed tensors are copies)."""
    dt = float(network.dt if dt is None else dt)
    spans = {next(iter(network.layers)): INPUT_T_MAX}
    spans.update({layer.name: layer.node.t_max for layer in hidden_layers(network)})
    out = dict(spikes)
    for name, t_max in spans.items():
        s = spikes.get(name)
        if s is None:
            continue
        # step k is time k * dt, compared in float64 as the nodes do (ttfs_step: t >= t_max fires)
        late = torch.arange(s.shape[0], dtype=torch.float64) * dt >= t_max
        first_late = int(late.to(torch.uint8).argmax()) if bool(late.any()) else s.shape[0]
        if first_late < s.shape[0]:
            s = s.clone()
            s[first_late:] = 0
        out[name] = s
    return out


def spike_penalty(result: TTFSResult) -> torch.Tensor:
    """Mean ReLU activation ``t_max - t_i`` over every hidden neuron and sample of an exact
    forward ``result`` (scalar, differentiable; the input layer excluded).

    Only neurons with activation > 0 (those that send an informative spike) contribute,
    and the gradient pushes each of them towards 0, i.e. towards the forced spike at
    ``t_max`` that is not sent: an L1 activity penalty, the differentiable stand-in for
    the number of informative spikes (Stanojevic et al. 2024 train towards fewer spikes)."""
    names = list(result.times)[1:]  # the first entry is the input layer
    if not names:
        raise UserError("the result has no hidden layer to penalise")
    total = sum(result.activations(name).sum() for name in names)
    count = sum(result.times[name].numel() for name in names)
    return total / count


def spike_metrics(result: TTFSResult, network: Optional[Network] = None) -> dict[str, Any]:
    """:class:`SpikeStats` summary of one exact forward result."""
    stats = SpikeStats()
    stats.add_result(result)
    return stats.summary(network)
