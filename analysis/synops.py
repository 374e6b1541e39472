"""Synaptic operations (SynOps) of a spiking network and the energy they cost.

A spike of a source neuron causes one accumulate (AC) in every target it reaches, once
per route. :func:`fanout` counts the routes exactly, borders included: it is the gradient
of ``sum(ops(x))`` with respect to ``x`` when every weight is set to 1, biases dropped
and pooling turned into routing (a sum over each window, i.e. average pooling without
the division). For a conv with padding and stride this is the number of (output
channel, output position) pairs whose window covers the input position; for linear
it is ``out_features``; for an average pool it is the number of windows holding the
input (times the fan-out of what follows).

Dropout and BatchNorm are element-wise (BatchNorm folds into the preceding weights at
inference), so they route a spike unchanged and cost no MACs.

Max pooling (``RateMaxPool2d``) passes only the window's current winner, which depends
on the data; it is treated as routing too, so its SynOps are an upper bound.

Energy (45 nm CMOS, Horowitz 2014, ISSCC): a 32-bit float add costs 0.9 pJ, a 32-bit
float multiply-accumulate 4.6 pJ (3.7 pJ mult + 0.9 pJ add). The SNN spends one add per
SynOp, the equivalent ANN one MAC per weight use (:func:`ann_macs`).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from bindsnet.network import Network
from bindsnet.network.nodes import Input
from bindsnet.network.topology import Connection, MulticompartmentConnection
from bindsnet.network.topology_features import Weight
from torch import nn

from snnsim.core.connections import ModuleConnection
from snnsim.core.ops import TemporalDropout
from snnsim.errors import UserError, UserTypeError

E_AC = 0.9e-12  # J per 32-bit float add (45 nm, Horowitz 2014)
E_MAC = 4.6e-12  # J per 32-bit float multiply-accumulate (45 nm, Horowitz 2014)
# element-wise or reshaping ops: a spike passes through unchanged (BatchNorm folds into the weights)
ROUTING = (nn.Flatten, nn.Identity, nn.Dropout, TemporalDropout, nn.modules.batchnorm._BatchNorm)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _ones_op(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``m`` applied to ``x`` ``[1, ...]`` with unit weights, no bias, pooling as routing."""
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        ones = torch.ones(m.weight.shape, dtype=x.dtype, device=x.device)
        if isinstance(m, nn.Linear):
            return F.linear(x.reshape(x.shape[0], -1), ones)
        return m._conv_forward(x, ones, None)
    if isinstance(m, nn.AvgPool2d):
        return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, divisor_override=1)
    if getattr(m, "spiking_max_pool", False):  # RateMaxPool2d, TTFS EarliestMaxPool2d
        return F.avg_pool2d(x, m.kernel_size, m.stride, 0, divisor_override=1)
    if isinstance(m, nn.MaxPool2d):
        if _pair(m.dilation) != (1, 1):
            raise UserTypeError("fanout: nn.MaxPool2d with dilation is not supported")
        return F.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode, True, divisor_override=1)
    if isinstance(m, nn.Flatten):
        return m(x)
    if isinstance(m, ROUTING):
        return x
    raise UserTypeError(
        f"fanout: unsupported op {type(m).__name__}; supported: Linear, Conv2d, AvgPool2d, "
        "MaxPool2d, RateMaxPool2d, Flatten, Dropout, BatchNorm"
    )


def _stock_weight(connection: Any) -> Optional[torch.Tensor]:
    """The ``[n_source, n_target]`` weights of a stock BindsNET ``Connection`` or of a
    ``MulticompartmentConnection`` with one ``Weight`` feature; None for other connections."""
    if isinstance(connection, Connection):
        return connection.w.detach()
    pipeline = getattr(connection, "pipeline", None)
    if isinstance(connection, MulticompartmentConnection) and len(pipeline) == 1 and isinstance(pipeline[0], Weight):
        return pipeline[0].value.detach()
    return None


def _modules(connection: Any) -> list[nn.Module]:
    if not isinstance(connection, ModuleConnection):
        raise UserTypeError(
            f"expected an snnsim ModuleConnection, a bindsnet Connection or a MulticompartmentConnection "
            f"with one Weight feature, got {type(connection).__name__}"
        )
    return list(connection.layers)


def fanout(connection: Any) -> torch.Tensor:
    """Synaptic operations one spike of each source neuron causes through ``connection``:
    float64 ``[*source.shape]`` (exact, integer-valued; see the module docstring). A stock
    BindsNET connection counts the non-zero weights of each source neuron's row."""
    w = _stock_weight(connection)
    mods = [] if w is not None else _modules(connection)
    shape = [int(d) for d in connection.source.shape]
    if w is not None:
        return (w.reshape(math.prod(shape), -1) != 0).sum(1).double().reshape(shape)
    with torch.enable_grad():
        x = torch.ones(1, *shape, dtype=torch.float64, requires_grad=True)
        y = x
        for m in mods:
            y = _ones_op(m, y)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if grad is None:
        return torch.zeros(shape, dtype=torch.float64)
    return grad.reshape(shape).round()


def connection_macs(connection: ModuleConnection) -> int:
    """Multiply-accumulates per time step of the ANN version of ``connection``: every
    weighted op's output size times its weights per output (pooling and flatten are free);
    a stock BindsNET connection, its non-zero weights."""
    w = _stock_weight(connection)
    if w is not None:
        return int((w != 0).sum())
    mods = _modules(connection)
    x = torch.zeros(1, *[int(d) for d in connection.source.shape])
    total = 0
    with torch.no_grad():
        for m in mods:
            if isinstance(m, nn.Linear):
                x = x.reshape(1, -1)
                total += m.in_features * m.out_features
            y = _ones_op(m, x)
            if isinstance(m, nn.Conv2d):
                total += y[0].numel() * (m.in_channels // m.groups) * math.prod(_pair(m.kernel_size))
            x = y
    return int(total)


def _connections(network: Network) -> dict[str, ModuleConnection]:
    conns = {}
    for (src, tgt), conn in network.connections.items():
        conns[f"{src}->{tgt}"] = conn
    return conns


def ann_macs(network: Network) -> dict[str, Any]:
    """MACs per sample of the equivalent ANN (one pass): ``{"per_connection": {"src->tgt": int},
    "total": int}``."""
    per = {name: connection_macs(conn) for name, conn in _connections(network).items()}
    return {"per_connection": per, "total": int(sum(per.values()))}


def synops(
    network: Network, neuron_counts: dict[str, torch.Tensor], samples: int, skip_sources: Sequence[str] = ()
) -> dict[str, Any]:
    """SynOps per sample: ``sum(count[i] * fanout[i]) / samples`` for every connection.

    Args:
        neuron_counts: layer -> total spikes per neuron ``[*shape]`` over all samples and
            steps (:attr:`snnsim.engine.evaluate.Evaluation.neuron_counts`).
        skip_sources: source layers not to count (e.g. analog inputs, see :func:`energy_report`).
    Returns ``{"per_connection": {"src->tgt": float}, "total": float}``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise UserError(f"samples must be a positive int, got {samples!r}")
    per: dict[str, float] = {}
    for (src, tgt), conn in network.connections.items():
        if src in skip_sources:
            continue
        if src not in neuron_counts:
            raise UserError(
                f"neuron_counts has no spike counts of layer {src!r} (source of {src}->{tgt}); "
                f"has {list(neuron_counts)}"
            )
        counts = neuron_counts[src].detach().cpu().double()
        fo = fanout(conn)
        if counts.numel() != fo.numel():
            raise UserError(f"neuron_counts[{src!r}] has {counts.numel()} neurons, the layer has {fo.numel()}")
        per[f"{src}->{tgt}"] = float((counts.reshape(-1) * fo.reshape(-1)).sum()) / samples
    return {"per_connection": per, "total": float(sum(per.values()))}


def energy(
    synops: float, macs: float, e_ac: float = E_AC, e_mac: float = E_MAC, snn_macs: float = 0.0
) -> dict[str, float]:
    """Energy per sample in joules: SNN = ``synops * e_ac + snn_macs * e_mac`` (``snn_macs``:
    dense MACs of layers fed analog values), ANN = ``macs * e_mac``.

    Returns ``{"snn_j", "ann_j", "ann_over_snn", "snn_over_ann", "e_ac_j", "e_mac_j"}``.
    """
    for name, v in (("synops", synops), ("macs", macs), ("e_ac", e_ac), ("e_mac", e_mac), ("snn_macs", snn_macs)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or v != v:
            raise UserError(f"{name} must be a number >= 0, got {v!r}")
    snn = float(synops) * e_ac + float(snn_macs) * e_mac
    ann = float(macs) * e_mac
    return {
        "snn_j": snn,
        "ann_j": ann,
        "ann_over_snn": ann / snn if snn > 0 else math.inf,
        "snn_over_ann": snn / ann if ann > 0 else math.inf,
        "e_ac_j": float(e_ac),
        "e_mac_j": float(e_mac),
    }


def _analog_inputs(network: Network, evaluation: Any) -> list[str]:
    """Input layers fed with values other than 0/1 (constant-current coding)."""
    names = [n for n, layer in network.layers.items() if isinstance(layer, Input)]
    first = getattr(evaluation, "first_batch", None)
    out = []
    for n in names:
        if first is not None and n in first.spikes:
            s = first.spikes[n]
            analog = s.dtype != torch.bool and not bool(((s == 0) | (s == 1)).all())
        else:
            c = evaluation.neuron_counts.get(n)
            analog = c is not None and c.is_floating_point() and not bool((c == c.round()).all())
        if analog:
            out.append(n)
    return out


def energy_report(
    network: Network, evaluation: Any, e_ac: float = E_AC, e_mac: float = E_MAC, timesteps: Optional[int] = None
) -> dict[str, Any]:
    """JSON-ready SynOps/energy summary of an :class:`snnsim.engine.evaluate.Evaluation`.

    Connections from input layers fed analog values (constant current) do dense MACs
    every step: they are counted as ``connection_macs * T`` SNN MACs, not SynOps. ``T``
    comes from ``timesteps``, else from the evaluation's first batch or its
    ``accuracy_vs_time`` steps. Usage: ``report["synops"] = energy_report(net, result)``.
    """
    counts = getattr(evaluation, "neuron_counts", None)
    if not counts:
        raise UserError("the evaluation has no neuron_counts (needs snnsim.engine.evaluate.evaluate)")
    analog = _analog_inputs(network, evaluation)
    if timesteps is None:
        first = getattr(evaluation, "first_batch", None)
        if first is not None:
            timesteps = first.timesteps
        elif evaluation.accuracy_vs_time:
            timesteps = max(int(k) for k in evaluation.accuracy_vs_time)
    if analog and not timesteps:
        raise UserError("analog inputs need the number of time steps: pass timesteps=")
    ops = synops(network, counts, evaluation.samples, skip_sources=analog)
    macs = ann_macs(network)
    snn_macs = {
        f"{s}->{t}": macs["per_connection"][f"{s}->{t}"] * int(timesteps or 0)
        for (s, t) in network.connections
        if s in analog
    }
    e: dict[str, Any] = energy(ops["total"], macs["total"], e_ac, e_mac, snn_macs=float(sum(snn_macs.values())))
    why = {
        "ann_over_snn": "the spiking network used no energy (no spike reached a weighted connection)",
        "snn_over_ann": "the equivalent ANN does no multiply-accumulates",
    }
    undefined = [k for k in why if not math.isfinite(e[k])]
    for key in undefined:  # JSON has no infinity: null, and the reason beside it
        e[key] = None
    if undefined:
        e["ratio_note"] = "; ".join(f"{k} is null: {why[k]}" for k in undefined)
    per = {}
    for name in macs["per_connection"]:
        per[name] = {
            "synops": ops["per_connection"].get(name),
            "snn_macs": snn_macs.get(name),
            "ann_macs": macs["per_connection"][name],
        }
    return {
        "synops_per_sample": ops["total"],
        "snn_macs_per_sample": float(sum(snn_macs.values())),
        "ann_macs_per_sample": macs["total"],
        "per_connection": per,
        "analog_inputs": analog,
        "timesteps": timesteps,
        "energy": e,
        "constants": "45 nm CMOS (Horowitz 2014): 0.9 pJ per 32-bit float add (SynOp), 4.6 pJ per MAC",
        "note": "max pooling counted as routing (upper bound); biases not counted",
    }
