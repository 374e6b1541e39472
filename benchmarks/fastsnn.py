"""FastSNN speed benchmark (Taylor et al. 2022, Fig. 2): one layer, forward and backward timed apart.

One layer of ``n`` neurons fed by 1000 Poisson inputs (spike probability ``--rate`` per step),
batch 128, ``T`` steps. Two contenders in the same run, on the same input, weights and
synaptic op (the layer's ``ModuleConnection`` in :func:`snnsim.engine.forward`):

- ``standard``: multi-spike LIF (``LIFNeurons``: leak exp(-1/10), threshold 1, reset by
  subtraction, fast-sigmoid surrogate), BPTT by :mod:`snnsim.autograd`;
- ``fastsnn``: single-spike LIF (``fastlif``) computed for all steps at once (:mod:`snnsim.fastsnn`).

Loss: the sum of the layer's spikes. ``forward`` = engine forward pass (synaptic op + neurons),
``backward`` = ``loss.backward()`` (neurons + weight gradient). Also timed: the neuron
dynamics alone (``neuron_*``) on the same input current, which is what FastSNN changes;
the synaptic op is shared, so it bounds the total speedup (Amdahl).
Median over ``--repeats`` runs after one warm-up, the contenders alternating.

Run: ``.venv/bin/python benchmarks/fastsnn.py [--quick] [--threads 1] [--n 200] [--T 8,32,128]``
-> ``benchmarks/results/fastsnn.json`` and ``benchmarks/results/fastsnn_speedup.png``.
"""
from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine_info, write_json  # noqa: E402
from snnsim.autograd import multistep_neuron  # noqa: E402
from snnsim.engine import forward  # noqa: E402
from snnsim.fastsnn import fast_lif, native_status  # noqa: E402
from snnsim.spec import build_network  # noqa: E402
from snnsim.surrogate import FastSigmoid  # noqa: E402

N_IN, BATCH, LEAK = 1000, 128, math.exp(-1 / 10)
FULL_N, FULL_T = (100, 200, 400, 1000), tuple(2 ** k for k in range(3, 12))
CONTENDERS = ("standard", "fastsnn")


def make_net(kind: str, n: int, seed: int = 0):
    layer = ({"type": "lif", "leak": LEAK, "thresh": 1.0, "reset": "subtract"} if kind == "standard"
             else {"type": "fastlif", "leak": LEAK, "thresh": 1.0})
    net = build_network({"layers": [{"name": "input", "type": "input", "shape": [N_IN]}, {"name": "layer", **layer}],
                         "connections": [{"source": "input", "target": "layer",
                                          "ops": [{"op": "linear", "out_features": n}]}]})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # mean drive ~0.1 per step at rate 0.05: potentials hover near threshold
        w = net.connections[("input", "layer")].weighted[0].weight
        w.copy_(torch.randn(w.shape, generator=g) * 0.02 + 0.002)
    net.layers["layer"].surrogate = FastSigmoid(100.0)
    return net


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def time_pair(calls: dict[str, Callable[[], tuple[float, float]]], repeats: int) -> dict[str, dict[str, float]]:
    """Alternate the contenders; ``call() -> (forward_s, backward_s)``; median of each."""
    for call in calls.values():
        call()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in calls}
    names = list(calls)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(calls[name]())
    return {k: {"forward_s": _median([f for f, _ in v]), "backward_s": _median([b for _, b in v]),
                "total_s": _median([f + b for f, b in v])} for k, v in times.items()}


def bench_one(n: int, t: int, rate: float, synapse: str, repeats: int, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand((t, BATCH, N_IN), generator=g) < rate
    if synapse == "dense":
        x = x.float()
    nets = {k: make_net(k, n, seed) for k in CONTENDERS}
    spikes: dict[str, float] = {}

    def layer_call(name: str) -> Callable[[], tuple[float, float]]:
        net = nets[name]

        def call() -> tuple[float, float]:
            net.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            s = forward(net, x, record_voltage=[]).spikes["layer"]
            loss = s.sum()
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            spikes[name] = float(loss.detach()) / (BATCH * n)
            return t1 - t0, t2 - t1
        return call

    layer = time_pair({k: layer_call(k) for k in CONTENDERS}, repeats)
    with torch.no_grad():
        current0 = nets["standard"].connections[("input", "layer")].compute_multi(x)
    params = nets["standard"].layers["layer"].params
    sur = FastSigmoid(100.0)

    def neuron_call(name: str) -> Callable[[], tuple[float, float]]:
        def call() -> tuple[float, float]:
            cur = current0.detach().requires_grad_()
            t0 = time.perf_counter()
            s = multistep_neuron(cur, params, sur)[0] if name == "standard" else fast_lif(cur, LEAK, 1.0)[0]
            loss = s.sum()
            t1 = time.perf_counter()
            loss.backward()
            return t1 - t0, time.perf_counter() - t1
        return call

    neuron = time_pair({k: neuron_call(k) for k in CONTENDERS}, repeats)
    out: dict[str, Any] = {"n": n, "T": t}
    for k in CONTENDERS:
        out[k] = {**layer[k], **{f"neuron_{m}": v for m, v in neuron[k].items()}, "spikes_per_neuron": spikes[k]}
    st, fa = out["standard"], out["fastsnn"]
    out["speedup"] = {m: st[f"{m}_s"] / fa[f"{m}_s"] for m in ("total", "forward", "backward")}
    out["speedup"].update({f"neuron_{m}": st[f"neuron_{m}_s"] / fa[f"neuron_{m}_s"] for m in ("total", "forward", "backward")})
    shared = max(st["total_s"] - st["neuron_total_s"], 0.0)
    out["synaptic_share_of_standard"] = shared / st["total_s"]
    out["amdahl_bound"] = st["total_s"] / shared if shared > 0 else math.inf
    del x, nets, current0
    gc.collect()
    return out


def est_gb(n: int, t: int, synapse: str) -> float:
    """Rough peak memory of one configuration (inputs, currents, saved tensors, gradients)."""
    return (t * BATCH * N_IN * (4 if synapse == "dense" else 1) + 8 * t * BATCH * n * 4) / 2 ** 30


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n"] for r in results})
    ts = sorted({r["T"] for r in results})
    kinds = ("total", "forward", "backward", "neuron_total")
    fig, axes = plt.subplots(1, len(kinds) + 1, figsize=(4.2 * (len(kinds) + 1), 3.6))
    for ax, kind in zip(axes, kinds):
        grid = torch.full((len(ns), len(ts)), float("nan"))
        for r in results:
            grid[ns.index(r["n"]), ts.index(r["T"])] = r["speedup"][kind]
        im = ax.imshow(grid.numpy(), origin="lower", aspect="auto", cmap="viridis")
        lo, hi = float(grid.nan_to_num(math.inf).min()), float(grid.nan_to_num(-math.inf).max())
        for i in range(len(ns)):
            for j in range(len(ts)):
                if not math.isnan(grid[i, j]):
                    dark = hi > lo and (grid[i, j] - lo) / (hi - lo) > 0.6  # light cells get dark text
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7,
                            color="k" if dark else "w")
        ax.set_xticks(range(len(ts)), [str(t) for t in ts], rotation=90)
        ax.set_yticks(range(len(ns)), [str(n) for n in ns])
        ax.set_xlabel("steps T")
        ax.set_ylabel("units n")
        ax.set_title(f"speedup: {kind.replace('_', ' ')}")
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[-1]
    n0 = 200 if 200 in ns else ns[0]
    rows = sorted((r for r in results if r["n"] == n0), key=lambda r: r["T"])
    for kind in kinds:
        ax.plot([r["T"] for r in rows], [r["speedup"][kind] for r in rows], marker="o", label=kind)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("steps T")
    ax.set_ylabel("speedup (standard / fastsnn)")
    ax.set_title(f"n = {n0}, batch {BATCH}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="n = 200, T = 8, 32, 128, 3 repeats")
    p.add_argument("--n", default=None, help="comma-separated layer sizes (default 100,200,400,1000)")
    p.add_argument("--T", default=None, help="comma-separated step counts (default 8,16,...,2048)")
    p.add_argument("--rate", type=float, default=0.05, help="input spike probability per step (default 0.05)")
    p.add_argument("--synapse", default="event", choices=("event", "dense"),
                   help="event: bool input spikes (event-driven linear op); dense: float 0/1 matmul")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-gb", type=float, default=8.0, help="skip configurations estimated above this memory")
    p.add_argument("--out", default="benchmarks/results/fastsnn.json")
    p.add_argument("--png", default="benchmarks/results/fastsnn_speedup.png")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ns = [200] if args.quick and args.n is None else [int(v) for v in (args.n or ",".join(map(str, FULL_N))).split(",")]
    ts = ([8, 32, 128] if args.quick and args.T is None
          else [int(v) for v in (args.T or ",".join(map(str, FULL_T))).split(",")])
    repeats = 3 if args.quick else args.repeats
    results, skipped = [], []
    for n in ns:
        for t in ts:
            if est_gb(n, t, args.synapse) > args.max_gb:
                skipped.append({"n": n, "T": t, "estimated_gb": est_gb(n, t, args.synapse)})
                continue
            r = bench_one(n, t, args.rate, args.synapse, repeats)
            results.append(r)
            sp, st, fa = r["speedup"], r["standard"], r["fastsnn"]
            print(f"n={n:5d} T={t:5d}  standard {st['forward_s'] * 1e3:8.1f} + {st['backward_s'] * 1e3:8.1f} ms"
                  f"  fastsnn {fa['forward_s'] * 1e3:8.1f} + {fa['backward_s'] * 1e3:8.1f} ms  speedup total "
                  f"{sp['total']:.2f} (fwd {sp['forward']:.2f}, bwd {sp['backward']:.2f}; neurons only "
                  f"{sp['neuron_total']:.1f})", flush=True)
    payload = {"benchmark": "fastsnn", "inputs": N_IN, "batch_size": BATCH, "rate": args.rate,
               "synapse": args.synapse, "leak": LEAK, "repeats": repeats, "native_kernels": native_status(),
               "results": results, "skipped": skipped, **machine_info(args.threads)}
    write_json(ROOT / args.out if not Path(args.out).is_absolute() else args.out, payload)
    if results:
        plot(results, ROOT / args.png if not Path(args.png).is_absolute() else Path(args.png))
    return payload


if __name__ == "__main__":
    main()
