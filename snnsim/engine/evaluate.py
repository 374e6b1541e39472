"""Evaluate a spiking Network on a dataset split: encode, simulate in batches, read out."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch
from bindsnet.network import Network

from snnsim.core.nodes import layer_kind
from snnsim.data.datasets import Split
from snnsim.engine import Record, input_layers, run_bindsnet, run_fast, simulate
from snnsim.errors import UserError
from snnsim.limits import check_allocation, simulation_bytes
from snnsim.native.events import column_counts
from snnsim.progress import progress_bar

Encoder = Callable[[torch.Tensor, int], torch.Tensor]
#: layer -> spikes ``[T, B, *shape]`` to the spikes that count (e.g. ``LearningRule.informative_spikes``)
SpikeFilter = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def output_layer(network: Network) -> str:
    """The last layer of ``network`` (the read-out)."""
    return list(network.layers)[-1]


def log_steps(timesteps: int, n: int = 12) -> list[int]:
    """About ``n`` log-spaced step counts from 1 to ``timesteps`` (both included)."""
    if timesteps < 1:
        raise UserError(f"timesteps must be >= 1, got {timesteps}")
    pts = {max(1, round(timesteps ** (i / max(n - 1, 1)))) for i in range(n)}
    return sorted(pts | {timesteps})


def first_step_reaching(curve: dict[int, float], level: float) -> Optional[int]:
    """The first step of ``curve`` (step -> accuracy) whose accuracy is >= ``level``
    (None if none is)."""
    for step in sorted(curve):
        if curve[step] >= level - 1e-12:
            return step
    return None


@dataclass
class Evaluation:
    """What :func:`evaluate` measured."""

    accuracy: float
    samples: int
    seconds: float
    spikes_per_neuron: dict[str, float]
    accuracy_vs_time: dict[int, float] = field(default_factory=dict)
    first_batch: Optional[Record] = None
    first_labels: Optional[torch.Tensor] = None
    neuron_counts: dict[str, torch.Tensor] = field(default_factory=dict)  # total spikes per neuron [*shape]
    readout: str = "spikes"
    predictions: Optional[torch.Tensor] = None  # [N] at the last step
    labels: Optional[torch.Tensor] = None  # [N]
    #: every spike the simulation emitted, per neuron and sample (``spikes_per_neuron`` and
    #: ``neuron_counts`` count only what ``spike_filter`` kept; equal without one)
    emitted_spikes_per_neuron: dict[str, float] = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else math.inf


def _predictions_over_time(record: Record, out: str, readout: str, steps: Sequence[int]) -> torch.Tensor:
    """``[len(steps), B]`` predictions using only the first t steps, for t in ``steps``."""
    if readout == "voltage":
        v = record.voltages[out].reshape(record.timesteps, record.batch_size, -1)
        return torch.stack([v[t - 1].argmax(1) for t in steps])
    c = record.spikes[out].reshape(record.timesteps, record.batch_size, -1).cumsum(0)
    return torch.stack([c[t - 1].argmax(1) for t in steps])


def _neuron_counts(spikes: torch.Tensor) -> torch.Tensor:
    """``spikes [T, B, *shape]`` -> ``[*shape]`` int64: each neuron's spikes over steps and samples."""
    shape = spikes.shape[2:]
    return column_counts(spikes.reshape(-1, math.prod(shape))).reshape(shape).cpu()


def _per_neuron(counts: torch.Tensor) -> float:
    """Total spikes / neurons: the batch's sum of each sample's spikes per neuron."""
    return float(counts.sum()) / max(counts.numel(), 1)


def _rerun(network: Network, inputs: torch.Tensor, engine: str) -> Record:
    """Simulate again with every potential kept, bypassing the recorders of ``simulate``
    (these inputs were already recorded once)."""
    name = input_layers(network)[0]
    want = [n for n in network.layers if n != name]
    with torch.no_grad():
        run = run_fast if engine == "fast" else run_bindsnet
        return run(network, {name: inputs.reshape(*inputs.shape[:2], *network.layers[name].shape)}, want)


def _readout_and_steps(
    network: Network, readout: str, steps: Optional[Sequence[int]], timesteps: int
) -> tuple[str, list[int]]:
    """The checked read-out ("auto" resolved by the output layer's kind) and sorted step
    counts at which to measure accuracy, ending at ``timesteps``."""
    if readout == "auto":
        readout = "voltage" if layer_kind(network.layers[output_layer(network)]) == "integrator" else "spikes"
    if readout not in ("spikes", "voltage"):
        raise UserError(f"readout must be 'spikes', 'voltage' or 'auto', got {readout!r}")
    steps = sorted(set(steps)) if steps is not None else log_steps(timesteps)
    if steps[0] < 1 or steps[-1] > timesteps:
        raise UserError(f"steps must lie in [1, {timesteps}], got {steps}")
    if steps[-1] != timesteps:
        steps.append(timesteps)
    return readout, steps


@dataclass
class _Tally:
    """Running sums of :func:`evaluate` over batches."""

    steps: list[int]
    correct: int = 0
    correct_t: torch.Tensor = field(init=False)  # [len(steps)] correct predictions at each step count
    spike_sums: dict[str, float] = field(default_factory=dict)
    emitted_sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, torch.Tensor] = field(default_factory=dict)
    preds: list[torch.Tensor] = field(default_factory=list)
    labels: list[torch.Tensor] = field(default_factory=list)
    first: Optional[Record] = None
    first_labels: Optional[torch.Tensor] = None
    seconds: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.correct_t = torch.zeros(len(self.steps), dtype=torch.long)

    def add(self, record: Record, pred_t: torch.Tensor, y: torch.Tensor, spike_filter: Optional[SpikeFilter]) -> None:
        """Count one batch: ``pred_t [len(steps), B]``, labels ``y [B]``, the record's spikes."""
        self.correct_t += (pred_t == y.unsqueeze(0)).sum(1).cpu()
        self.correct += int((pred_t[-1] == y).sum())  # steps[-1] == timesteps (checked above)
        self.preds.append(pred_t[-1].cpu())
        self.labels.append(y.cpu())
        emitted = {name: _neuron_counts(s) for name, s in record.spikes.items()}  # [*shape] each
        for name, c in emitted.items():
            self.emitted_sums[name] = self.emitted_sums.get(name, 0.0) + _per_neuron(c)
        kept = spike_filter(record.spikes) if spike_filter is not None else record.spikes
        for name, s in kept.items():
            per_neuron = emitted[name] if s is record.spikes.get(name) else _neuron_counts(s)
            self.counts[name] = self.counts[name] + per_neuron if name in self.counts else per_neuron
            self.spike_sums[name] = self.spike_sums.get(name, 0.0) + _per_neuron(per_neuron)
        self.n += y.shape[0]

    def result(self, readout: str) -> Evaluation:
        """The :class:`Evaluation` of every batch counted."""
        n = self.n
        if n == 0:
            raise UserError("the split is empty")
        return Evaluation(
            accuracy=self.correct / n,
            samples=n,
            seconds=self.seconds,
            spikes_per_neuron={k: v / n for k, v in self.spike_sums.items()},
            emitted_spikes_per_neuron={k: v / n for k, v in self.emitted_sums.items()},
            accuracy_vs_time={t: float(c) / n for t, c in zip(self.steps, self.correct_t.tolist())},
            first_batch=self.first,
            first_labels=self.first_labels,
            neuron_counts=self.counts,
            readout=readout,
            predictions=torch.cat(self.preds),
            labels=torch.cat(self.labels),
        )


def evaluate(
    network: Network,
    split: Split,
    encoder: Encoder,
    timesteps: int,
    *,
    engine: str = "fast",
    batch_size: int = 100,
    readout: str = "auto",
    steps: Optional[Sequence[int]] = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    keep_first_batch: int = 0,
    spike_filter: Optional[SpikeFilter] = None,
) -> Evaluation:
    """Simulate ``network`` on every sample of ``split``.

    Args:
        encoder: ``f(x [B, C, H, W], T) -> [T, B, C, H, W]``.
        readout: "spikes" (argmax of output spike counts), "voltage" (argmax of the
            final output potential) or "auto" (what the output layer's kind calls for:
            voltage for a non-spiking integrator, spikes otherwise; see ``Record.predict``).
        steps: step counts at which to also measure accuracy (default: log-spaced).
        keep_first_batch: keep the record of this many samples of the first batch
            (all layers' spikes and potentials) for plots.
        spike_filter: keeps the spikes that ``spikes_per_neuron`` and ``neuron_counts``
            count (e.g. informative TTFS spikes); the read-out and ``first_batch`` use all.
    Returns an :class:`Evaluation`; accuracy in [0, 1].
    """
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    out = output_layer(network)
    readout, steps = _readout_and_steps(network, readout, steps, timesteps)
    n_batch = min(batch_size, len(split))
    check_allocation(
        simulation_bytes([layer.shape for layer in network.layers.values()], timesteps, n_batch),
        f"simulating {timesteps} steps of {n_batch} samples",
    )
    network.to(device)
    network.train(False)  # dropout off, BatchNorm on running statistics
    tally = _Tally(steps)
    bar = progress_bar(len(split), f"simulate[{engine}]", "sample", progress)
    for x, y in split.batches(batch_size):
        x, y = x.to(device), y.to(device)
        t0 = time.perf_counter()
        inputs = encoder(x, timesteps)
        record = simulate(network, inputs, engine=engine, record_voltage=[out] if readout == "voltage" else False)
        pred_t = _predictions_over_time(record, out, readout, steps)
        tally.seconds += time.perf_counter() - t0
        tally.add(record, pred_t, y, spike_filter)
        if keep_first_batch and tally.first is None:
            # the same inputs again for the first k samples only, with every potential kept
            k = min(keep_first_batch, x.shape[0])
            tally.first = _rerun(network, inputs[:, :k], engine).to("cpu")
            tally.first_labels = y[:k].cpu()
        bar.update(x.shape[0])
    bar.close()
    return tally.result(readout)
