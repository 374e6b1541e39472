"""Network specs: custom topologies as plain dicts (JSON-ready), built into BindsNET Networks.

A spec names layers and joins them with connections made of ops::

    spec = {
        "dt": 1.0,
        "layers": [
            {"name": "input", "type": "input", "shape": [1, 28, 28]},
            {"name": "conv1", "type": "if", "thresh": 1.0, "reset": "subtract"},
            {"name": "out", "type": "if"},
        ],
        "connections": [
            {"source": "input", "target": "conv1",
             "ops": [{"op": "conv2d", "out_channels": 12, "kernel_size": 5}]},
            {"source": "conv1", "target": "out",
             "ops": [{"op": "avgpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 10}]},
        ],
    }
    net = build_network(spec)

Layer types: ``input``, ``if``, ``lif`` (``leak``), ``integrator`` (non-spiking
read-out); parameters as in :class:`snnsim.nodes.SpikingNodes`. A layer's ``shape``
may be left out when a connection into it determines it. Layers are simulated in the
order listed (feed-forward); ``network_spec(net)`` gives the spec back.
"""
from __future__ import annotations

import copy
from typing import Any

from bindsnet.network import Network

from . import extensions  # noqa: F401  (registers extra node types and ops)
from .connections import ModuleConnection
from .nodes import NODE_TYPES, node_config
from .ops import build_ops


def _fail(msg: str) -> None:
    raise ValueError(f"invalid network spec: {msg}")


def build_network(spec: dict[str, Any]) -> Network:
    """Build a BindsNET ``Network`` from ``spec`` (see module docstring)."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict, got {type(spec).__name__}")
    layers = spec.get("layers")
    conns = spec.get("connections", [])
    if not isinstance(layers, list) or not layers:
        _fail("'layers' must be a non-empty list of layer dicts")
    if not isinstance(conns, list):
        _fail("'connections' must be a list")
    dt = float(spec.get("dt", 1.0))
    if dt <= 0:
        _fail(f"dt must be > 0, got {dt}")

    names = [layer.get("name") if isinstance(layer, dict) else None for layer in layers]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            _fail(f"layer #{i} needs a non-empty string 'name'")
    if len(set(names)) != len(names):
        _fail(f"layer names must be unique, got {names}")
    incoming: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for j, c in enumerate(conns):
        if not isinstance(c, dict):
            _fail(f"connection #{j} must be a dict")
        for end in ("source", "target"):
            if c.get(end) not in incoming:
                _fail(f"connection #{j} {end} {c.get(end)!r} is not a layer; layers: {names}")
        incoming[c["target"]].append(c)

    net = Network(dt=dt)
    shapes: dict[str, list[int]] = {}
    for layer in layers:
        params = {k: v for k, v in layer.items() if k not in ("name", "type")}
        kind = layer.get("type")
        if kind not in NODE_TYPES:
            _fail(f"layer {layer['name']!r} has unknown type {kind!r}; known: {sorted(NODE_TYPES)}")
        shape = params.pop("shape", None)
        if shape is None:
            shape = _infer_shape(layer["name"], incoming[layer["name"]], shapes)
        if not shape or any(int(d) < 1 for d in shape):
            _fail(f"layer {layer['name']!r} has a bad shape {shape}")
        try:
            node = NODE_TYPES[kind](shape=[int(d) for d in shape], **params)
        except TypeError as err:
            _fail(f"layer {layer['name']!r}: {err}")
        shapes[layer["name"]] = [int(d) for d in node.shape]
        net.add_layer(node, name=layer["name"])

    for c in conns:
        kwargs = {k: v for k, v in c.items() if k not in ("source", "target", "ops")}
        conn = ModuleConnection(net.layers[c["source"]], net.layers[c["target"]], ops=c.get("ops"), **kwargs)
        net.add_connection(conn, source=c["source"], target=c["target"])
    return net


def _infer_shape(name: str, incoming: list[dict[str, Any]], shapes: dict[str, list[int]]) -> list[int]:
    if not incoming:
        _fail(f"layer {name!r} has no 'shape' and no incoming connection to infer it from")
    for c in incoming:
        if c["source"] in shapes:
            _, out = build_ops(c.get("ops") or [], shapes[c["source"]])
            return out
    _fail(f"layer {name!r}: cannot infer its shape (its sources come after it)")
    return []  # unreachable


def network_spec(net: Network) -> dict[str, Any]:
    """The spec of ``net`` (layers in simulation order, connections with their ops)."""
    layers = []
    for name, layer in net.layers.items():
        cfg = node_config(layer)
        layers.append({"name": name, **cfg})
    conns = []
    for (src, tgt), conn in net.connections.items():
        if not isinstance(conn, ModuleConnection):
            raise TypeError(
                f"connection {src}->{tgt} is a {type(conn).__name__}; only snnsim "
                "ModuleConnection objects can be described as a spec"
            )
        conns.append({"source": src, "target": tgt, **conn.config()})
    return {"dt": float(net.dt), "layers": layers, "connections": copy.deepcopy(conns)}
