"""Bounded-memory BPTT: the fast engine's differentiable run in checkpointed segments of K steps.

``forward(network, x, segment=K)`` runs ``[T, B, ...]`` as ``ceil(T / K)`` segments, each under
:func:`torch.utils.checkpoint.checkpoint`: a segment keeps only its input slice and the
potentials it hands to the next one (``[B, ...]`` per layer); its graph is rebuilt from them
during the backward pass. The gradients are those of full BPTT (exact: the same float
operations, only recomputed) and the spikes are identical, at the cost of a second forward pass;
autograd memory grows with K instead of T. What stays O(T): the input, the spikes returned
(hidden layers' as bool, without gradient) and the potentials of ``record_voltage``.

State carried: each layer's potential after its segment (:func:`snnsim.core.dynamics.resume_current`),
so only networks whose state is that are accepted: feed-forward (no cycle, no delayed
connection), snnsim IF/LIF/integrator layers without refractory period or synaptic current,
per-step (temporal) surrogates, and no op with state across steps or across the batch
(TemporalModule, BatchNorm in training mode: tdBN normalises over all T). The rest is refused
with a one-line :class:`~snnsim.errors.UserError`.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input
from torch.utils.checkpoint import checkpoint

from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import SpikingNodes
from snnsim.core.ops import TemporalModule
from snnsim.engine.fast import run_fast
from snnsim.engine.graph import plan_network
from snnsim.engine.record import Record, layer_kinds
from snnsim.errors import UserError, UserTypeError

_SEGMENT: ContextVar[Optional[int]] = ContextVar("snnsim_bptt_segment", default=None)


def check_segment(segment: object) -> Optional[int]:
    """``segment`` as given (None or an int >= 1), else a one-line UserError."""
    if segment is None:
        return None
    if isinstance(segment, bool) or not isinstance(segment, int):
        raise UserTypeError(f"segment must be an int >= 1 (steps) or None, got {segment!r}")
    if segment < 1:
        raise UserError(f"segment must be >= 1 (steps), got {segment}")
    return segment


@contextmanager
def bptt_segments(segment: Optional[int]) -> Iterator[None]:
    """Within the block, :func:`snnsim.engine.forward` calls that give no ``segment`` use this one
    (None: whole sequences). How the trainer passes ``TrainConfig.bptt_segment`` to the rules."""
    token = _SEGMENT.set(check_segment(segment))
    try:
        yield
    finally:
        _SEGMENT.reset(token)


def default_segment() -> Optional[int]:
    """The segment length set by the innermost :func:`bptt_segments` (None outside)."""
    return _SEGMENT.get()


def check_segmentable(network: Network) -> None:
    """Refuse (UserError) a network whose state across steps is more than its layers' potentials."""
    plan = plan_network(network)
    if any(stage.recurrent for stage in plan.stages) or plan.delayed:
        raise UserError("segmented BPTT needs a feed-forward network (no recurrent, lateral or backward connection)")
    for name, layer in network.layers.items():
        if isinstance(layer, Input):
            continue
        if not isinstance(layer, SpikingNodes) or type(layer).multi_step is not SpikingNodes.multi_step:
            raise UserError(f"segmented BPTT supports snnsim IF/LIF/integrator layers; layer {name!r} is "
                            f"{type(layer).__name__}")
        if layer.params.refrac or layer.params.syn_leak is not None:
            raise UserError(f"segmented BPTT cannot carry layer {name!r}'s refractory count or synaptic current")
        if layer.params.spiking and not layer.surrogate.temporal:
            raise UserError(f"segmented BPTT needs per-step surrogates; layer {name!r} has "
                            f"{type(layer.surrogate).__name__}, which reads whole spike trains")
    for (src, tgt), conn in network.connections.items():
        if not isinstance(conn, ModuleConnection):
            raise UserError(f"segmented BPTT supports snnsim connections; {src}->{tgt} is {type(conn).__name__}")
        for m in conn.modules():
            if isinstance(m, TemporalModule) or (isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training):
                raise UserError(f"segmented BPTT: connection {src}->{tgt} has {type(m).__name__}, whose state spans "
                                "steps or batch statistics over all T; put the network in eval() or run whole")


def segmented_forward(network: Network, feed: dict[str, torch.Tensor], want: list[str], segment: int) -> Record:
    """The differentiable fast run of ``feed`` (layer -> ``[T, B, ...]``) in checkpointed segments
    of ``segment`` steps. Returns a Record: spikes of every layer (the last layer's and those of
    ``want`` float with gradients, the other non-input layers' bool) and the potentials of ``want``."""
    check_segmentable(network)
    names = [n for n, layer in network.layers.items() if not isinstance(layer, Input)]
    want = [n for n in want if n in names]
    keep = set(want) | {names[-1]}
    inputs = sorted(feed)
    t_total = next(iter(feed.values())).shape[0]

    def run(start: list[Optional[torch.Tensor]], *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One segment: (spikes of each layer, potentials of ``want``, last potentials) flattened."""
        v0 = {n: v for n, v in zip(names, start) if v is not None}
        rec = run_fast(network, dict(zip(inputs, xs)), names, start=v0)
        spikes = [rec.spikes[n] if n in keep else rec.spikes[n].detach().bool() for n in names]
        # clone: a view of step -1 would keep the segment's whole [K, B, ...] potentials alive
        return (*spikes, *(rec.voltages[n] for n in want), *(rec.voltages[n][-1].clone() for n in names))

    chunks: list[tuple[torch.Tensor, ...]] = []
    start: list[Optional[torch.Tensor]] = [None] * len(names)
    for t0 in range(0, t_total, segment):
        xs = [feed[n][t0:t0 + segment] for n in inputs]
        out = checkpoint(run, start, *xs, use_reentrant=False)
        chunks.append(out[:len(names) + len(want)])
        start = list(out[len(names) + len(want):])
    joined = [torch.cat(parts) for parts in zip(*chunks)]
    spikes = {**{n: feed[n] for n in inputs}, **dict(zip(names, joined))}
    spikes = {n: spikes[n] for n in network.layers if n in spikes}
    volts = dict(zip(want, joined[len(names):]))
    return Record(spikes, volts, float(network.dt), layer_kinds(network))
