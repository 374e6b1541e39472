"""Event-driven conv (snnsim.core.event_conv) vs the dense F.conv2d (MKLDNN) on the conv shapes of
SCNN, LeNet and ResNet-19 (width 0.125) for 28x28 inputs (issue 17 item 4).

For every distinct conv of those nets (input shape after the connection's earlier ops, e.g. the
2x2 average pooling in front of SCNN's and LeNet's second conv), ``N = T * B`` samples (all
steps at once, as the fast engine calls it) of Bernoulli spikes at each density are fed to

- ``dense``: what a connection computes without events: ``F.conv2d`` of the spikes cast to float
  (the cast included; a pooled input is already float), and ``dense_conv_only`` without the cast;
- ``gather`` / ``scatter``: the C kernel's two loops; ``event``: its automatic choice.

The density is that of the spikes of the connection's source (before pooling). Reports the
median ms of each, the speedup ``dense / event`` and the crossover density (linear interpolation
of ``event / dense`` between the measured densities; None where it does not cross). With
``--simulate`` also times whole ``simulate(net, x, engine="fast")`` runs with the event conv on
and off (``SNNSIM_EVENT_CONV``).

    python -m benchmarks.event_conv [--threads 1 2] [--n 1600] [--simulate]
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Optional

import torch
import torch.nn.functional as F

from snnsim.core import event_conv
from snnsim.core.connections import ModuleConnection
from snnsim.native import event_conv as native

from .common import cpu_info, machine_info, time_call, write_json
from .conv_profile import nets, poisson_mnist_like

DENSITIES = (0.01, 0.05, 0.1, 0.2, 0.34)


def conv_shapes(width: float = 0.125) -> list[dict[str, Any]]:
    """The distinct convs of SCNN, LeNet and ResNet-19 (``width``): net, connection, the source
    shape, the modules in front of the conv and the conv itself."""
    seen: dict[tuple, dict[str, Any]] = {}
    for net_name, net in nets(width).items():
        for (src, tgt), conn in net.connections.items():
            if not isinstance(conn, ModuleConnection):
                continue
            for i, m in enumerate(conn.layers):
                if isinstance(m, torch.nn.Conv2d):
                    key = (
                        tuple(conn.source.shape),
                        tuple(type(p).__name__ for p in conn.layers[:i]),
                        m.in_channels,
                        m.out_channels,
                        m.kernel_size,
                        m.stride,
                        m.padding,
                    )
                    entry = seen.setdefault(
                        key,
                        {
                            "net": net_name,
                            "connections": [],
                            "source_shape": list(conn.source.shape),
                            "pre": list(conn.layers[:i]),
                            "conv": m,
                        },
                    )
                    entry["connections"].append(f"{net_name}:{src}->{tgt}")
    return list(seen.values())


def _label(entry: dict[str, Any]) -> str:
    """E.g. ``lenet pool2-20x12x12 -> 50c5 s1 p0``: the conv's input shape (pool2-: spikes
    pooled by the connection's earlier op, kernel 2)."""
    m, x = entry["conv"], torch.zeros(1, *entry["source_shape"])
    with torch.no_grad():
        for mod in entry["pre"]:
            x = mod(x)
    shape = "x".join(str(d) for d in x.shape[1:])
    pre = "".join(f"pool{getattr(mod, 'kernel_size', '')}-" for mod in entry["pre"])
    return f"{entry['net']} {pre}{shape} -> {m.out_channels}c{m.kernel_size[0]} s{m.stride[0]} p{m.padding[0]}"


def time_shape(entry: dict[str, Any], n: int, density: float, repeats: int) -> dict[str, Any]:
    """Median ms of each path for ``n`` samples of spikes at ``density``."""
    g = torch.Generator().manual_seed(int(density * 1000))
    x = torch.rand(n, *entry["source_shape"], generator=g) < density
    conv = entry["conv"]
    w, s, p = conv.weight.detach(), conv.stride[0], conv.padding[0]
    with torch.no_grad():
        for mod in entry["pre"]:
            x = mod(x.float())
        xf = x.float()
        paths = {
            "dense": lambda: F.conv2d(x.float(), w, None, s, p),
            "dense_conv_only": lambda: F.conv2d(xf, w, None, s, p),
            "gather": lambda: event_conv.event_conv2d(x, w, None, s, p, method="gather"),
            "scatter": lambda: event_conv.event_conv2d(x, w, None, s, p, method="scatter"),
            "event": lambda: event_conv.event_conv2d(x, w, None, s, p),
        }
        ms = {k: time_call(fn, repeats=repeats)["median_s"] * 1e3 for k, fn in paths.items()}
        err = float((paths["event"]() - paths["dense"]()).abs().max())
    return {
        "density": density,
        "input_nonzero": float((x != 0).float().mean()),
        "ms": ms,
        "speedup": ms["dense"] / ms["event"],
        "auto_scatter": native.scatter_cheaper(x),
        "max_abs_diff": err,
    }


def crossover(rows: list[dict[str, Any]]) -> Optional[float]:
    """The density where ``event / dense`` reaches 1 (interpolated); None if it never does."""
    pts = [(r["density"], r["ms"]["event"] / r["ms"]["dense"]) for r in rows]
    if pts[0][1] >= 1:
        return pts[0][0] if pts[0][1] == 1 else None
    for (d0, r0), (d1, r1) in zip(pts, pts[1:]):
        if r1 >= 1:
            return d0 + (1 - r0) * (d1 - d0) / (r1 - r0)
    return None


def simulate_runs(n_t: int, batch: int, repeats: int, width: float) -> dict[str, Any]:
    """Median ms of ``simulate(net, x, engine="fast")`` with the event conv on and off."""
    from snnsim.engine import simulate

    x, dens = poisson_mnist_like(n_t, batch)
    out: dict[str, Any] = {"input_density": dens}
    saved = os.environ.get("SNNSIM_EVENT_CONV")
    try:
        for name, net in nets(width).items():
            res = {}
            for flag in ("1", "0"):
                os.environ["SNNSIM_EVENT_CONV"] = flag
                with torch.no_grad():
                    res["event" if flag == "1" else "dense"] = (
                        time_call(lambda net=net: simulate(net, x, engine="fast"), repeats=repeats)["median_s"] * 1e3
                    )
            res["speedup"] = res["dense"] / res["event"]
            out[name] = res
            print(
                f"simulate {name}: dense {res['dense']:.0f} ms, event conv {res['event']:.0f} ms, {res['speedup']:.2f}x"
            )
    finally:
        if saved is None:
            os.environ.pop("SNNSIM_EVENT_CONV", None)
        else:
            os.environ["SNNSIM_EVENT_CONV"] = saved
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--n", type=int, default=1600, help="samples per call (T * B, e.g. 50 * 32)")
    ap.add_argument("--densities", type=float, nargs="+", default=list(DENSITIES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=float, default=0.125, help="ResNet-19 channel multiplier")
    ap.add_argument("--simulate", action="store_true", help="also time whole simulations (T=50, B=32)")
    ap.add_argument("--out", default="benchmarks/results/event_conv.json")
    args = ap.parse_args(argv)
    if native.native_status() != "loaded":
        print(f"note: the C kernel is not loaded ({native.native_status()}); timing the torch path")
    shapes = conv_shapes(args.width)
    loads = [os.getloadavg()]
    results: dict[str, Any] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        per_shape = {}
        for entry in shapes:
            rows = [time_shape(entry, args.n, d, args.repeats) for d in args.densities]
            label = _label(entry)
            per_shape[label] = {"connections": entry["connections"], "rows": rows, "crossover": crossover(rows)}
            print(
                f"[{threads} thr] {label}: "
                + ", ".join(
                    f"d={r['density']:g} {r['ms']['dense']:.1f}/{r['ms']['event']:.1f} ms {r['speedup']:.2f}x"
                    for r in rows
                )
                + f"; crossover {per_shape[label]['crossover']}"
            )
        results[f"threads_{threads}"] = per_shape
        loads.append(os.getloadavg())
    payload: dict[str, Any] = {
        "benchmark": "event_conv",
        "n": args.n,
        "densities": args.densities,
        "repeats": args.repeats,
        "native": native.native_status(),
        "loadavg": loads,
        **machine_info(args.threads[-1]),
        **cpu_info(),
        "results": results,
    }
    if args.simulate:
        payload["simulate"] = simulate_runs(50, 32, args.repeats, args.width)
        payload["loadavg"].append(os.getloadavg())
    print(f"load average {loads}; wrote {write_json(args.out, payload)}")
    return payload


if __name__ == "__main__":
    main()
