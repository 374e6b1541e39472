"""Where the time goes when convolutional SNNs are simulated on sparse spikes (issue 17 item 4).

Builds SCNN, LeNet and a narrow ResNet-19 for 28x28 inputs, feeds Poisson (per-step
Bernoulli) spikes of random MNIST-like images ``[T, B, 1, 28, 28]`` and profiles one
``simulate(net, x, engine="fast")`` under ``torch.no_grad()`` with torch.profiler (CPU).

Every op's self time is put in one category: ``conv`` (aten conv / mkldnn, and snnsim's C
convs), ``linear_event`` (aten linear/mm and snnsim's event-driven linear, whose C kernels run
under its Python wrapper), ``neuron`` (the IF/LIF recurrence: ``SpikingNodes.multi_step``,
``neuron_step``, stock layers), ``pooling`` (aten's, and snnsim's C pooling of bool spikes) and
``rest`` (other ops, e.g. tdBN, casts, adding currents, plus the time no op accounts for:
Python and profiler overhead). The regions are labelled by
wrapping those functions with ``record_function`` for the duration of the profile only.
Also reports the measured spike density of the input of every conv connection, and a
best-case estimate for an event-driven conv (its work scales with that density; none built).

    python -m benchmarks.conv_profile [--t 50] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time
from typing import Any, Callable, Iterator

import torch
from bindsnet.network import Network
from torch.profiler import ProfilerActivity, profile, record_function

import networks
import snnsim.core.connections as connections
import snnsim.engine.fast as fast
from snnsim.core import event_conv, pooling
from snnsim.core.nodes import SpikingNodes
from snnsim.engine import simulate
from snnsim.engine.stock import StockLayer

from .common import cpu_info, machine_info, time_call, write_json

CATEGORIES = ("conv", "linear_event", "neuron", "pooling", "rest")
CONV_OPS = {
    "aten::conv2d",
    "aten::convolution",
    "aten::_convolution",
    "aten::mkldnn_convolution",
    "aten::_nnpack_spatial_convolution",
    "aten::thnn_conv2d",
    "aten::_slow_conv2d_forward",
    "cp::native_conv",  # snnsim's C convs (event-driven, direct), labelled below
}
POOL_OPS = {
    "aten::avg_pool2d",
    "aten::max_pool2d",
    "aten::max_pool2d_with_indices",
    "aten::adaptive_avg_pool2d",
    "aten::_adaptive_avg_pool2d",
    "cp::native_pool",  # snnsim's C pooling of bool spikes, labelled below
}
LINEAR_OPS = {"aten::linear", "aten::addmm", "aten::mm", "aten::matmul", "cp::event_linear"}
NEURON, SYNAPSE = "cp::neuron", "cp::synapse:"


def _labelled(fn: Callable, label: Callable[..., str]) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        with record_function(label(*args, **kw)):
            return fn(*args, **kw)

    return wrapper


@contextlib.contextmanager
def labelled_regions(net: Network) -> Iterator[None]:
    """Wrap the engine's synapse, event-linear and neuron functions in ``record_function``
    labels (synapse labels name the connection ``src->tgt``); restored on exit."""
    names = {id(c): f"{s}->{t}" for (s, t), c in net.connections.items()}
    syn = lambda conn, *a, **k: SYNAPSE + names.get(id(conn), "?")
    patches = [
        (connections.ModuleConnection, "compute_multi", syn),
        (connections.ModuleConnection, "compute_step", syn),
        (fast, "compute_multi", syn),
        (connections, "event_linear", lambda *a, **k: "cp::event_linear"),
        (event_conv, "conv_module", lambda *a, **k: "cp::native_conv"),
        (event_conv, "direct_forward", lambda *a, **k: "cp::native_conv"),
        (pooling, "avg_pool_spikes", lambda *a, **k: "cp::native_pool"),
        (SpikingNodes, "multi_step", lambda *a, **k: NEURON),
        (fast, "neuron_step", lambda *a, **k: NEURON),
        (StockLayer, "run", lambda *a, **k: NEURON),
        (StockLayer, "step", lambda *a, **k: NEURON),
    ]
    saved = [(owner, attr, owner.__dict__[attr]) for owner, attr, _ in patches]
    try:
        for owner, attr, label in patches:
            setattr(owner, attr, _labelled(getattr(owner, attr), label))
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def _category(event: Any) -> tuple[str, str]:
    """(category, connection label or "") of a profiler event, from it and its ancestors."""
    cat, conn, e = "", "", event
    while e is not None:
        name = e.name
        if not cat:
            if name in CONV_OPS:
                cat = "conv"
            elif name in POOL_OPS:
                cat = "pooling"
            elif name in LINEAR_OPS:
                cat = "linear_event"
            elif name == NEURON:
                cat = "neuron"
        if name.startswith(SYNAPSE) and not conn:
            conn = name[len(SYNAPSE) :]
        e = e.cpu_parent
    return cat or "rest", conn


def conv_connections(net: Network) -> list[str]:
    """``src->tgt`` of every connection whose ops include a conv2d."""
    return [
        f"{s}->{t}"
        for (s, t), c in net.connections.items()
        if any(o.get("op") == "conv2d" for o in (getattr(c, "ops", None) or []))
    ]


def profile_run(net: Network, x: torch.Tensor) -> dict[str, Any]:
    """Profile one ``simulate(net, x, engine="fast")`` (``x``: ``[T, B, *input]`` bool spikes).

    Returns total wall ms, ms and % per category, conv ms per connection, the input spike
    density of each conv connection, and the ops behind ``rest``."""
    with torch.no_grad(), labelled_regions(net), profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        record = simulate(net, x, engine="fast")
        wall_ms = (time.perf_counter() - t0) * 1e3
    ms = dict.fromkeys(CATEGORIES, 0.0)
    conv_ms: dict[str, float] = {}
    rest_ops: dict[str, float] = {}
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CPU:
            continue
        self_ms = e.self_cpu_time_total / 1e3
        cat, conn = _category(e)
        ms[cat] += self_ms
        if cat == "conv":
            conv_ms[conn] = conv_ms.get(conn, 0.0) + self_ms
        elif cat == "rest":
            rest_ops[e.name] = rest_ops.get(e.name, 0.0) + self_ms
    unprofiled = wall_ms - sum(ms.values())
    ms["rest"] += unprofiled
    density = {c: float(record.spikes[c.split("->")[0]].float().mean()) for c in conv_connections(net)}
    top_rest = dict(sorted(rest_ops.items(), key=lambda kv: -kv[1])[:6])
    return {
        "total_ms": wall_ms,
        "ms": ms,
        "percent": {k: 100 * v / wall_ms for k, v in ms.items()},
        "unprofiled_ms": unprofiled,
        "conv_ms_per_connection": conv_ms,
        "conv_input_density": density,
        "rest_top_ops_ms": top_rest,
        "layer_density": {n: float(s.float().mean()) for n, s in record.spikes.items()},
    }


def event_conv_estimate(result: dict[str, Any]) -> dict[str, float]:
    """Best case for an event-driven conv: each conv's time scaled by its input density (the
    fraction of inputs that are nonzero bounds the work it must do). An estimate only."""
    dens = result["conv_input_density"]
    best = sum(ms * dens.get(c, 1.0) for c, ms in result["conv_ms_per_connection"].items())
    conv = result["ms"]["conv"]
    return {
        "conv_ms": conv,
        "best_case_conv_ms": best,
        "best_case_total_ms": result["total_ms"] - conv + best,
        "best_case_speedup": result["total_ms"] / (result["total_ms"] - conv + best),
    }


def poisson_mnist_like(t: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Random 28x28 'digits': ~20% of pixels lit with intensity U(0.5, 1), the rest 0 (MNIST's
    mean intensity is ~0.13); per-step Bernoulli spikes at the intensity. Returns
    (spikes bool ``[T, B, 1, 28, 28]``, measured spike density)."""
    g = torch.Generator().manual_seed(seed)
    lit = torch.rand(batch, 1, 28, 28, generator=g) < 0.2
    image = lit * (0.5 + 0.5 * torch.rand(batch, 1, 28, 28, generator=g))
    x = torch.rand(t, batch, 1, 28, 28, generator=g) < image
    return x, float(x.float().mean())


def nets(resnet_width: float = 0.125) -> dict[str, Network]:
    """SCNN, LeNet (IF, as built) and ResNet-19 at ``resnet_width`` for 1x28x28 inputs."""
    return {
        "scnn": networks.scnn(),
        "lenet": networks.lenet(),
        f"resnet19_w{resnet_width:g}": networks.resnet19(input_shape=(1, 28, 28), width=resnet_width),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs without the profiler (median)")
    ap.add_argument("--width", type=float, default=0.125, help="ResNet-19 channel multiplier")
    ap.add_argument("--out", default="benchmarks/results/conv_profile.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, in_density = poisson_mnist_like(args.t, args.batch)
    results: dict[str, Any] = {}
    for name, net in nets(args.width).items():
        with torch.no_grad():  # also the warm-up of the profiled run (native kernels, allocator)
            plain = time_call(lambda net=net: simulate(net, x, engine="fast"), repeats=args.repeats)
        res = profile_run(net, x)
        res["unprofiled_run_ms"] = plain["median_s"] * 1e3
        res["event_conv_estimate"] = event_conv_estimate(res)
        results[name] = res
        pct = res["percent"]
        print(
            f"{name}: {res['unprofiled_run_ms']:.0f} ms ({res['total_ms']:.0f} profiled); "
            + ", ".join(f"{k} {pct[k]:.1f}%" for k in CATEGORIES)
            + "; conv input density "
            + ", ".join(f"{c} {d:.3f}" for c, d in res["conv_input_density"].items())
        )
    payload = {
        "benchmark": "conv_profile",
        "t": args.t,
        "batch": args.batch,
        "input_density": in_density,
        "loadavg": os.getloadavg(),
        **machine_info(args.threads),
        **cpu_info(),
        "results": results,
    }
    print(f"input spike density {in_density:.3f}; wrote {write_json(args.out, payload)}")
    return payload


if __name__ == "__main__":
    main()
