"""Engine ``fast``: layer-wise multi-step simulation of a BindsNET Network.

For each layer in the network's order, the input currents of all ``T`` steps are
computed at once (one matmul/conv per connection over ``[T * B, ...]``), then the
neuron recurrence runs over ``T``. Timing convention: the same as BindsNET's
``Network.run(..., one_step=True)``: a spike emitted at step t reaches every
downstream layer at step t (no per-layer delay). Feed-forward networks only.
"""
from __future__ import annotations

from typing import Iterable

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from ..connections import ModuleConnection
from ..nodes import SpikingNodes
from .record import Record, layer_kinds
from ..errors import UserError, UserTypeError


def check_feedforward(network: Network) -> None:
    """Raise ValueError if a connection goes backwards (recurrent) or is not supported."""
    pos = {name: i for i, name in enumerate(network.layers)}
    for (src, tgt), conn in network.connections.items():
        if pos[src] >= pos[tgt]:
            raise UserError(
                f"the fast engine runs feed-forward networks only; connection {src}->{tgt} "
                "goes backwards or to itself (use engine='bindsnet')"
            )
        if not isinstance(conn, ModuleConnection):
            raise UserTypeError(
                f"connection {src}->{tgt} is a {type(conn).__name__}; the fast engine needs "
                "snnsim ModuleConnection objects (use engine='bindsnet' for other connections)"
            )
    for name, layer in network.layers.items():
        if not isinstance(layer, (SpikingNodes, Input)):
            raise UserTypeError(
                f"layer {name!r} is a {type(layer).__name__}; the fast engine needs snnsim node "
                "classes (IFNeurons, LIFNeurons, Integrator) or bindsnet Input"
            )


def run_fast(
    network: Network, inputs: dict[str, torch.Tensor], record_voltage: Iterable[str] = ()
) -> Record:
    """Simulate ``network`` on ``inputs`` (layer name -> ``[T, B, *shape]``)."""
    check_feedforward(network)
    want_v = set(record_voltage)
    spikes: dict[str, torch.Tensor] = {}
    volts: dict[str, torch.Tensor] = {}
    incoming: dict[str, list[tuple[str, ModuleConnection]]] = {name: [] for name in network.layers}
    for (src, tgt), conn in network.connections.items():
        incoming[tgt].append((src, conn))
    t, b = next(iter(inputs.values())).shape[:2]
    for name, layer in network.layers.items():
        if isinstance(layer, Input):
            if name not in inputs:
                raise UserError(f"no input given for input layer {name!r}")
            spikes[name] = inputs[name]
            continue
        current = None
        for src, conn in incoming[name]:
            c = conn.compute_multi(spikes[src])
            current = c if current is None else current + c
        if name in inputs:
            current = inputs[name] if current is None else current + inputs[name]
        if current is None:
            current = torch.zeros(t, b, *layer.shape, device=layer.v.device)
        s, v = layer.multi_step(current, record_voltage=name in want_v)
        spikes[name] = s
        if v is not None:
            volts[name] = v
    return Record(spikes, volts, float(network.dt), layer_kinds(network))
