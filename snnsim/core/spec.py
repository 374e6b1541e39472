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
read-out); parameters as in :class:`snnsim.core.nodes.SpikingNodes`; stock BindsNET node groups
and connections as in :mod:`snnsim.core.stock_spec` (``"type": "bindsnet.LIFNodes"``,
``"class": "bindsnet.Connection"``). A layer's ``shape``
may be left out when a connection into it determines it. Layers are simulated in the
order listed; a connection to the layer itself or to an earlier layer delivers the previous
step's spikes (recurrent). ``network_spec(net)`` gives the spec back.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from snnsim.core import schema, stock_spec
from snnsim.core.checks import check_names
from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import NODE_PARAMS, NODE_TYPES, node_config
from snnsim.core.ops import OP_PARAMS, OPS, build_ops, op_required
from snnsim.errors import UserError, UserTypeError
from snnsim.limits import check_allocation, module_bytes


def _fail(msg: str) -> None:
    raise UserError(f"invalid network spec: {msg}")


_ENDPOINT = {"type": "string", "minLength": 1}
_TOP = schema.closed_object(
    {
        "dt": schema.number(exclusive_minimum=0),
        "layers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type"],
                "properties": {"name": {"type": "string", "minLength": 1}, "type": {"type": "string"}},
            },
        },
        "model": stock_spec.MODEL_SCHEMA,
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "target"],
                "properties": {
                    "source": _ENDPOINT,
                    "target": _ENDPOINT,
                    "class": schema.one_of(sorted(stock_spec.CONNECTION_SCHEMAS)),
                },
            },
        },
    },
    required=["layers"],
)
#: an snnsim ModuleConnection entry (one without "class")
_MODULE_CONNECTION = {
    "type": "object",
    "required": ["source", "target", "ops"],
    "properties": {
        "source": _ENDPOINT,
        "target": _ENDPOINT,
        "ops": {"type": "array", "minItems": 1},
        "event_driven": schema.boolean(),
    },
    "additionalProperties": False,
}
_OP_NAME = {"type": "object", "required": ["op"], "properties": {"op": {"type": "string"}}}
_SIZES = {
    "properties": {"layers": {"maxItems": schema.MAX_LAYERS}, "connections": {"maxItems": schema.MAX_CONNECTIONS}}
}  # cheap: checked first


def validate_spec(spec: Any) -> None:
    """Check ``spec`` against the schema built from the registered node types and ops
    (:data:`snnsim.core.nodes.NODE_PARAMS`, :data:`snnsim.core.ops.OP_PARAMS`): unknown keys, wrong
    types, NaN/inf and out-of-range values raise :class:`UserError` naming the field path."""
    if not isinstance(spec, dict):
        raise UserTypeError(f"spec must be a dict, got {type(spec).__name__}")
    ctx = "invalid network spec: "
    schema.validate(spec, _SIZES, context=ctx)
    schema.validate(spec, _TOP, context=ctx)
    try:
        check_names(layer["name"] for layer in spec["layers"])
    except UserError as err:
        _fail(str(err))
    for j, conn in enumerate(spec.get("connections", [])):
        if "class" in conn:
            stock_spec.validate_connection(conn, f"connections[{j}]", ctx)
        else:
            schema.validate(conn, _MODULE_CONNECTION, f"connections[{j}]", context=ctx)
    for i, layer in enumerate(spec["layers"]):
        if layer["type"] not in NODE_TYPES:
            _fail(f"layers[{i}].type: unknown type {layer['type']!r}; known: {NODE_TYPES.known()}")
        props = {"name": {}, "type": {}, "shape": schema.shape(), **NODE_PARAMS[layer["type"]]}
        schema.validate(layer, schema.closed_object(props), f"layers[{i}]", context=ctx)
    for j, conn in enumerate(spec.get("connections", [])):
        for k, op in enumerate(conn.get("ops", [])):
            where = f"connections[{j}].ops[{k}]"
            schema.validate(op, _OP_NAME, where, context=ctx)
            if op["op"] not in OPS:
                _fail(f"{where}.op: unknown op {op['op']!r}; known ops: {OPS.known()}")
            props = {"op": {}, **OP_PARAMS[op["op"]]}
            schema.validate(op, schema.closed_object(props, op_required(op["op"])), where, context=ctx)


def build_network(spec: dict[str, Any]) -> Network:
    """Build a BindsNET ``Network`` from ``spec`` (see module docstring); the spec is
    validated first (:func:`validate_spec`) and the weights' memory checked against
    :func:`snnsim.limits.max_memory` before anything is allocated."""
    validate_spec(spec)
    layers = spec["layers"]
    conns = spec.get("connections", [])
    dt = float(spec.get("dt", 1.0))

    names = [layer["name"] for layer in layers]
    if len(set(names)) != len(names):
        _fail(f"layer names must be unique, got {names}")
    incoming: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for j, c in enumerate(conns):
        for end in ("source", "target"):
            if c[end] not in incoming:
                _fail(f"connections[{j}].{end}: {c[end]!r} is not a layer; layers: {names}")
        incoming[c["target"]].append(c)

    shapes: dict[str, list[int]] = {}
    for layer in layers:
        shape = layer.get("shape")
        if shape is None:
            shape = _infer_shape(layer["name"], incoming[layer["name"]], shapes)
        shapes[layer["name"]] = [int(d) for d in shape]
    _check_memory(conns, shapes)

    net = stock_spec.new_network(spec.get("model"), dt)
    for i, layer in enumerate(layers):
        params = {k: v for k, v in layer.items() if k not in ("name", "type", "shape")}
        try:
            node = stock_spec.build_layer(NODE_TYPES[layer["type"]], shapes[layer["name"]], params)
        except (TypeError, ValueError) as err:
            _fail(f"layers[{i}] ({layer['name']!r}): {err}")
        net.add_layer(node, name=layer["name"])
    for j, c in enumerate(conns):
        if "class" in c:
            conn = stock_spec.build_connection(net, c, f"connections[{j}]")
        else:
            kwargs = {k: v for k, v in c.items() if k not in ("source", "target", "ops")}
            conn = ModuleConnection(net.layers[c["source"]], net.layers[c["target"]], ops=c["ops"], **kwargs)
        net.add_connection(conn, source=c["source"], target=c["target"])
    return net


#: bytes per neuron that a layer allocates for one sample when it is added to a Network
#: (float32 potential, bool spikes, float32 refractory count)
STATE_BYTES_PER_NEURON = 9


def _check_memory(conns: list[dict[str, Any]], shapes: dict[str, list[int]]) -> None:
    """Refuse (UserError) a network whose weights (measured by building the ops on torch's
    meta device) and one sample's neuron state exceed the memory limit."""
    weights = sum(
        stock_spec.connection_bytes(c, math.prod(shapes[c["source"]]), math.prod(shapes[c["target"]]))
        if "class" in c
        else module_bytes(lambda c=c: build_ops(c["ops"], shapes[c["source"]])[0])
        for c in conns
    )
    n_neurons = sum(math.prod(s) for s in shapes.values())
    check_allocation(
        weights + STATE_BYTES_PER_NEURON * n_neurons,
        f"the network ({len(conns)} connections, {n_neurons} neurons: weights and state)",
    )


def _infer_shape(name: str, incoming: list[dict[str, Any]], shapes: dict[str, list[int]]) -> list[int]:
    if not incoming:
        _fail(f"layer {name!r} has no 'shape' and no incoming connection to infer it from")
    for c in incoming:
        if "class" in c:
            continue  # a stock connection leaves the target's shape open: give it in the spec
        if c["source"] in shapes:
            with torch.device("meta"):  # only the shape is needed: allocate nothing
                _, out = build_ops(c["ops"], shapes[c["source"]])
            return out
    _fail(f"layer {name!r}: cannot infer its shape (its sources come after it)")
    return []  # unreachable


def network_spec(net: Network) -> dict[str, Any]:
    """The spec of ``net`` (layers in simulation order, connections with their ops)."""
    if not isinstance(net, Network):
        raise UserTypeError(f"network must be a bindsnet Network, got {type(net).__name__}")
    layers = []
    for name, layer in net.layers.items():
        if type(layer) is Input or stock_spec.is_stock_node(layer):
            cfg = stock_spec.describe_layer(layer)
        else:
            try:
                cfg = node_config(layer)
            except TypeError as err:
                raise UserTypeError(
                    f"layer {name!r}: {err}; save its weights yourself and rebuild it in code"
                ) from None
        layers.append({"name": name, **cfg})
    conns = []
    for (src, tgt), conn in net.connections.items():
        if isinstance(conn, ModuleConnection):
            conns.append({"source": src, "target": tgt, **conn.config()})
        else:
            conns.append(stock_spec.describe_connection(src, tgt, conn))
    spec = {"dt": float(net.dt), "layers": layers, "connections": copy.deepcopy(conns)}
    model = stock_spec.describe_model(net)
    if model is not None:  # the network's own BindsNET class comes back on load
        spec["model"] = model
    return spec
