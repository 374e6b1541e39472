"""Export to and import from NIR (the Neuromorphic Intermediate Representation).

Requires the ``nir`` package (``pip install nir``). NIR describes neurons in continuous
time; snnsim runs them in discrete steps of ``dt``. The mapping (forward Euler):

============================  =============================================================
snnsim                        NIR
============================  =============================================================
``input`` layer               ``Input`` (shape)
``if`` (reset zero)           ``IF(r=1, v_threshold=thresh, v_reset=v_reset)``
``lif`` (leak = 1 - dt/tau)   ``LIF(tau=dt/(1-leak), r=tau/dt, v_leak=0, v_threshold, v_reset)``
``integrator``, leak 1        ``I(r=1)``;  leak < 1: ``LI(tau=dt/(1-leak), r=tau/dt, v_leak=0)``
op ``linear``                 ``Linear`` (``Affine`` with a bias), after a ``Flatten``
op ``conv2d``                 ``Conv2d``
op ``avgpool2d``              ``AvgPool2d``
op ``dropout``                nothing (identity at inference)
last layer                    also connected to an ``Output`` node
============================  =============================================================

What NIR cannot express is refused, never changed silently: reset by subtraction (NIR's
IF/LIF reset to ``v_reset``), rate-based ``maxpool2d``, ``batchnorm`` (fold it first),
refractory periods. ``subtract_reset="warn"`` exports reset-by-subtraction layers as
reset-to-zero with a ``UserWarning`` and records the true reset in the node's metadata,
which :func:`from_nir` restores (so an snnsim round trip is exact; other tools see
reset to zero). snnsim's own parameters (exact ``leak``, op names) travel in each node's
``metadata`` under ``"snnsim"``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from .nodes import Integrator, SpikingNodes
from .spec import build_network, network_spec


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - exercised only without nir
        raise ImportError("NIR support needs the 'nir' package: pip install nir") from None
    return nir


def _arr(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, x, dtype=np.float32) if np.isscalar(x) else np.asarray(x, dtype=np.float32)


def _neuron_node(name: str, layer: Any, dt: float, subtract_reset: str):
    nir = _nir()
    shape = tuple(int(d) for d in layer.shape)
    if isinstance(layer, Input):
        return nir.Input(input_type={"input": np.array(shape)})
    if not isinstance(layer, SpikingNodes):
        raise TypeError(f"layer {name!r} ({type(layer).__name__}) has no NIR equivalent")
    p = layer.params
    meta = {"snnsim": {"type": layer.kind, "leak": p.leak, "reset": p.reset, "thresh": p.thresh,
                       "v_reset": p.v_reset}}
    if p.refrac:
        raise ValueError(f"layer {name!r} has a refractory period ({p.refrac} steps): NIR has none")
    if isinstance(layer, Integrator):
        if p.leak == 1.0:
            return nir.I(r=_arr(1.0, shape), metadata=meta)
        tau = dt / (1.0 - p.leak)
        return nir.LI(tau=_arr(tau, shape), r=_arr(tau / dt, shape), v_leak=_arr(0.0, shape), metadata=meta)
    if p.reset == "subtract":
        msg = (f"layer {name!r} resets by subtraction, which NIR cannot express (its IF/LIF reset to "
               "v_reset)")
        if subtract_reset != "warn":
            raise ValueError(msg + "; pass subtract_reset='warn' to export it as reset to zero")
        warnings.warn(msg + "; exported as reset to zero (metadata keeps the true reset)", UserWarning)
    elif p.reset != "zero":
        raise ValueError(f"layer {name!r} has reset {p.reset!r}, which NIR cannot express")
    if p.leak == 1.0:
        return nir.IF(r=_arr(1.0, shape), v_threshold=_arr(p.thresh, shape), v_reset=_arr(p.v_reset, shape),
                      metadata=meta)
    tau = dt / (1.0 - p.leak)
    return nir.LIF(tau=_arr(tau, shape), r=_arr(tau / dt, shape), v_leak=_arr(0.0, shape),
                   v_threshold=_arr(p.thresh, shape), v_reset=_arr(p.v_reset, shape), metadata=meta)


def _op_nodes(src_shape: list[int], conn: Any) -> list[Any]:
    """NIR nodes for one connection's ops (in order)."""
    nir = _nir()
    nodes = []
    shape = list(src_shape)
    for spec, module in zip(conn.ops, conn.layers):
        op = spec["op"]
        if op == "dropout":
            continue
        if op == "linear":
            if len(shape) > 1:
                nodes.append(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
                shape = [int(np.prod(shape))]
            w = module.weight.detach().cpu().numpy()
            if module.bias is not None:
                nodes.append(nir.Affine(weight=w, bias=module.bias.detach().cpu().numpy()))
            else:
                nodes.append(nir.Linear(weight=w))
            shape = [w.shape[0]]
        elif op == "conv2d":
            w = module.weight.detach().cpu().numpy()
            bias = module.bias.detach().cpu().numpy() if module.bias is not None else np.zeros(w.shape[0], np.float32)
            nodes.append(nir.Conv2d(input_shape=(shape[1], shape[2]), weight=w, stride=module.stride,
                                    padding=module.padding, dilation=module.dilation, groups=1, bias=bias))
            with torch.no_grad():
                shape = list(module(torch.zeros(1, *shape)).shape[1:])
        elif op == "avgpool2d":
            k, s = module.kernel_size, module.stride
            nodes.append(nir.AvgPool2d(kernel_size=np.array([k, k]), stride=np.array([s, s]),
                                       padding=np.array([0, 0])))
            with torch.no_grad():
                shape = list(module(torch.zeros(1, *shape)).shape[1:])
        elif op == "flatten":
            nodes.append(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
            shape = [int(np.prod(shape))]
        else:
            raise ValueError(f"op {op!r} has no NIR equivalent (supported: linear, conv2d, avgpool2d, "
                             "flatten, dropout); fold BatchNorm and avoid rate-based max-pooling before export")
    return nodes


def to_nir(network: Network, *, subtract_reset: str = "error"):
    """The ``nir.NIRGraph`` of ``network`` (see the module docstring for the mapping).

    subtract_reset: "error" (default) refuses reset-by-subtraction layers; "warn" exports
    them as reset to zero with a warning.
    """
    if subtract_reset not in ("error", "warn"):
        raise ValueError(f"subtract_reset must be 'error' or 'warn', got {subtract_reset!r}")
    nir = _nir()
    dt = float(network.dt)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for name, layer in network.layers.items():
        nodes[name] = _neuron_node(name, layer, dt, subtract_reset)
    for (src, tgt), conn in network.connections.items():
        prev = src
        for i, node in enumerate(_op_nodes(list(network.layers[src].shape), conn)):
            key = f"{src}__{tgt}__{i}"
            nodes[key] = node
            edges.append((prev, key))
            prev = key
        edges.append((prev, tgt))
    last = list(network.layers)[-1]
    nodes["output"] = nir.Output(output_type={"output": np.array(list(network.layers[last].shape))})
    edges.append((last, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"snnsim": {"dt": dt}}, type_check=False)


def _layer_from_node(name: str, node: Any, dt: float) -> dict[str, Any]:
    nir = _nir()
    meta = (getattr(node, "metadata", None) or {}).get("snnsim", {})
    if isinstance(node, nir.Input):
        return {"name": name, "type": "input", "shape": [int(d) for d in np.asarray(node.input_type["input"])]}
    shape = list(np.asarray(getattr(node, "r")).shape)
    if isinstance(node, (nir.I, nir.LI)):
        leak = 1.0 if isinstance(node, nir.I) else 1.0 - dt / float(np.asarray(node.tau).flat[0])
        return {"name": name, "type": "integrator", "shape": shape, "leak": meta.get("leak", leak)}
    if isinstance(node, (nir.IF, nir.LIF)):
        thresh = float(np.asarray(node.v_threshold).flat[0])
        v_reset = float(np.asarray(node.v_reset).flat[0]) if node.v_reset is not None else 0.0
        layer = {"name": name, "shape": shape, "thresh": meta.get("thresh", thresh),
                 "reset": meta.get("reset", "zero"), "v_reset": meta.get("v_reset", v_reset)}
        if isinstance(node, nir.IF):
            return {**layer, "type": "if"}
        leak = 1.0 - dt / float(np.asarray(node.tau).flat[0])
        return {**layer, "type": "lif", "leak": meta.get("leak", leak)}
    raise ValueError(f"NIR node {name!r} of type {type(node).__name__} is not supported by snnsim")


def from_nir(graph: Any, *, dt: float | None = None) -> Network:
    """Build a Network from a ``nir.NIRGraph`` (chains of Linear/Affine/Conv2d/AvgPool2d/
    Flatten between Input, IF, LIF, I and LI nodes). ``dt`` defaults to the graph's."""
    nir = _nir()
    dt = float(dt if dt is not None else (graph.metadata or {}).get("snnsim", {}).get("dt", 1.0))
    neuron_types = (nir.Input, nir.IF, nir.LIF, nir.I, nir.LI)
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
    order = _topological(graph)
    layers = [_layer_from_node(k, graph.nodes[k], dt) for k in order if isinstance(graph.nodes[k], neuron_types)]
    names = {layer["name"] for layer in layers}
    conns = []
    for layer in layers:
        for pred in preds[layer["name"]]:
            chain = []
            cur = pred
            while cur not in names:
                chain.append(cur)
                if len(preds[cur]) != 1:
                    raise ValueError(f"NIR node {cur!r} must have exactly one input to map to an snnsim connection")
                cur = preds[cur][0]
            conns.append({"source": cur, "target": layer["name"], "chain": list(reversed(chain))})
    spec_conns = [{"source": c["source"], "target": c["target"],
                   "ops": [_op_spec(k, graph.nodes[k]) for k in c["chain"] if _op_spec(k, graph.nodes[k])]}
                  for c in conns]
    net = build_network({"dt": dt, "layers": layers, "connections": spec_conns})
    with torch.no_grad():
        for c in conns:
            mods = [m for m in net.connections[(c["source"], c["target"])].layers]
            weighted = [graph.nodes[k] for k in c["chain"] if isinstance(graph.nodes[k], (nir.Linear, nir.Affine, nir.Conv2d))]
            for m, node in zip([m for m in mods if hasattr(m, "weight")], weighted):
                m.weight.copy_(torch.as_tensor(np.asarray(node.weight)))
                if getattr(m, "bias", None) is not None:
                    m.bias.copy_(torch.as_tensor(np.asarray(node.bias)))
    return net


def _op_spec(name: str, node: Any) -> dict[str, Any] | None:
    nir = _nir()
    if isinstance(node, nir.Flatten):
        return None  # snnsim's linear op flattens its input itself
    if isinstance(node, (nir.Linear, nir.Affine)):
        return {"op": "linear", "out_features": int(np.asarray(node.weight).shape[0]),
                "bias": isinstance(node, nir.Affine)}
    if isinstance(node, nir.Conv2d):
        w = np.asarray(node.weight)
        stride, padding = np.atleast_1d(node.stride), np.atleast_1d(node.padding)
        if np.atleast_1d(node.dilation).max() != 1 or node.groups != 1 or stride.min() != stride.max() \
                or isinstance(node.padding, str) or padding.min() != padding.max():
            raise ValueError(f"NIR Conv2d {name!r}: only square stride/padding, dilation 1, groups 1 are supported")
        return {"op": "conv2d", "out_channels": int(w.shape[0]), "kernel_size": int(w.shape[2]),
                "stride": int(stride[0]), "padding": int(padding[0]), "bias": bool(np.any(np.asarray(node.bias)))}
    if isinstance(node, nir.AvgPool2d):
        return {"op": "avgpool2d", "kernel_size": int(np.atleast_1d(node.kernel_size)[0]),
                "stride": int(np.atleast_1d(node.stride)[0])}
    raise ValueError(f"NIR node {name!r} of type {type(node).__name__} is not supported by snnsim")


def _topological(graph: Any) -> list[str]:
    indeg = {k: 0 for k in graph.nodes}
    for _, b in graph.edges:
        indeg[b] += 1
    ready = [k for k in graph.nodes if indeg[k] == 0]
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for a, b in graph.edges:
            if a == k:
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
    if len(order) != len(graph.nodes):
        raise ValueError("the NIR graph has a cycle; snnsim imports feed-forward graphs only")
    return order


def save_nir(network: Network, path: Union[str, Path], **kw: Any) -> Path:
    """Write ``network`` as a NIR HDF5 file."""
    _nir().write(str(path), to_nir(network, **kw))
    return Path(path)


def load_nir(path: Union[str, Path], **kw: Any) -> Network:
    """Read a NIR HDF5 file into a Network."""
    return from_nir(_nir().read(str(path)), **kw)


__all__ = ["to_nir", "from_nir", "save_nir", "load_nir", "network_spec"]
