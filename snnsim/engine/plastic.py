"""Plastic runs in the fast engine: BindsNET's learning, step by step, at ``Network.run`` semantics.

With learning on and a connection whose rule changes weights (:mod:`.rules`), the weights change
at every step, so the whole network steps through time together, as ``Network.run(one_step=True)``
does: at each step every layer in network order gets the sum of its incoming connections' currents
(connections in network order; an earlier layer's spikes of this step, the layer's own and later
layers' of the previous step) and steps with its own ``forward`` (BindsNET's node dynamics, traces,
adaptive thresholds and Diehl & Cook's one-spike choice, which draws from torch's generator exactly
as ``Network.run`` does); then every learning connection applies its rule; after the last step each
connection's ``normalize`` runs (``norm``). A layer's input tensor is replaced by its incoming
connections' currents where it has some (as in ``Network.run``).

The current of a connection from spiking neurons is an event-driven sum over the rows of the active
inputs, in ascending order: for batch size 1 that is bit-identical to the dense matmul (MKL's
order, checked by the tests); for a batch the sums round differently (float32). The step loop of
a Diehl & Cook-like network runs in C (:mod:`snnsim.native.plastic`) where the kernel applies.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Union

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input
from bindsnet.network.topology import Connection, MulticompartmentConnection

from snnsim.engine import rules
from snnsim.engine.record import Record, layer_kinds
from snnsim.engine.stock import is_stock_layer
from snnsim.errors import UserError, UserTypeError
from snnsim.native import events
from snnsim.native import plastic as native_plastic

Reward = Union[float, int, torch.Tensor, None]


def plastic_connections(network: Network) -> list[rules.Plastic]:
    """The connections whose rule changes weights while learning, in network order (raises
    :class:`UserError` with one line for a rule, reduction or connection the fast engine cannot apply)."""
    out = []
    for key, conn in network.connections.items():
        if type(conn) is Connection:
            if _quiet(conn):
                if conn.norm is not None and conn.w.is_sparse:
                    raise UserError(f"connection {key[0]}->{key[1]}: norm on a sparse weight matrix is not supported")
                continue
            p = rules.from_connection(key, conn)
        elif type(conn) is MulticompartmentConnection:
            p = rules.from_multicompartment(key, conn)
            if p is None:
                continue
        else:
            if getattr(conn, "norm", None) is not None or _has_rule(conn):
                raise UserError(
                    f"connection {key[0]}->{key[1]} is a {type(conn).__name__} with a learning rule or "
                    "norm; the fast engine learns on dense Connection / MulticompartmentConnection only"
                )
            continue
        for side, layer in (("source", key[0]), ("target", key[1])):
            node = network.layers[layer]
            if not (isinstance(node, Input) or is_stock_layer(node)):
                raise UserError(
                    f"connection {key[0]}->{key[1]} has the learning rule {type(p.rule).__name__} but its "
                    f"{side} {layer!r} is a {type(node).__name__}, which the fast engine cannot step with "
                    "learning; use stock BindsNET nodes or engine='bindsnet'"
                )
            if p.kind not in ("noop", "mstdp", "mstdpet") and not getattr(node, "traces", False):
                raise UserError(
                    f"connection {key[0]}->{key[1]}: {type(p.rule).__name__} needs spike traces on its "
                    f"{side} layer {layer!r} (traces=True)"
                )
        out.append(p)
    return out


def _quiet(conn: Connection) -> bool:
    """A ``Connection`` whose rule changes nothing: a NoOp without weight decay."""
    rule = conn.update_rule
    return type(rule).__name__ == "NoOp" and float(getattr(rule, "weight_decay", 1.0)) == 1.0


def _has_rule(conn: Any) -> bool:
    rule = getattr(conn, "update_rule", None)
    return rule is not None and type(rule).__name__ != "NoOp"


def is_plastic(network: Network) -> bool:
    """Whether a learning run of ``network`` changes weights (some connection has an active rule)."""
    return bool(network.learning) and bool(plastic_connections(network))


def check_plastic(network: Network, plastic: list[rules.Plastic], reward: Reward) -> None:
    """Refuse what a plastic fast run cannot do exactly as ``Network.run``, with one line."""
    for name, layer in network.layers.items():
        if not (isinstance(layer, Input) or is_stock_layer(layer)):
            raise UserError(
                f"layer {name!r} is a {type(layer).__name__}; a fast run with BindsNET learning steps "
                "stock BindsNET nodes and Input only (use engine='bindsnet')"
            )
    if getattr(network, "reward_fn", None) is not None:
        raise UserError("the network has a reward_fn; the fast engine takes the reward as simulate(..., reward=...)")
    for p in plastic:
        if p.needs_reward and reward is None:
            raise UserError(
                f"connection {p.key[0]}->{p.key[1]} learns with {type(p.rule).__name__}, which needs a "
                "reward: pass simulate(..., reward=...)"
            )
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, (int, float, torch.Tensor)):
            raise UserTypeError(f"reward must be a number or a tensor, got {type(reward).__name__}")
        if isinstance(reward, torch.Tensor) and not bool(torch.isfinite(reward).all()):
            raise UserError("reward contains NaN or inf")
        if isinstance(reward, float) and not math.isfinite(reward):
            raise UserError(f"reward must be finite, got {reward}")


def _compute(conn: Any, s: torch.Tensor, batch: int) -> torch.Tensor:
    """Current of ``conn`` for spikes ``s`` ``[B, *source]``: event-driven for bool spikes."""
    flat = s.reshape(batch, -1)
    w = conn.w if type(conn) is Connection else _mcc_weight(conn)
    out = None
    if w is not None and flat.dtype == torch.bool:
        out = native_plastic.event_current(flat, w)
        if out is None and events.native_usable(flat, w):
            out = events.bag_sum(flat, w)[0]
    if out is None:
        return conn.compute(s)
    if type(conn) is Connection and conn.b is not None:
        out = out + conn.b
    return out.view(batch, *conn.target.shape)


def _mcc_weight(conn: MulticompartmentConnection) -> Optional[torch.Tensor]:
    """The weight of a one-``Weight`` multicompartment connection (its whole fold), else None."""
    feats = list(conn.pipeline)
    if (
        len(feats) == 1
        and type(feats[0]).__name__ == "Weight"
        and not feats[0].sparse
        and not feats[0].enforce_polarity
        and getattr(feats[0], "norm_frequency", "sample") == "sample"
    ):
        return feats[0].value
    return None


class _Stepper:
    """The per-step loop of a plastic run (torch; stock nodes step with their own ``forward``)."""

    def __init__(self, network: Network, inputs: dict[str, torch.Tensor], plastic: list[rules.Plastic]) -> None:
        self.net, self.inputs, self.plastic = network, inputs, plastic
        self.t, self.b = next(iter(inputs.values())).shape[:2]
        order = list(network.layers)
        self.incoming: dict[str, list[tuple[str, Any]]] = {n: [] for n in order}
        for (src, tgt), conn in network.connections.items():
            self.incoming[tgt].append((src, conn))

    def step(self, t: int, reward: Reward, learn: bool = True) -> None:
        for name, layer in self.net.layers.items():
            x = self.inputs[name][t] if name in self.inputs else None
            if x is not None and not isinstance(layer, Input):
                x = x.clone()  # LIFNodes masks its input in place
            if self.incoming[name]:
                x = None
                for src, conn in self.incoming[name]:
                    c = _compute(conn, self.net.layers[src].s, self.b)
                    x = c if x is None else x + c
            if x is None:
                x = torch.zeros(layer.s.shape)
            layer.forward(x=x)
        for p in self.plastic if learn else ():
            rules.update(p, self.b, reward)


def _prepare(network: Network, batch: int) -> None:
    """Batch size and reset as before ``Network.run`` in the reference engine."""
    if network.batch_size != batch:
        network.batch_size = batch
        for layer in network.layers.values():
            layer.set_batch_size(batch)
    network.reset_state_variables()


def _finish(network: Network) -> None:
    for layer in network.layers.values():  # Input keeps a view of the caller's last step
        layer.s = torch.zeros_like(layer.s)
    network.reset_state_variables()


def check_weights(plastic: list[rules.Plastic]) -> None:
    """One line for a learning connection whose weights are no longer finite."""
    for p in plastic:
        if not bool(torch.isfinite(p.w.sum())) and not bool(torch.isfinite(p.w).all()):
            raise UserError(
                f"connection {p.key[0]}->{p.key[1]}: the weights became NaN or inf during learning "
                f"({type(p.rule).__name__}); lower nu or bound them with wmin/wmax"
            )


def run_plastic(
    network: Network,
    inputs: dict[str, torch.Tensor],
    record_voltage: Iterable[str] = (),
    reward: Reward = None,
    learn: bool = True,
) -> Record:
    """A fast run of ``network`` with its learning rules on (inputs ``[T, B, *shape]`` per input layer).
    ``learn=False``: the same step loop (the C kernel where it applies) with no rule applied, for a
    network run under ``learning_mode(network, False)`` (fixed thresholds, no normalize)."""
    plastic = plastic_connections(network)
    check_plastic(network, plastic, reward if learn else 0.0)
    want_v = set(record_voltage)
    t, b = next(iter(inputs.values())).shape[:2]
    kernel = native_plastic.kernel_for(network, plastic, inputs, bool(want_v), learn)
    spikes = {
        n: torch.zeros(t, b, *layer.shape, dtype=torch.bool)
        for n, layer in network.layers.items()
        if not (isinstance(layer, Input) and n in inputs)
    }
    volts = {n: torch.zeros(t, b, *network.layers[n].shape) for n in want_v}
    _prepare(network, b)
    for p in plastic:
        p.first, p.last = True, None
    try:
        if kernel is not None:
            kernel.run(spikes, volts)
        else:
            stepper = _Stepper(network, inputs, plastic)
            for i in range(t):
                stepper.step(i, reward, learn)
                for n in spikes:
                    spikes[n][i] = network.layers[n].s
                for n in volts:
                    volts[n][i] = network.layers[n].v
        for p in plastic:
            rules.finish(p)
        for conn in network.connections.values():
            conn.normalize()
    finally:
        _finish(network)
    check_weights(plastic)
    record = {n: spikes[n] if n in spikes else inputs[n] for n in network.layers}
    return Record(record, volts, float(network.dt), layer_kinds(network))


def present(
    network: Network, spikes: torch.Tensor, *, layer: str = "Ae", reward: Reward = None, learning: bool = True
) -> torch.Tensor:
    """Present one image (spike train ``[T, B, *input_shape]`` of the single input layer) to a
    Diehl & Cook-like network of stock nodes in the fast engine and return the spike counts of
    ``layer`` ``[B, n]`` (int64). ``learning=True`` (default): as ``simulate(..., learning=True)``
    (weights, thresholds and rule state change in place); ``learning=False``: as ``Network.run``
    with learning off (labelling, evaluation), in the same step loop (C for batch size 1)."""
    from snnsim.engine import _as_input_dict, learning_mode

    feed = _as_input_dict(network, spikes)
    if layer not in network.layers:
        raise UserError(f"no layer {layer!r}; layers: {list(network.layers)}")
    with torch.no_grad(), learning_mode(network, learning):
        rec = run_plastic(network, feed, (), reward, learn=learning)
    s = rec.spikes[layer]
    return s.reshape(s.shape[0], s.shape[1], -1).sum(0, dtype=torch.int64)
