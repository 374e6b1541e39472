"""Bounded-memory BPTT: the fast engine's differentiable run in checkpointed segments of K steps.

``forward(network, x, segment=K)`` runs ``[T, B, ...]`` as ``ceil(T / K)`` segments, each under
:func:`torch.utils.checkpoint.checkpoint`: a segment keeps only its input slice and the
state it hands to the next one (``[B, ...]`` tensors per layer); its graph is rebuilt from them
during the backward pass. The gradients are those of full BPTT (exact: the same float
operations, only recomputed; the carried state passes them from one segment to the previous)
and the spikes are identical, at the cost of a second forward pass; autograd memory grows with
K instead of T. What stays O(T): the input, the spikes returned (hidden layers' as bool,
without gradient) and the potentials of ``record_voltage``.

State carried: each layer says what it is through the segment protocol of
:class:`~snnsim.core.nodes.SpikingNodes`: :meth:`~snnsim.core.nodes.SpikingNodes.segment_run`
runs a segment from the carried state and returns the next one, and
:meth:`~snnsim.core.nodes.SpikingNodes.segment_refusal` says why a layer cannot (None: it can).
Supported: snnsim IF/LIF/integrator/threshold layers (state: the potential, see
:func:`snnsim.core.dynamics.resume_current`) with per-step (temporal) surrogates, and
layers that implement the protocol themselves: FastSNN's ``peak_integrator`` read-out (the
``lif``/``fastsnn`` rules; state: the potential and its running maximum) and single-spike
``fastlif`` layers with ``grad="sequential"`` (state: the no-reset potential and whether each
neuron has fired; their values are bit-identical where the decay runs as the scan, ``method``
"scan" or "auto" on the CPU, and within its ~1e-7 relative with "matmul"/"fft").
Refused, with a one-line :class:`~snnsim.errors.UserError` saying why: recurrent cycles and
delayed connections, refractory or synaptic-current layers, surrogates that read whole spike
trains (spikebp's Lee pseudo-derivative), ``fastlif`` with the paper's ``grad="trick"`` (its
derivative at a step sums the gradients of all later steps up to the spike), BindsNET's own
node types and connections, and ops with state across steps or across the batch
(TemporalModule; BatchNorm in training mode: tdBN normalises over all T).
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

#: the state each layer hands to the next segment, in layer order (None: rest, before the first)
_Carry = list[Optional[tuple[torch.Tensor, ...]]]
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
    """Refuse (UserError) a network whose state across steps the segments cannot carry exactly."""
    plan = plan_network(network)
    if any(stage.recurrent for stage in plan.stages) or plan.delayed:
        raise UserError(
            "segmented BPTT needs a feed-forward network (no recurrent, lateral or backward connection): "
            "the layers of a cycle step together, not as layers of segments"
        )
    for name, layer in network.layers.items():
        if isinstance(layer, Input):
            continue
        if not isinstance(layer, SpikingNodes):
            raise UserError(
                f"segmented BPTT supports snnsim layers (SpikingNodes and its subclasses); layer {name!r} "
                f"is {type(layer).__name__}, whose state it cannot carry"
            )
        reason = layer.segment_refusal()
        if reason is not None:
            raise UserError(f"segmented BPTT: layer {name!r} ({type(layer).__name__}) {reason}")
    for (src, tgt), conn in network.connections.items():
        if not isinstance(conn, ModuleConnection):
            raise UserError(f"segmented BPTT supports snnsim connections; {src}->{tgt} is {type(conn).__name__}")
        for m in conn.modules():
            if isinstance(m, TemporalModule) or (isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training):
                raise UserError(
                    f"segmented BPTT: connection {src}->{tgt} has {type(m).__name__}, whose state spans "
                    "steps or batch statistics over all T (a segment sees K steps); put the network in "
                    "eval() or run whole"
                )


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

    def run(start: _Carry, *xs: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], _Carry]:
        """One segment: ((spikes of each layer, potentials of ``want``), the state of each layer after it)."""
        carry = dict(zip(names, start))
        rec = run_fast(network, dict(zip(inputs, xs)), want, carry=carry)
        spikes = [rec.spikes[n] if n in keep else rec.spikes[n].detach().bool() for n in names]
        return (*spikes, *(rec.voltages[n] for n in want)), [carry[n] for n in names]

    chunks: list[tuple[torch.Tensor, ...]] = []
    start: _Carry = [None] * len(names)
    for t0 in range(0, t_total, segment):
        xs = [feed[n][t0 : t0 + segment] for n in inputs]
        out, start = checkpoint(run, start, *xs, use_reentrant=False)
        chunks.append(out)
    joined = [torch.cat(parts) for parts in zip(*chunks)]
    spikes = {**{n: feed[n] for n in inputs}, **dict(zip(names, joined))}
    spikes = {n: spikes[n] for n in network.layers if n in spikes}
    volts = dict(zip(want, joined[len(names) :]))
    return Record(spikes, volts, float(network.dt), layer_kinds(network))
