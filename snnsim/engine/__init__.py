"""Two engines over the same BindsNET Network.

- ``"bindsnet"``: BindsNET's ``Network.run`` step by step (the reference simulator).
- ``"fast"``: layer-wise multi-step execution over ``[T, B, ...]`` tensors.

Timing convention (both engines): ``one_step=True``: the spikes that a layer emits at
step t drive every later layer (in the network's layer order) at the same step t, so a
feed-forward network has no per-layer delay; a connection to the layer itself or to an
earlier layer (recurrent, lateral, backward) delivers them at step t + 1. On the same input
the two engines give identical spikes.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Union

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from snnsim.core.checks import check_finite, network_tensors
from snnsim.engine.fast import run_fast
from snnsim.engine.plastic import is_plastic, present, run_plastic
from snnsim.engine.record import Record
from snnsim.engine.reference import run_bindsnet
from snnsim.engine.segments import bptt_segments, check_segment, default_segment, segmented_forward
from snnsim.engine.stock import check_supported, learning_mode
from snnsim.errors import UserError, UserTypeError
from snnsim.names import ENGINES  # noqa: E402  (the one list, light for the CLI)

#: Attribute of a Network holding active recorders: objects with a ``voltage_layers``
#: collection (potentials they need) that are called with every :class:`Record`
#: that :func:`simulate` produces (see ``analysis.recording``).
RECORDERS_ATTR = "_snnsim_recorders"


def input_layers(network: Network) -> list[str]:
    """Names of the BindsNET ``Input`` layers of ``network``, in order."""
    return [name for name, layer in network.layers.items() if isinstance(layer, Input)]


def _all_finite(x: torch.Tensor) -> bool:
    """Whether ``x`` has no NaN/inf. A finite sum (one cheap reduction, no bool temporary)
    proves it; only a non-finite sum (which overflow can also cause) needs the full check."""
    with torch.no_grad():
        return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _as_input_dict(network: Network, inputs: Union[torch.Tensor, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if not isinstance(network, Network):
        raise UserTypeError(f"network must be a bindsnet Network, got {type(network).__name__}")
    if isinstance(inputs, torch.Tensor):
        names = input_layers(network)
        if len(names) != 1:
            raise UserError(f"the network has {len(names)} input layers {names}; pass a dict layer name -> tensor")
        inputs = {names[0]: inputs}
    if not isinstance(inputs, dict) or not inputs:
        raise UserTypeError(
            f"inputs must be a tensor [T, B, *shape] or a non-empty dict of them, got {type(inputs).__name__}"
        )
    lead = None
    for name, x in inputs.items():
        if name not in network.layers:
            raise UserError(f"input given for unknown layer {name!r}; layers: {list(network.layers)}")
        if not isinstance(x, torch.Tensor):
            raise UserTypeError(f"input for layer {name!r} must be a torch.Tensor, got {type(x).__name__}")
        if x.is_complex() or x.device.type == "meta":
            raise UserTypeError(
                f"input for layer {name!r} must be a real tensor with data (bool, int or float), "
                f"got {x.dtype} on {x.device}"
            )
        shape = list(network.layers[name].shape)
        if x.dim() < 3 or list(x.shape[2:]) != shape and math.prod(x.shape[2:]) != network.layers[name].n:
            raise UserError(
                f"input for layer {name!r} must have shape [T, B, {', '.join(map(str, shape))}], got {list(x.shape)}"
            )
        if x.is_floating_point() and not _all_finite(x):
            raise UserError(f"input for layer {name!r} contains NaN or inf")
        if lead is None:
            lead = x.shape[:2]
        elif x.shape[:2] != lead:
            raise UserError(f"all inputs need the same [T, B]; got {list(lead)} and {list(x.shape[:2])}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise UserError(f"input for layer {name!r} has an empty time or batch dimension: {list(x.shape)}")
    return {k: v.reshape(*v.shape[:2], *network.layers[k].shape) for k, v in inputs.items()}


def simulate(
    network: Network,
    inputs: Union[torch.Tensor, dict[str, torch.Tensor]],
    *,
    engine: str = "fast",
    record_voltage: Union[bool, Iterable[str]] = False,
    learning: bool = False,
    reward: Optional[Union[float, torch.Tensor]] = None,
) -> Record:
    """Run ``network`` on ``inputs`` and return a :class:`Record` of all layers' spikes.

    Args:
        inputs: ``[T, B, *input_shape]`` for the single input layer, or a dict
            layer name -> tensor. Bool/0-1 spikes or float currents.
        engine: "fast" or "bindsnet".
        record_voltage: True for all layers, or names of layers whose potentials to keep.
        learning: BindsNET learning during the run (``network.learning`` and the layers'
            ``learning``; see :func:`snnsim.engine.stock.learning_mode`). False (default): no
            learning rule runs, adaptive thresholds stay fixed, and no weight changes. True:
            what ``Network.run`` does while learning: both engines apply the connections' rules
            step by step and normalise the weights after the run; the "fast" engine does it
            event-driven (:mod:`snnsim.engine.plastic`) and refuses, naming it, a rule it does
            not implement.
        reward: the reward of ``MSTDP``/``MSTDPET`` (``Network.run``'s ``reward`` keyword), a
            number or tensor, the same at every step of the run.
    """
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {ENGINES}, got {engine!r}")
    feed = _as_input_dict(network, inputs)
    check_finite(network_tensors(network), "cannot simulate the network")
    if record_voltage is True:
        want = [n for n, layer in network.layers.items() if not isinstance(layer, Input)]
    elif record_voltage is False:
        want = []
    else:
        try:
            want = [record_voltage] if isinstance(record_voltage, str) else list(record_voltage)
        except TypeError:
            raise UserTypeError(f"record_voltage must be True, False or layer names, got {record_voltage!r}") from None
        unknown = [n for n in want if n not in network.layers]
        if unknown:
            raise UserError(f"record_voltage names unknown layers {unknown}; layers: {list(network.layers)}")
    recorders = list(network.__dict__.get(RECORDERS_ATTR, ()))
    for rec in recorders:
        want += [n for n in rec.voltage_layers if n not in want]
    with torch.no_grad(), learning_mode(network, learning):
        if engine == "fast" and is_plastic(network):
            record = run_plastic(network, feed, want, reward)
        elif engine == "fast":
            record = run_fast(network, feed, want)
        else:
            record = run_bindsnet(network, feed, want, reward)
    for rec in recorders:
        rec(record)
    return record


def forward(
    network: Network,
    inputs: Union[torch.Tensor, dict[str, torch.Tensor]],
    *,
    record_voltage: Optional[Iterable[str]] = None,
    segment: Optional[int] = None,
) -> Record:
    """Differentiable run in the fast engine (autograd stays on): spikes of spiking
    layers are float 0/1 tensors carrying surrogate gradients (see
    :mod:`snnsim.core.autograd`), and the potentials of every non-input layer are returned.
    Under ``torch.no_grad()`` it is an ordinary fast run that keeps the potentials of
    ``record_voltage`` (default: the last layer). Used by the learning rules.
    Recurrent networks are differentiated through time: the layers of a cycle step with
    :func:`snnsim.core.dynamics.neuron_step` and their layer's (per-step) surrogate. BindsNET
    learning is as ``network.learning`` says (stock connections with rules are refused while on).

    ``segment``: bounded-memory BPTT (default: that of an enclosing :func:`bptt_segments`, else
    None, whole sequences): with autograd on and ``T > segment``, the run goes in checkpointed
    segments of ``segment`` steps (:mod:`snnsim.engine.segments`): exact gradients and identical
    spikes, autograd memory in O(segment) instead of O(T), one extra forward pass; only the
    potentials of ``record_voltage`` are returned, and only the last layer's and their spikes
    carry gradients (the other layers' are bool). Feed-forward networks whose layers carry their
    state (IF/LIF, FastSNN's peak read-out, ...; :mod:`snnsim.engine.segments` lists them)."""
    feed = _as_input_dict(network, inputs)
    want = [list(network.layers)[-1]] if record_voltage is None else list(record_voltage)
    segment = check_segment(segment) if segment is not None else default_segment()
    if segment is not None and torch.is_grad_enabled() and next(iter(feed.values())).shape[0] > segment:
        return segmented_forward(network, feed, want, segment)
    return run_fast(network, feed, want)


__all__ = [
    "ENGINES",
    "bptt_segments",
    "forward",
    "RECORDERS_ATTR",
    "Record",
    "simulate",
    "run_fast",
    "run_bindsnet",
    "check_supported",
    "input_layers",
    "learning_mode",
    "present",
    "run_plastic",
]
