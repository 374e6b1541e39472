"""FastSNN speed benchmark (Taylor et al. 2022, Fig. 2): one layer, forward and backward timed apart.

One layer of ``n`` neurons fed by 1000 Poisson inputs (spike probability ``--rate`` per step),
batch 128, ``T`` steps. Three contenders in the same run, on the same input, weights and
synaptic op (the layer's ``ModuleConnection``: event-driven bag sum of weight columns for
``--synapse event``, float matmul for ``--synapse dense``). All use LIF with leak exp(-1/10),
threshold 1 and a fast-sigmoid surrogate ``1 / (100 |h - 1| + 1)^2``:

- ``sequential``: the paper's *standard SNN* (snnTorch style), in plain torch: a Python loop
  over time steps, each doing the synaptic op on that step's input ``x[t]``
  (``ModuleConnection.compute``), then ``h = leak v + I``, ``s = H(h - 1)`` (a small
  ``torch.autograd.Function`` with the surrogate derivative), ``v = h - s`` (reset by
  subtraction); autograd records every step and BPTT runs through the recorded graph;
- ``standard``: snnsim's multi-step LIF (``LIFNeurons`` in :func:`snnsim.engine.forward`): the
  input current for all ``T`` steps in one op (``compute_multi``), then the recurrence in a
  fused C kernel with hand-written BPTT (:mod:`snnsim.core.autograd`); same spikes as ``sequential``;
- ``fastsnn``: single-spike LIF (``fastlif``) computed for all steps at once (:mod:`snnsim.methods.fastsnn.layer`).

Two baselines: the paper's speedups (2.8x at T=8 up to 5.6x at T=128, n=200) are against the
sequential loop, reported as ``speedup_vs_sequential`` (sequential / fastsnn). snnsim's
``standard`` is a much stronger baseline (it already batches the synaptic op over time and
fuses the recurrence), reported as ``speedup`` (standard / fastsnn).

Loss: the sum of the layer's spikes. ``forward`` = forward pass (synaptic op + neurons),
``backward`` = ``loss.backward()`` (neurons + weight gradient). Also timed: the neuron
dynamics alone (``neuron_*``) on the same input current, which is what FastSNN changes;
the synaptic op is shared, so it bounds the speedup over ``standard`` (Amdahl).
Median over ``--repeats`` runs after one warm-up, the contenders alternating. Before timing,
``sequential`` and ``standard`` are checked to give identical spikes (and matching weight
gradients) on a small case (``check`` in the JSON; ``--check`` runs only that).

Run: ``.venv/bin/python benchmarks/fastsnn.py [--quick] [--threads 1] [--n 200] [--T 8,32,128] [--device cuda]``
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

from benchmarks.common import machine_info, sync, write_json
from snnsim.core.autograd import multistep_neuron
from snnsim.core.dynamics import NeuronParams
from snnsim.core.spec import build_network
from snnsim.core.surrogate import FastSigmoid, Surrogate, surrogate_spike
from snnsim.engine import forward
from snnsim.methods.fastsnn.layer import fast_lif, native_status

N_IN, BATCH, LEAK = 1000, 128, math.exp(-1 / 10)
FULL_N, FULL_T = (100, 200, 400, 1000), tuple(2**k for k in range(3, 12))
CONTENDERS = ("sequential", "standard", "fastsnn")
METRICS = ("total", "forward", "backward")


def make_net(kind: str, n: int, seed: int = 0, device: str = "cpu"):
    """One-layer net; ``kind`` "fastsnn" gets a ``fastlif`` layer, the others a ``lif`` layer."""
    layer = (
        {"type": "fastlif", "leak": LEAK, "thresh": 1.0}
        if kind == "fastsnn"
        else {"type": "lif", "leak": LEAK, "thresh": 1.0, "reset": "subtract"}
    )
    net = build_network(
        {
            "layers": [{"name": "input", "type": "input", "shape": [N_IN]}, {"name": "layer", **layer}],
            "connections": [{"source": "input", "target": "layer", "ops": [{"op": "linear", "out_features": n}]}],
        }
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # mean drive ~0.1 per step at rate 0.05: potentials hover near threshold
        w = net.connections[("input", "layer")].weighted[0].weight
        w.copy_(torch.randn(w.shape, generator=g) * 0.02 + 0.002)
    net.layers["layer"].surrogate = FastSigmoid(100.0)
    return net.to(device)


def sequential_lif(
    step_current: Callable[[int], torch.Tensor], t_steps: int, p: NeuronParams, sur: Surrogate
) -> torch.Tensor:
    """Paper-style LIF loop, autograd per step: ``step_current(t) -> I[t]`` ``[B, n]``; spikes ``[T, B, n]``."""
    out = []
    v = None
    for t in range(t_steps):
        i = step_current(t)
        if v is None:
            v = torch.full_like(i, p.v_reset)
        h = p.leak * v + i
        s = surrogate_spike(h, p.thresh, sur)
        v = h - p.thresh * s  # reset by subtraction, differentiable (as snnsim's detach_reset=False)
        out.append(s)
    return torch.stack(out)


def sequential_forward(net, x: torch.Tensor) -> torch.Tensor:
    """The ``sequential`` contender: the layer's connection one step at a time, then the LIF loop."""
    conn, layer = net.connections[("input", "layer")], net.layers["layer"]
    return sequential_lif(lambda t: conn.compute_step(x[t]), x.shape[0], layer.params, layer.surrogate)


def layer_spikes(name: str, net, x: torch.Tensor) -> torch.Tensor:
    """Forward pass of one contender: spikes ``[T, B, n]``."""
    return sequential_forward(net, x) if name == "sequential" else forward(net, x, record_voltage=[]).spikes["layer"]


def make_input(
    t: int, rate: float, synapse: str, seed: int = 0, batch: int = BATCH, device: str = "cpu"
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand((t, batch, N_IN), generator=g) < rate
    return (x.float() if synapse == "dense" else x).to(device)


def check_sequential(
    synapse: str, n: int = 64, t: int = 32, rate: float = 0.05, batch: int = 16, device: str = "cpu"
) -> dict[str, Any]:
    """Assert ``sequential`` and ``standard`` give the same spikes (and close weight gradients)."""
    x = make_input(t, rate, synapse, batch=batch, device=device)
    out: dict[str, Any] = {"n": n, "T": t, "batch": batch, "synapse": synapse}
    spikes, grads = {}, {}
    for name in ("sequential", "standard"):
        net = make_net(name, n, device=device)
        s = layer_spikes(name, net, x)
        s.sum().backward()
        spikes[name] = s.detach()
        grads[name] = net.connections[("input", "layer")].weighted[0].weight.grad
    out["spikes"] = int(spikes["standard"].sum())
    out["spikes_equal"] = bool(torch.equal(spikes["sequential"], spikes["standard"]))
    scale = float(grads["standard"].abs().max())
    out["max_rel_weight_grad_diff"] = float((grads["sequential"] - grads["standard"]).abs().max()) / max(scale, 1e-30)
    if not out["spikes_equal"] or out["spikes"] == 0 or out["max_rel_weight_grad_diff"] > 1e-4:
        raise AssertionError(f"sequential and standard contenders disagree: {out}")
    return out


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def time_pair(calls: dict[str, Callable[[], tuple[float, float]]], repeats: int) -> dict[str, dict[str, float]]:
    """Alternate the contenders; ``call() -> (forward_s, backward_s)``; median of each."""
    for call in calls.values():
        call()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(calls[name]())
    return {
        k: {
            "forward_s": _median([f for f, _ in v]),
            "backward_s": _median([b for _, b in v]),
            "total_s": _median([f + b for f, b in v]),
        }
        for k, v in times.items()
    }


def _ratio(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """``a / b`` per metric, whole layer and neurons only."""
    out = {m: a[f"{m}_s"] / b[f"{m}_s"] for m in METRICS}
    out.update({f"neuron_{m}": a[f"neuron_{m}_s"] / b[f"neuron_{m}_s"] for m in METRICS})
    return out


def bench_one(
    n: int, t: int, rate: float, synapse: str, repeats: int, seed: int = 0, device: str = "cpu"
) -> dict[str, Any]:
    x = make_input(t, rate, synapse, seed, device=device)
    nets = {k: make_net(k, n, seed, device) for k in CONTENDERS}
    spikes: dict[str, float] = {}

    def layer_call(name: str) -> Callable[[], tuple[float, float]]:
        net = nets[name]

        def call() -> tuple[float, float]:
            net.zero_grad(set_to_none=True)
            sync(device)
            t0 = time.perf_counter()
            loss = layer_spikes(name, net, x).sum()
            sync(device)
            t1 = time.perf_counter()
            loss.backward()
            sync(device)
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
            sync(device)
            t0 = time.perf_counter()
            if name == "sequential":
                s = sequential_lif(lambda i: cur[i], t, params, sur)
            else:
                s = multistep_neuron(cur, params, sur)[0] if name == "standard" else fast_lif(cur, LEAK, 1.0)[0]
            loss = s.sum()
            sync(device)
            t1 = time.perf_counter()
            loss.backward()
            sync(device)
            return t1 - t0, time.perf_counter() - t1

        return call

    neuron = time_pair({k: neuron_call(k) for k in CONTENDERS}, repeats)
    out: dict[str, Any] = {"n": n, "T": t}
    for k in CONTENDERS:
        out[k] = {**layer[k], **{f"neuron_{m}": v for m, v in neuron[k].items()}, "spikes_per_neuron": spikes[k]}
    se, st, fa = out["sequential"], out["standard"], out["fastsnn"]
    out["speedup"] = _ratio(st, fa)  # fastsnn vs snnsim's standard
    out["speedup_vs_sequential"] = _ratio(se, fa)  # fastsnn vs the paper's baseline
    out["standard_vs_sequential"] = _ratio(se, st)
    shared = max(st["total_s"] - st["neuron_total_s"], 0.0)
    out["synaptic_share_of_standard"] = shared / st["total_s"]
    out["amdahl_bound"] = st["total_s"] / shared if shared > 0 else math.inf
    nets.clear()  # free the nets and inputs before the next size (the closures above hold them)
    x = current0 = None
    gc.collect()
    return out


def est_gb(n: int, t: int, synapse: str) -> float:
    """Rough peak memory of one configuration (inputs, currents, saved tensors, gradients)."""
    return (t * BATCH * N_IN * (4 if synapse == "dense" else 1) + 8 * t * BATCH * n * 4) / 2**30


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({r["n"] for r in results})
    ts = sorted({r["T"] for r in results})
    panels = [
        ("speedup", k, f"vs standard: {k.replace('_', ' ')}") for k in ("total", "forward", "backward", "neuron_total")
    ]
    panels.append(("speedup_vs_sequential", "total", "vs sequential (paper): total"))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.2 * (len(panels) + 1), 3.6))
    for ax, (group, kind, title) in zip(axes, panels):
        grid = torch.full((len(ns), len(ts)), float("nan"))
        for r in results:
            grid[ns.index(r["n"]), ts.index(r["T"])] = r[group][kind]
        im = ax.imshow(grid.numpy(), origin="lower", aspect="auto", cmap="viridis")
        lo, hi = float(grid.nan_to_num(math.inf).min()), float(grid.nan_to_num(-math.inf).max())
        for i in range(len(ns)):
            for j in range(len(ts)):
                if not math.isnan(grid[i, j]):
                    dark = hi > lo and (grid[i, j] - lo) / (hi - lo) > 0.6  # light cells get dark text
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=7, color="k" if dark else "w")
        ax.set_xticks(range(len(ts)), [str(t) for t in ts], rotation=90)
        ax.set_yticks(range(len(ns)), [str(n) for n in ns])
        ax.set_xlabel("steps T")
        ax.set_ylabel("units n")
        ax.set_title(f"fastsnn speedup {title}", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes[-1]
    n0 = 200 if 200 in ns else ns[0]
    rows = sorted((r for r in results if r["n"] == n0), key=lambda r: r["T"])
    for group, kind, title in panels:
        ax.plot(
            [r["T"] for r in rows],
            [r[group][kind] for r in rows],
            marker="o",
            ls="--" if group == "speedup_vs_sequential" else "-",
            label=title,
        )
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("steps T")
    ax.set_ylabel("speedup (baseline / fastsnn)")
    ax.set_title(f"n = {n0}, batch {BATCH}")
    ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="n = 200, T = 8, 32, 128, 3 repeats")
    p.add_argument("--check", action="store_true", help="only check sequential == standard spikes, then exit")
    p.add_argument("--n", default=None, help="comma-separated layer sizes (default 100,200,400,1000)")
    p.add_argument("--T", default=None, help="comma-separated step counts (default 8,16,...,2048)")
    p.add_argument("--rate", type=float, default=0.05, help="input spike probability per step (default 0.05)")
    p.add_argument(
        "--synapse",
        default="event",
        choices=("event", "dense"),
        help="event: bool input spikes (event-driven linear op); dense: float 0/1 matmul",
    )
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--max-gb", type=float, default=8.0, help="skip configurations estimated above this memory")
    p.add_argument("--out", default="benchmarks/results/fastsnn.json")
    p.add_argument("--png", default="benchmarks/results/fastsnn_speedup.png")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    check = check_sequential(args.synapse, rate=args.rate, device=args.device)
    print(
        f"check: sequential == standard spikes ({check['spikes']} spikes), weight grad rel. diff "
        f"{check['max_rel_weight_grad_diff']:.1e}",
        flush=True,
    )
    if args.check:
        return {"check": check}
    ns = [200] if args.quick and args.n is None else [int(v) for v in (args.n or ",".join(map(str, FULL_N))).split(",")]
    ts = (
        [8, 32, 128]
        if args.quick and args.T is None
        else [int(v) for v in (args.T or ",".join(map(str, FULL_T))).split(",")]
    )
    repeats = 3 if args.quick else args.repeats
    results, skipped = [], []
    for n in ns:
        for t in ts:
            if est_gb(n, t, args.synapse) > args.max_gb:
                skipped.append({"n": n, "T": t, "estimated_gb": est_gb(n, t, args.synapse)})
                continue
            r = bench_one(n, t, args.rate, args.synapse, repeats, device=args.device)
            results.append(r)
            ms = {k: f"{r[k]['forward_s'] * 1e3:.1f}+{r[k]['backward_s'] * 1e3:.1f}" for k in CONTENDERS}
            sp, sq = r["speedup"], r["speedup_vs_sequential"]
            print(
                f"n={n:5d} T={t:5d}  ms fwd+bwd: sequential {ms['sequential']}  standard {ms['standard']}  "
                f"fastsnn {ms['fastsnn']}  | fastsnn speedup vs standard {sp['total']:.2f} "
                f"(fwd {sp['forward']:.2f}, bwd {sp['backward']:.2f}; neurons {sp['neuron_total']:.1f})  "
                f"vs sequential {sq['total']:.2f} (fwd {sq['forward']:.2f}, bwd {sq['backward']:.2f})",
                flush=True,
            )
    payload = {
        "benchmark": "fastsnn",
        "device": args.device,
        "contenders": list(CONTENDERS),
        "inputs": N_IN,
        "batch_size": BATCH,
        "rate": args.rate,
        "synapse": args.synapse,
        "leak": LEAK,
        "repeats": repeats,
        "native_kernels": native_status(),
        "check": check,
        "results": results,
        "skipped": skipped,
        **machine_info(args.threads, args.device),
    }
    write_json(ROOT / args.out if not Path(args.out).is_absolute() else args.out, payload)
    if results:
        plot(results, ROOT / args.png if not Path(args.png).is_absolute() else Path(args.png))
    return payload


if __name__ == "__main__":
    main()
