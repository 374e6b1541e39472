"""Stock BindsNET node groups and dense connections -> NIR nodes (export only).

BindsNET's step of dt (ms) is, for ``LIFNodes`` (refrac 0, no ``lbound``)::

    v <- decay (v - rest) + rest + x,   decay = exp(-dt / tc_decay);  fires at v >= thresh, v <- reset

which is NIR's LIF under the forward-Euler reading of step ``dt`` (see :mod:`snnsim.nir.graph`)
with ``tau = dt / (1 - decay)``, ``r = tau / dt`` (input gain 1), ``v_leak = rest``,
``v_reset = reset`` and ``v_threshold = nextafter(float32(thresh), -inf)``. ``IFNodes``
(``v <- v + x``) is ``IF(r = 1/dt)``. A dense ``Connection`` (``s @ w + b``) is ``Linear``
(``weight = w.T``) or ``Affine`` (with ``b``), after a ``Flatten`` when the source has more
than one dimension. Refused with one line, because NIR cannot express them: refractory periods
(BindsNET's default ``refrac=5``), ``lbound``, adaptive thresholds (``AdaptiveLIFNodes``,
``DiehlAndCookNodes``), learning rules, and a LIF whose ``rest`` differs from ``reset``
(NIR fixes no initial potential; readers, snnsim's included, start at ``v_reset``, BindsNET at
``rest``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from bindsnet.network.nodes import IFNodes, LIFNodes, Nodes
from bindsnet.network.topology import Connection

from snnsim.errors import UserError


def _np(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A BindsNET parameter (0-d or per-neuron tensor) as a float64 array of ``shape``."""
    return np.broadcast_to(torch.as_tensor(x).detach().cpu().double().numpy(), shape).copy()


def stock_neuron_node(nir: Any, name: str, layer: Nodes, dt: float) -> Any:
    """The NIR node of a stock ``IFNodes``/``LIFNodes`` (UserError naming what NIR cannot express)."""
    shape = tuple(int(d) for d in layer.shape)
    if type(layer) not in (IFNodes, LIFNodes):
        raise UserError(
            f"layer {name!r} ({type(layer).__name__}) has no NIR equivalent: NIR has no adaptive "
            "thresholds; only stock IFNodes and LIFNodes are exported"
        )
    refrac = torch.as_tensor(layer.refrac)
    if bool((refrac > 0).any()):
        value = f"{float(refrac):g}" if refrac.dim() == 0 else "per-neuron"
        raise UserError(
            f"layer {name!r} ({type(layer).__name__}) has a refractory period (refrac={value} ms): "
            "NIR has none; build it with refrac=0 to export it"
        )
    if layer.lbound is not None:
        raise UserError(f"layer {name!r} ({type(layer).__name__}) has a lower bound lbound, which NIR cannot express")
    thr = np.nextafter(_np(layer.thresh, shape).astype(np.float32), np.float32(-np.inf))
    v_reset = _np(layer.reset, shape).astype(np.float32)
    meta = {"snnsim": {"type": "bindsnet." + type(layer).__name__}}
    if type(layer) is IFNodes:
        return nir.IF(r=np.full(shape, 1.0 / dt, np.float32), v_threshold=thr, v_reset=v_reset, metadata=meta)
    rest = _np(layer.rest, shape)
    if not np.array_equal(rest.astype(np.float32), v_reset):
        raise UserError(
            f"layer {name!r} (LIFNodes) has rest != reset: NIR fixes no initial potential and readers "
            "start at v_reset where BindsNET starts at rest; export it with rest == reset"
        )
    leak = _np(layer.decay, shape)  # float32 exp(-dt / tc_decay), as BindsNET steps
    if np.any(leak >= 1.0) or np.any(leak <= 0.0):
        raise UserError(f"layer {name!r} (LIFNodes): its decay exp(-dt/tc_decay) must lie in (0, 1) for NIR's LIF")
    tau = dt / (1.0 - leak)
    meta["snnsim"]["leak"] = leak
    return nir.LIF(
        tau=tau.astype(np.float32),
        r=(tau / dt).astype(np.float32),
        v_leak=rest.astype(np.float32),
        v_threshold=thr,
        v_reset=v_reset,
        metadata=meta,
    )


def stock_connection_nodes(nir: Any, where: str, conn: Any, src_shape: list[int]) -> list[Any]:
    """NIR nodes of a stock dense ``Connection``: [Flatten,] Linear or Affine."""
    if type(conn) is not Connection:
        raise UserError(
            f"connection {where} ({type(conn).__name__}) has no NIR equivalent; only dense stock "
            "Connection objects and snnsim ModuleConnection are exported"
        )
    rule = type(conn.update_rule).__name__
    if rule != "NoOp" or getattr(conn, "Dales_rule", None) is not None:
        raise UserError(
            f"connection {where} has the learning rule {rule} (or Dales_rule): NIR describes fixed "
            "weights; export a copy built without it"
        )
    if len(conn.target.shape) > 1:
        raise UserError(
            f"connection {where}: its target has shape {list(conn.target.shape)}; NIR's Linear "
            "gives a flat vector, so only 1-D targets are exported"
        )
    nodes = []
    if len(src_shape) > 1:
        nodes.append(nir.Flatten(input_type={"input": np.array(src_shape)}, start_dim=0, end_dim=-1))
    w = conn.w.detach().cpu().numpy().T.copy()
    if conn.b is not None:
        nodes.append(nir.Affine(weight=w, bias=conn.b.detach().cpu().numpy()))
    else:
        nodes.append(nir.Linear(weight=w))
    return nodes
