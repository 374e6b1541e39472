"""Stock BindsNET layers and connections in the fast engine, and learning on or off.

Stock node groups (``IFNodes``, ``LIFNodes``, ``AdaptiveLIFNodes``, ``DiehlAndCookNodes``)
run their own ``forward`` once per step, so their dynamics (decay towards ``rest``, the
refractory count in ms, reset, ``lbound``, the adaptive threshold ``theta``, which adapts
only while the layer is learning, Diehl & Cook's one-spike choice) are BindsNET's, exactly;
the fast engine batches what surrounds them. They carry no gradient: train snnsim nodes.
Stock ``Connection`` (dense ``w``, optional ``b``; ``wmin``/``wmax`` are applied to ``w`` when it
is built) runs all steps in one matmul; ``MulticompartmentConnection`` calls its own
``compute`` step by step. ``norm`` is applied by ``normalize``, which ``Network.run`` calls
after a run: the engines do so only while learning (:func:`learning_mode`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, IFNodes, Input, LIFNodes, Nodes
from bindsnet.network.topology import Connection, MulticompartmentConnection

from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import SpikingNodes
from snnsim.errors import UserError, UserTypeError

#: stock BindsNET node groups the fast engine runs (by their own ``forward``)
STOCK_NODES = (IFNodes, LIFNodes, AdaptiveLIFNodes, DiehlAndCookNodes)
#: stock BindsNET connections the fast engine runs
STOCK_CONNECTIONS = (Connection, MulticompartmentConnection)


def is_stock_layer(layer: Nodes) -> bool:
    return type(layer) in STOCK_NODES


def learning_rules(conn: Any) -> list[str]:
    """Class names of the BindsNET learning rules of a stock connection (NoOp excluded)."""
    rules = [getattr(conn, "update_rule", None)]
    rules += [getattr(f, "learning_rule", None) for f in getattr(conn, "pipeline", ())]
    return [type(r).__name__ for r in rules if r is not None and type(r).__name__ != "NoOp"]


def check_supported(network: Network) -> None:
    """Raise UserError/UserTypeError for what the fast engine cannot run exactly as ``Network.run``."""
    for name, layer in network.layers.items():
        if not isinstance(layer, (SpikingNodes, Input)) and not is_stock_layer(layer):
            raise UserTypeError(
                f"layer {name!r} is a {type(layer).__name__}; the fast engine runs snnsim nodes, bindsnet Input and "
                f"{', '.join(c.__name__ for c in STOCK_NODES)} (use engine='bindsnet' for others)"
            )
    for (src, tgt), conn in network.connections.items():
        if not isinstance(conn, ModuleConnection) and type(conn) not in STOCK_CONNECTIONS:
            raise UserTypeError(
                f"connection {src}->{tgt} is a {type(conn).__name__}; the fast engine runs snnsim ModuleConnection, "
                "bindsnet Connection and MulticompartmentConnection (use engine='bindsnet' for others)"
            )
        if isinstance(network.layers[tgt], Input):
            raise UserError(f"connection {src}->{tgt} targets an Input layer, whose spikes are the given input")
        if getattr(conn, "Dales_rule", None) is not None:
            raise UserError(
                f"connection {src}->{tgt} uses Dales_rule, which Network.run applies to the weights "
                "at every step; use engine='bindsnet'"
            )
        rules = learning_rules(conn)
        if rules and network.learning:
            raise UserError(
                f"connection {src}->{tgt} has the BindsNET learning rule {', '.join(rules)}, which this fast run "
                "does not apply; use simulate(..., learning=True) (plastic runs) or learning off"
            )


@contextlib.contextmanager
def learning_mode(network: Network, learning: bool) -> Iterator[None]:
    """Run the block with BindsNET learning on or off: ``network.learning`` and every layer's
    ``learning`` (adaptive thresholds), and, when off, no ``normalize`` of the weights after a
    run (so a run changes no weight). Torch's train/eval mode (dropout) is left as it is."""
    objs = [network, *network.layers.values()]
    before = [obj.learning for obj in objs]
    for obj in objs:
        obj.learning = bool(learning)
    if not learning:
        for conn in network.connections.values():
            conn.normalize = _no_normalize  # instance attribute, removed below
    try:
        yield
    finally:
        for obj, was in zip(objs, before):
            obj.learning = was
        for conn in network.connections.values():
            conn.__dict__.pop("normalize", None)


def _no_normalize() -> None:
    """``normalize`` of a connection while learning is off."""


def compute_multi(conn: Any, s: torch.Tensor) -> torch.Tensor:
    """Current of a stock connection for all steps: spikes ``[T, B, *source]`` -> ``[T, B, *target]``."""
    t, b = s.shape[:2]
    if type(conn) is Connection:
        return conn.compute(s.reshape(t * b, *s.shape[2:]).contiguous()).reshape(t, b, *conn.target.shape)
    return torch.stack([conn.compute(s[i].contiguous()) for i in range(t)])


class StockLayer:
    """Steps a stock BindsNET node group with its own ``forward``, from its reset state."""

    def __init__(self, name: str, layer: Nodes, batch: int) -> None:
        self.name, self.layer = name, layer
        if getattr(layer, "batch_size", None) != batch or layer.v.shape[:1] != (batch,):
            layer.set_batch_size(batch)
        layer.reset_state_variables()

    def step(self, x: torch.Tensor, record_voltage: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """One step; ``x`` ``[B, *shape]``. Returns (spikes bool, potentials after reset or None)."""
        if torch.is_grad_enabled() and x.requires_grad:
            raise UserError(
                f"layer {self.name!r} is a bindsnet {type(self.layer).__name__}: gradients do not pass "
                "through stock BindsNET nodes; use snnsim nodes (IFNeurons, LIFNeurons) to train"
            )
        with torch.no_grad():
            self.layer.forward(x.clone())  # LIFNodes masks its input in place
            return self.layer.s.clone(), self.layer.v.clone() if record_voltage else None

    def run(self, current: torch.Tensor, record_voltage: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """All steps of ``current`` ``[T, B, *shape]``: (spikes ``[T, B, ...]``, potentials or None)."""
        out = [self.step(current[i], record_voltage) for i in range(current.shape[0])]
        volts = torch.stack([v for _, v in out]) if record_voltage else None
        return torch.stack([s for s, _ in out]), volts

    def close(self) -> None:
        with torch.no_grad():
            self.layer.reset_state_variables()
