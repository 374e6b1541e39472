"""A TTFS network as a chain of layers, and its per-layer time windows.

A TTFS network is an ordinary BindsNET ``Network`` built by :func:`snnsim.core.spec.build_network`:
an ``input`` layer, TTFS layers (node type ``ttfs``) and a ``ttfs_readout`` output layer,
each fed by one connection from the layer before it whose ops are bias-free
``linear``/``conv2d`` plus ``ttfs_maxpool2d``, ``avgpool2d``, ``flatten``, ``dropout``
(biases live in the nodes: they set the thresholds). :func:`ttfs_layers` checks this.

Windows: the input window is ``[0, 1]``; layer n has ``[t_min^n, t_max^n]`` with
``t_min^n = t_max^(n-1)``; the read-out reads at its ``t_min`` = the last ``t_max``.
:func:`windows` / :func:`set_windows` get and set the window *lengths*, and lay the
edges out again so that the chain property always holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input
from torch import nn

from snnsim.core.connections import ModuleConnection
from snnsim.core.ops import TemporalDropout
from snnsim.errors import UserError, UserTypeError
from snnsim.methods.ttfs.nodes import EarliestMaxPool2d, TTFSNodes, TTFSReadout

#: End of the input window: inputs x in [0, 1] spike at t = 1 - x.
INPUT_T_MAX = 1.0
SUPPORTED_OPS = "linear/conv2d (bias=False), ttfs_maxpool2d, avgpool2d, flatten, dropout"
_ALLOWED = (nn.Linear, nn.Conv2d, EarliestMaxPool2d, nn.AvgPool2d, nn.Flatten, TemporalDropout)


@dataclass
class TTFSLayer:
    """One non-input layer of a TTFS chain: its name, node group and incoming connection."""

    name: str
    node: TTFSNodes | TTFSReadout
    conn: ModuleConnection

    @property
    def readout(self) -> bool:
        return isinstance(self.node, TTFSReadout)


def _check_conn(name: str, conn: object) -> ModuleConnection:
    if not isinstance(conn, ModuleConnection):
        raise UserTypeError(
            f"connection into {name!r} is a {type(conn).__name__}; TTFS layers need an snnsim ModuleConnection"
        )
    for m in conn.layers:
        if not isinstance(m, _ALLOWED):
            hint = " (use 'ttfs_maxpool2d': the earliest spike)" if "MaxPool" in type(m).__name__ else ""
            raise UserError(
                f"connection into {name!r} has a {type(m).__name__} op{hint}; TTFS connections support {SUPPORTED_OPS}"
            )
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None:
            raise UserError(
                f"connection into {name!r}: weighted ops must have bias=False; the TTFS bias "
                "is the layer's 'bias' (it sets the threshold)"
            )
    return conn


def ttfs_layers(network: Network) -> list[TTFSLayer]:
    """The non-input layers of a TTFS ``network`` in order (validated: raises
    ValueError/TypeError naming what is wrong)."""
    if not isinstance(network, Network):
        raise UserTypeError(f"expected a bindsnet Network, got {type(network).__name__}")
    names = list(network.layers)
    if len(names) < 2 or not isinstance(network.layers[names[0]], Input):
        raise UserError("a TTFS network starts with an 'input' layer followed by TTFS layers")
    incoming: dict[str, list[tuple[str, object]]] = {n: [] for n in names}
    for (src, tgt), conn in network.connections.items():
        incoming[tgt].append((src, conn))
    out: list[TTFSLayer] = []
    t_prev = INPUT_T_MAX
    for i, name in enumerate(names[1:], start=1):
        node = network.layers[name]
        last = i == len(names) - 1
        want = TTFSReadout if last else TTFSNodes
        if type(node) is not want:
            raise UserError(
                f"layer {name!r} is a {type(node).__name__}; a TTFS network has 'ttfs' hidden layers "
                "and a 'ttfs_readout' last layer"
            )
        if len(incoming[name]) != 1 or incoming[name][0][0] != names[i - 1]:
            raise UserError(
                f"layer {name!r} must have exactly one incoming connection, from {names[i - 1]!r}; "
                f"got {[s for s, _ in incoming[name]]}"
            )
        if not math.isclose(node.t_min, t_prev, rel_tol=1e-12, abs_tol=1e-12):
            raise UserError(
                f"layer {name!r} has t_min = {node.t_min}, but the window before it ends at {t_prev} "
                "(use snnsim.methods.ttfs.set_windows to lay the windows out)"
            )
        out.append(TTFSLayer(name, node, _check_conn(name, incoming[name][0][1])))
        if not last:
            t_prev = node.t_max
    return out


def hidden_layers(network: Network) -> list[TTFSLayer]:
    """The spiking (non-read-out) TTFS layers."""
    return [layer for layer in ttfs_layers(network) if not layer.readout]


def windows(network: Network) -> list[float]:
    """Window lengths ``t_max - t_min`` of the hidden layers, in order."""
    return [layer.node.window for layer in hidden_layers(network)]


def set_windows(network: Network, lengths: Sequence[float]) -> list[tuple[float, float]]:
    """Give the hidden layers windows of ``lengths`` and chain them from the input window
    ``[0, 1]``; the read-out's ``t_min`` becomes the last ``t_max``. Returns the edges."""
    layers = ttfs_layers(network)
    hidden = [layer for layer in layers if not layer.readout]
    lengths = [float(w) for w in lengths]
    if len(lengths) != len(hidden):
        raise UserError(f"expected {len(hidden)} window lengths (one per hidden layer), got {len(lengths)}")
    for w in lengths:
        if not (math.isfinite(w) and w > 0):
            raise UserError(f"window lengths must be finite and > 0, got {lengths}")
    edges = []
    t = INPUT_T_MAX
    for layer, w in zip(hidden, lengths):
        layer.node.t_min, layer.node.t_max = t, t + w
        edges.append((t, t + w))
        t = t + w
    layers[-1].node.t_min = t
    return edges


def readout_time(network: Network) -> float:
    """Time at which the output is read: the read-out's ``t_min``."""
    return ttfs_layers(network)[-1].node.t_min


def apply_ops(conn: ModuleConnection, x: torch.Tensor) -> torch.Tensor:
    """The connection's ops on *activations* ``x [B, *source.shape]`` (closed form):
    max-pooling of activations is the earliest spike, conv zero padding is activation 0
    (a spike at the end of the previous window). Returns ``[B, *target.shape]``."""
    for m in conn.layers:
        x = m(x.flatten(1)) if isinstance(m, nn.Linear) else m(x)
    return x.reshape(x.shape[0], *conn.target.shape)
