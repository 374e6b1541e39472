"""snnsim -> NIR (see :mod:`snnsim.nir.graph` for the mapping and its derivation).

Each snnsim layer's discrete update ``v = leak * v + x`` is written as the NIR ODE whose
forward-Euler step of ``dt`` is exactly that update: ``tau = dt / (1 - leak)``,
``r = tau / dt`` (LIF/LI) and ``r = 1 / dt`` (IF/I), ``v_leak = 0``. snnsim fires at
``v >= thresh``, NIR at ``v > v_threshold``: the file holds
``v_threshold = nextafter(float32(thresh), -inf)`` (float32), so ``v > v_threshold`` and
``v >= thresh`` agree for every float32 potential.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Optional

import numpy as np
import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import Integrator, SpikingNodes, ThresholdNeurons
from snnsim.core.stock_spec import is_stock_node
from snnsim.errors import UserError
from snnsim.nir.stock import stock_connection_nodes, stock_neuron_node

#: what a file's threshold means, stated in the graph's metadata
THRESHOLD_CONVENTION = (
    "NIR: fires at v > v_threshold; snnsim fires at v >= thresh and writes "
    "v_threshold = nextafter(float32(thresh), -inf)"
)


def nir_module():
    try:
        import nir
    except ImportError:  # pragma: no cover - exercised only without nir
        raise ImportError("NIR support needs the 'nir' package: pip install nir") from None
    return nir


def _arr(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` (number or per-neuron tensor) as a float32 array of ``shape``."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy().astype(np.float32)
    return np.full(shape, x, dtype=np.float32)


def _meta(x: Any) -> Any:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def nir_threshold(thresh: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The NIR ``v_threshold`` (fires at ``v >`` it) of snnsim's ``thresh`` (fires at ``v >=`` it)."""
    return np.nextafter(_arr(thresh, shape), np.float32(-np.inf))


def _leaky(leak: Any, shape: tuple[int, ...], dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(tau, r) of the Euler reading ``leak = 1 - dt / tau``, input gain ``dt * r / tau = 1``."""
    leak64 = leak.detach().cpu().double().numpy() if isinstance(leak, torch.Tensor) else np.full(shape, leak)
    if np.any(leak64 >= 1.0):
        raise UserError("a layer mixes leak 1 and leak < 1 neurons: NIR's LIF/LI cannot express leak 1")
    tau = dt / (1.0 - leak64)
    return tau.astype(np.float32), (tau / dt).astype(np.float32)


def _neuron_node(name: str, layer: Any, dt: float, subtract_reset: str):
    nir = nir_module()
    shape = tuple(int(d) for d in layer.shape)
    if isinstance(layer, Input):
        return nir.Input(input_type={"input": np.array(shape)})
    if is_stock_node(layer):
        return stock_neuron_node(nir, name, layer, dt)
    if not isinstance(layer, SpikingNodes):
        raise UserError(f"layer {name!r} ({type(layer).__name__}) has no NIR equivalent")
    p = layer.params
    meta = {"snnsim": {"type": layer.kind, "leak": _meta(p.leak)}}
    if p.refrac:
        raise UserError(f"layer {name!r} has a refractory period ({p.refrac} steps): NIR has none")
    if isinstance(layer, ThresholdNeurons):
        return nir.Threshold(threshold=nir_threshold(p.thresh, shape))
    if p.syn_leak is not None:
        return _cuba_node(name, layer, dt, meta)
    no_leak = not isinstance(p.leak, torch.Tensor) and p.leak == 1.0
    if isinstance(layer, Integrator):
        if no_leak:
            return nir.I(r=_arr(1.0 / dt, shape), metadata=meta)
        tau, r = _leaky(p.leak, shape, dt)
        return nir.LI(tau=tau, r=r, v_leak=_arr(0.0, shape), metadata=meta)
    if p.reset == "subtract":
        msg = f"layer {name!r} resets by subtraction, which NIR cannot express (its IF/LIF reset to v_reset)"
        if subtract_reset != "warn":
            raise UserError(msg + "; pass subtract_reset='warn' to export it as reset to zero")
        warnings.warn(
            msg + "; exported as reset to zero: the file means reset to zero for every reader, snnsim included",
            UserWarning,
            stacklevel=3,
        )
        meta["snnsim"]["exported_from_reset"] = "subtract"
    elif p.reset != "zero":
        raise UserError(f"layer {name!r} has reset {p.reset!r}, which NIR cannot express")
    thr, v_reset = nir_threshold(p.thresh, shape), _arr(p.v_reset, shape)
    if no_leak:
        return nir.IF(r=_arr(1.0 / dt, shape), v_threshold=thr, v_reset=v_reset, metadata=meta)
    tau, r = _leaky(p.leak, shape, dt)
    return nir.LIF(tau=tau, r=r, v_leak=_arr(0.0, shape), v_threshold=thr, v_reset=v_reset, metadata=meta)


def _cuba_node(name: str, layer: Any, dt: float, meta: dict[str, Any]):
    """CubaLIF/CubaLI: ``tau_syn = dt / (1 - syn_leak)``, ``w_in = tau_syn / dt`` (the current
    gains the input as is), ``tau_mem``, ``r = tau_mem / dt`` as for LIF, ``v_leak = 0``."""
    nir, p = nir_module(), layer.params
    shape = tuple(int(d) for d in layer.shape)
    if p.reset != "zero" and p.spiking:
        raise UserError(f"layer {name!r} has reset {p.reset!r}, which NIR's CubaLIF cannot express")
    meta["snnsim"]["syn_leak"] = _meta(p.syn_leak)
    tau_syn, w_in = _leaky(p.syn_leak, shape, dt)
    tau_mem, r = _leaky(p.leak, shape, dt)
    kw = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=_arr(0.0, shape), w_in=w_in, metadata=meta)
    if not p.spiking:
        return nir.CubaLI(**kw)
    return nir.CubaLIF(v_threshold=nir_threshold(p.thresh, shape), v_reset=_arr(p.v_reset, shape), **kw)


def _out_shape(module: Any, shape: list[int]) -> list[int]:
    with torch.no_grad():
        return list(module(torch.zeros(1, *shape)).shape[1:])


def _op_nodes(src_shape: list[int], conn: Any) -> list[Any]:
    """NIR nodes for one connection's ops (in order)."""
    nir = nir_module()
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
            bias = module.bias.detach().cpu().numpy() if module.bias is not None else np.zeros(w.shape[0], w.dtype)
            nodes.append(
                nir.Conv2d(
                    input_shape=(shape[1], shape[2]),
                    weight=w,
                    stride=module.stride,
                    padding=module.padding,
                    dilation=module.dilation,
                    groups=1,
                    bias=bias,
                )
            )
            shape = _out_shape(module, shape)
        elif op in ("avgpool2d", "sumpool2d"):
            k, s = module.kernel_size, module.stride
            pool = nir.AvgPool2d if op == "avgpool2d" else nir.SumPool2d
            nodes.append(pool(kernel_size=np.array([k, k]), stride=np.array([s, s]), padding=np.array([0, 0])))
            shape = _out_shape(module, shape)
        elif op == "scale":
            nodes.append(nir.Scale(scale=module.weight.detach().cpu().numpy()))
        elif op == "flatten":
            nodes.append(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
            shape = [int(np.prod(shape))]
        else:
            raise UserError(
                f"op {op!r} has no NIR equivalent (supported: linear, conv2d, avgpool2d, sumpool2d, "
                "scale, flatten, dropout); fold BatchNorm and avoid rate-based max-pooling before export"
            )
    return nodes


def to_nir(network: Network, *, dt: Optional[float] = None, subtract_reset: str = "error"):
    """The ``nir.NIRGraph`` of ``network`` (see :mod:`snnsim.nir.graph` for the mapping).

    dt: the time step (in the file's time unit) that one simulation step stands for;
        default ``network.dt``. The time constants are written for it (``tau = dt / (1 - leak)``),
        so a reader simulating at this ``dt`` (e.g. ``1e-4`` for snnTorch) gets the same spikes.
    subtract_reset: "error" (default) refuses reset-by-subtraction layers; "warn" exports
        them as reset to zero with a warning (the file then means reset to zero for every
        reader, snnsim's :func:`~snnsim.nir.graph.from_nir` included).
    """
    if subtract_reset not in ("error", "warn"):
        raise UserError(f"subtract_reset must be 'error' or 'warn', got {subtract_reset!r}")
    nir = nir_module()
    dt = float(network.dt if dt is None else dt)
    if not (np.isfinite(dt) and dt > 0):
        raise UserError(f"dt must be a finite number > 0, got {dt!r}")
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for name, layer in network.layers.items():
        nodes[name] = _neuron_node(name, layer, dt, subtract_reset)
    for (src, tgt), conn in network.connections.items():
        prev = src
        src_shape = [int(d) for d in network.layers[src].shape]
        ops = (
            _op_nodes(src_shape, conn)
            if isinstance(conn, ModuleConnection)
            else stock_connection_nodes(nir, f"{src}->{tgt}", conn, src_shape)
        )
        for i, node in enumerate(ops):
            key = f"{src}__{tgt}__{i}"
            nodes[key] = node
            edges.append((prev, key))
            prev = key
        edges.append((prev, tgt))
    last = list(network.layers)[-1]
    nodes["output"] = nir.Output(output_type={"output": np.array(list(network.layers[last].shape))})
    edges.append((last, "output"))
    meta = {
        "dt": dt,
        "snnsim": {"dt": dt, "threshold": THRESHOLD_CONVENTION, "layers": json.dumps(list(network.layers))},
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
