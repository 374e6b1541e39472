"""NIR -> snnsim (see :mod:`snnsim.nir.graph` for the mapping and its derivation).

Every node and edge of the graph is imported exactly or refused with a :class:`UserError`
naming it. A neuron node's NIR ODE is read by its forward-Euler step of ``dt``::

    LIF/LI:  v <- (1 - dt/tau) v + (dt/tau) v_leak + (dt r / tau) I
    IF/I:    v <- v + dt r I
    CubaLIF/CubaLI:  I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in S,  then the LIF step with
             tau_mem reads the new I (snnsim: syn_leak = 1 - dt/tau_syn, the input gain
             (dt/tau_syn) w_in (dt r/tau_mem) folded into the op before; v_leak must be 0)
    Threshold:  z = v > threshold, no memory (snnsim's ``threshold`` node, leak 0)

so ``leak = 1 - dt/tau``; the input gain ``dt r / tau`` (``dt r``) and the constant drift
``(dt/tau) v_leak`` are folded into the Linear/Affine/Conv2d directly before the node
(weights and bias scaled, drift added to one bias). NIR fires at ``v > v_threshold``,
snnsim at ``v >= thresh``: ``thresh = nextafter(float32(v_threshold), +inf)``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from bindsnet.network import Network

from snnsim.errors import UserError
from snnsim.nir.writer import nir_module

_DT_HINT = (
    "pass dt=... to load_nir/from_nir: the simulation step in the unit of the file's tau "
    "(snnTorch and SpikingJelly files: usually dt=1e-4, snnsim files store it)"
)


def graph_dt(graph: Any, dt: Optional[float]) -> Optional[float]:
    """``dt`` if given, else the file's (``metadata['snnsim']['dt']`` or ``metadata['dt']``), else None."""
    if dt is None:
        meta = graph.metadata or {}
        dt = (meta.get("snnsim") or {}).get("dt", meta.get("dt"))
    if dt is None:
        return None
    dt = float(np.asarray(dt).reshape(-1)[0])
    if not (np.isfinite(dt) and dt > 0):
        raise UserError(f"dt must be a finite number > 0, got {dt!r}")
    return dt


def _f64(node: Any, field: str) -> np.ndarray:
    return np.asarray(getattr(node, field), dtype=np.float64)


def _param(values: np.ndarray) -> Any:
    """A uniform array as one float, else per-neuron values (nested lists)."""
    flat = values.reshape(-1)
    return float(flat[0]) if flat.size and np.all(flat == flat[0]) else values.tolist()


def _leak(name: str, node: Any, dt: float, field: str = "tau", key: str = "leak") -> np.ndarray:
    """``1 - dt / node.<field>`` (snnsim's exact ``metadata['snnsim'][key]`` when it still agrees)."""
    tau = _f64(node, field)
    leak = 1.0 - dt / tau
    if np.any(~np.isfinite(leak)) or np.any(leak <= 0) or np.any(leak > 1):
        raise UserError(
            f"NIR node {name!r}: {field} (min {tau.min():g}) must exceed dt={dt:g} for the Euler step "
            f"({key} = 1 - dt/{field} in (0, 1]); {_DT_HINT}"
        )
    meta = ((getattr(node, "metadata", None) or {}).get("snnsim") or {}).get(key)
    if meta is not None:  # snnsim's exact leak, if the file's tau still says the same
        exact = np.broadcast_to(np.asarray(meta, dtype=np.float64), leak.shape)
        if np.array_equal(exact.astype(np.float32), leak.astype(np.float32)):
            return np.array(exact)
    return leak


def neuron_layer(name: str, node: Any, dt: Optional[float]) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """(snnsim layer spec, input gain, drift per step) of one NIR neuron node."""
    nir = nir_module()
    if isinstance(node, nir.Input):
        shape = [int(d) for d in np.asarray(node.input_type["input"]).reshape(-1)]
        return {"name": name, "type": "input", "shape": shape}, np.ones(()), np.zeros(())
    if isinstance(node, nir.Threshold):
        thr = _thresh(name, node.threshold)
        return (
            {"name": name, "type": "threshold", "shape": list(thr.shape), "thresh": _param(thr)},
            np.ones(()),
            np.zeros(()),
        )
    if dt is None:
        raise UserError(
            f"the NIR graph has no time step in its metadata (node {name!r} is {type(node).__name__}); {_DT_HINT}"
        )
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        return _cuba_layer(name, node, dt)
    r = _f64(node, "r")
    layer: dict[str, Any] = {"name": name}
    if r.ndim:
        layer["shape"] = list(r.shape)
    if isinstance(node, (nir.IF, nir.I)):
        leak, gain, drift = np.ones(r.shape), dt * r, np.zeros(r.shape)
    else:
        leak = _leak(name, node, dt)
        tau = _f64(node, "tau")
        gain, drift = dt * r / tau, dt / tau * _f64(node, "v_leak")
    if isinstance(node, (nir.I, nir.LI)):
        return {**layer, "type": "integrator", "leak": _param(leak)}, gain, drift
    v_reset = _f64(node, "v_reset") if node.v_reset is not None else np.zeros(r.shape)
    layer.update(thresh=_param(_thresh(name, node.v_threshold)), reset="zero", v_reset=_param(v_reset))
    if isinstance(node, nir.IF):
        return {**layer, "type": "if"}, gain, drift
    return {**layer, "type": "lif", "leak": _param(leak)}, gain, drift


def _thresh(name: str, v_threshold: Any) -> np.ndarray:
    """snnsim's ``thresh`` (fires at ``v >=``) of NIR's ``v_threshold`` (fires at ``v >``)."""
    thresh = np.nextafter(np.asarray(v_threshold, np.float32), np.float32(np.inf)).astype(np.float64)
    if np.any(thresh <= 0):
        raise UserError(f"NIR node {name!r}: the threshold must be >= 0 for snnsim (it fires at v >= thresh > 0)")
    return thresh


def _cuba_layer(name: str, node: Any, dt: float) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """(layer spec, input gain, drift) of a CubaLIF/CubaLI node: the synaptic current is
    snnsim's ``syn_leak`` pre-filter, its input gain folded into the op before."""
    nir = nir_module()
    if np.any(_f64(node, "v_leak") != 0):
        raise UserError(
            f"NIR node {name!r} ({type(node).__name__}): v_leak != 0 is not supported (its drift "
            "cannot be folded before the synaptic current)"
        )
    tau_syn, tau_mem, r = _f64(node, "tau_syn"), _f64(node, "tau_mem"), _f64(node, "r")
    layer: dict[str, Any] = {
        "name": name,
        "leak": _param(_leak(name, node, dt, "tau_mem", "leak")),
        "syn_leak": _param(_leak(name, node, dt, "tau_syn", "syn_leak")),
    }
    if r.ndim:
        layer["shape"] = list(r.shape)
    gain = (dt / tau_syn) * _f64(node, "w_in") * (dt * r / tau_mem)
    if isinstance(node, nir.CubaLI):
        return {**layer, "type": "cuba_li"}, gain, np.zeros(r.shape)
    v_reset = _f64(node, "v_reset") if node.v_reset is not None else np.zeros(r.shape)
    layer.update(type="cuba_lif", thresh=_param(_thresh(name, node.v_threshold)), reset="zero", v_reset=_param(v_reset))
    return layer, gain, np.zeros(r.shape)


def _square(name: str, what: str, value: Any) -> int:
    v = np.atleast_1d(np.asarray(value)).reshape(-1)
    if isinstance(value, str) or v.min() != v.max():
        raise UserError(
            f"NIR node {name!r}: {what} {value!r} is not supported (snnsim needs one value for height and width)"
        )
    return int(v[0])


def op_spec(name: str, node: Any) -> dict[str, Any]:
    """The snnsim op of one NIR op node (a Flatten too: the caller drops one before a Linear)."""
    nir = nir_module()
    if isinstance(node, nir.Flatten):
        return {"op": "flatten"}
    if isinstance(node, (nir.Linear, nir.Affine)):
        if np.asarray(node.weight).ndim != 2:
            raise UserError(f"NIR node {name!r}: only 2-D Linear/Affine weights are supported")
        return {
            "op": "linear",
            "out_features": int(np.asarray(node.weight).shape[0]),
            "bias": isinstance(node, nir.Affine),
        }
    if isinstance(node, nir.Conv2d):
        w = np.asarray(node.weight)
        if _square(name, "dilation", node.dilation) != 1 or node.groups != 1 or w.shape[2] != w.shape[3]:
            raise UserError(f"NIR node {name!r}: only square kernels, dilation 1 and groups 1 are supported")
        return {
            "op": "conv2d",
            "out_channels": int(w.shape[0]),
            "kernel_size": int(w.shape[2]),
            "stride": _square(name, "stride", node.stride),
            "padding": _square(name, "padding", node.padding),
            "bias": node.bias is not None and bool(np.any(np.asarray(node.bias))),
        }
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        kind = type(node).__name__
        k = _square(name, "kernel_size", node.kernel_size)
        s = k if node.stride is None else _square(name, "stride", node.stride)
        if node.padding is not None and _square(name, "padding", node.padding) != 0:
            raise UserError(f"NIR node {name!r}: {kind} padding {node.padding!r} is not supported (only 0)")
        return {"op": kind.lower(), "kernel_size": k, "stride": s}
    if isinstance(node, nir.Scale):
        return {"op": "scale"}
    raise UserError(
        f"NIR node {name!r} of type {type(node).__name__} is not supported by snnsim "
        "(supported: Input, Output, IF, LIF, I, LI, CubaLIF, CubaLI, Threshold, Linear, Affine, "
        "Conv2d, AvgPool2d, SumPool2d, Scale, Flatten)"
    )


def fold_gain(name: str, conns: list[dict[str, Any]], gain: np.ndarray, drift: np.ndarray) -> None:
    """Fold a neuron node's input gain and drift into the weights of its incoming connections
    (each ``conn``: ``ops`` and ``params``, the [weight, bias] arrays of each op or None)."""
    gain32, drift32 = gain.astype(np.float32), drift.astype(np.float32)
    if np.all(gain32 == 1) and np.all(drift32 == 0):
        return
    if not conns:
        raise UserError(f"NIR node {name!r} has r/v_leak giving gain or drift but no input to fold them into")
    for i, conn in enumerate(conns):
        k = len(conn["ops"]) - 1
        while k >= 0 and conn["ops"][k]["op"] == "flatten":
            k -= 1
        if k < 0 or conn["ops"][k]["op"] not in ("linear", "conv2d"):
            raise UserError(
                f"NIR node {name!r}: its input gain dt*r/tau (or dt*r) differs from 1 or v_leak != 0, "
                "which snnsim folds only into a Linear/Affine/Conv2d directly before it"
            )
        op, (w, b) = conn["ops"][k], conn["params"][k]
        per_out = _per_output(name, gain, op, w.shape[0])
        add = _per_output(name, drift, op, w.shape[0]) if i == 0 else np.zeros(w.shape[0])
        w = w * per_out.reshape((-1,) + (1,) * (w.ndim - 1))
        b = (np.zeros(w.shape[0]) if b is None else b) * per_out + add
        op["bias"] = bool(op["bias"] or np.any(b != 0))
        conn["params"][k] = (w, b if op["bias"] else None)


def _per_output(name: str, values: np.ndarray, op: dict[str, Any], n_out: int) -> np.ndarray:
    """``values`` (per neuron) as one value per output feature/channel of ``op``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0:
        return np.full(n_out, float(v))
    if op["op"] == "linear":
        return v.reshape(-1)
    per_channel = v.reshape(v.shape[0], -1)
    if not np.all(per_channel == per_channel[:, :1]):
        raise UserError(
            f"NIR node {name!r}: per-neuron r/v_leak must be uniform over height and width "
            "to fold into the Conv2d before it"
        )
    return per_channel[:, 0]


def load_weights(net: Network, conns: list[dict[str, Any]]) -> None:
    """Copy each connection's [weight, bias] arrays into the built network's modules."""
    with torch.no_grad():
        for c in conns:
            modules = net.connections[(c["source"], c["target"])].layers
            for module, params in zip(modules, c["params"]):
                if params is None:
                    continue
                w, b = params
                module.weight.copy_(torch.as_tensor(np.asarray(w)).reshape(module.weight.shape))
                if getattr(module, "bias", None) is not None:
                    module.bias.copy_(torch.as_tensor(np.asarray(b)))
