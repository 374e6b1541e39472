"""Convolutional SNN training speed: one BPTT step (forward, backward, Adam) against SpikingJelly and snnTorch.

Nets (:mod:`benchmarks.conv_nets`): the LIF LeNet 28x28-20c5-AP2-50c5-AP2-200-10 at T = 20,
batch 32, and the tdBN ResNet-19 at width 0.25 (3x32x32 input) at T = 4, batch 16. Input:
Bernoulli spikes of density d ``[T, B, C, H, W]`` (bool), random labels, cross-entropy. All
contenders run in one process with an explicit thread count; per thread count, every round
runs every (net, density, contender) once (round 0 warms up); the median of the rounds is kept.

``--forward`` also times the forward pass alone (no autograd) of every contender in the same
rounds (issue 29 asks for it on a GPU): ``forward_results`` and ``forward_ratios`` in the JSON.

Run: ``.venv/bin/python -m benchmarks.conv_train --threads 1 2 [--repeats 5] [--forward] [--device cuda]``
-> ``benchmarks/results/conv_train.json`` (CPU model, flags, load average before and after).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_info, machine_info, sync, write_json
from benchmarks.conv_nets import CONTENDERS, MODELS

DENSITIES = (0.05, 0.13, 0.3)
#: speedup over the fastest peer that issue 29 asks for, per net
TARGETS = {"lenet": 2.0, "resnet19": 1.5}
Batch = tuple[torch.Tensor, torch.Tensor]
GRAPHED = "snnsim_graphed"


def make_batch(model: str, d: float, device: str, seed: int = 0) -> Batch:
    """Bernoulli spikes bool ``[T, B, C, H, W]`` of density ``d`` and random labels ``[B]``."""
    cfg = MODELS[model]
    g = torch.Generator().manual_seed(seed)
    spikes = torch.rand((cfg["t"], cfg["batch"], *cfg["shape"]), generator=g) < d
    return spikes.to(device), torch.randint(0, 10, (cfg["batch"],), generator=g).to(device)


def build(
    name: str, model: str, width: float, device: str
) -> tuple[Callable[[Batch], float], Callable[[Batch], object]]:
    """Closures of contender ``name`` on ``model``: one training step (returns the loss) and the
    forward pass alone without autograd. ``snnsim_graphed`` is snnsim's step and forward replayed
    from CUDA graphs (snnsim.engine.cuda_graph)."""
    from snnsim.engine.cuda_graph import Graphed

    torch.manual_seed(0)
    params, step_fn = CONTENDERS["snnsim" if name == GRAPHED else name](model, width, device)
    opt = torch.optim.Adam(params, lr=1e-3, capturable=name == GRAPHED)

    def step(spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(step_fn(spikes), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def forward(spikes: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return step_fn(spikes)

    run, fwd = (Graphed(step), Graphed(forward)) if name == GRAPHED else (step, forward)
    return (lambda batch: float(run(*batch))), (lambda batch: fwd(batch[0]))


def train_step(name: str, model: str, width: float, device: str) -> Callable[[Batch], float]:
    """The training-step closure of :func:`build`."""
    return build(name, model, width, device)[0]


def _timed(fn: Callable[[], object], device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def measure(
    names: list[str],
    models: list[str],
    densities: tuple[float, ...],
    repeats: int,
    device: str,
    width: float,
    forward: bool = False,
) -> dict[str, Any]:
    """``{kind: {model: {name: {d: ms median}}}}`` for kind "train" (and "forward" with ``forward``),
    every round running all of them once."""
    built = {(m, n): build(n, m, width, device) for m in models for n in names}
    batches = {(m, d): make_batch(m, d, device) for m in models for d in densities}
    kinds = ("train", "forward") if forward else ("train",)
    times: dict = {k: {m: {n: {d: [] for d in densities} for n in names} for m in models} for k in kinds}
    for rnd in range(repeats + 1):  # round 0 warms up
        for m in models:
            for d in densities:
                for n in names:
                    for i, k in enumerate(kinds):
                        dt = _timed(lambda f=built[(m, n)][i], b=batches[(m, d)]: f(b), device)
                        if rnd:
                            times[k][m][n][d].append(dt)
        print(f"  round {rnd}/{repeats} done", flush=True)
    return {
        k: {
            m: {n: {str(d): 1e3 * statistics.median(v) for d, v in by_d.items()} for n, by_d in per.items()}
            for m, per in by_m.items()
        }
        for k, by_m in times.items()
    }


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Per net and density: snnsim's speedup over each peer and over the fastest peer (> 1: faster)."""
    out: dict = {}
    for m, per in results.items():
        peers = [n for n in per if not n.startswith("snnsim")]
        out[m] = {}
        for d, ours in per["snnsim"].items():
            row = {f"vs_{p}": per[p][d] / ours for p in peers}
            if peers:
                row["vs_fastest_peer"] = min(per[p][d] for p in peers) / ours
                if GRAPHED in per:
                    row["graphed_vs_fastest_peer"] = min(per[p][d] for p in peers) / per[GRAPHED][d]
            out[m][d] = row
    return out


def markdown_table(by_threads: dict[str, Any], kind: str = "") -> str:
    """One row per (threads, net, density): ms of each contender and snnsim's speedup over the fastest
    peer; ``kind`` "forward" reads ``forward_results`` / ``forward_ratios`` (no target column then)."""
    pre = f"{kind}_" if kind else ""
    lines = [
        "| threads | net | d | snnsim ms | graphed ms | SpikingJelly ms | snnTorch ms | x fastest peer "
        "| graphed x fastest peer | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for th, run in by_threads.items():
        for m, per in run[pre + "results"].items():
            for d in per["snnsim"]:
                ms = [f"{per[n][d]:.3g}" if n in per else "-" for n in ("snnsim", GRAPHED, "spikingjelly", "snntorch")]
                r = run[pre + "ratios"][m][d]
                rs = [f"{r[k]:.2f}" if k in r else "-" for k in ("vs_fastest_peer", "graphed_vs_fastest_peer")]
                target = "-" if kind else f"{TARGETS[m]:g}"
                lines.append(f"| {th} | {m} | {d} | {' | '.join(ms)} | {' | '.join(rs)} | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts, each measured")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--densities", type=float, nargs="+", default=list(DENSITIES))
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    p.add_argument(
        "--contenders",
        nargs="+",
        choices=sorted([*CONTENDERS, GRAPHED]),
        default=list(CONTENDERS),
        help=f"who runs ({GRAPHED}: snnsim's step replayed from a CUDA graph, added by default on CUDA)",
    )
    p.add_argument("--width", type=float, default=0.25, help="ResNet-19 channel multiplier")
    p.add_argument("--forward", action="store_true", help="also time the forward pass alone (no autograd)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--out", default="benchmarks/results/conv_train.json")
    args = p.parse_args(argv)
    if "snnsim" not in args.contenders:
        p.error("--contenders must include snnsim (the ratios are snnsim's)")
    if torch.device(args.device).type == "cuda" and GRAPHED not in args.contenders:
        args.contenders.append(GRAPHED)
    from snnsim.core import layout

    by_threads: dict[str, Any] = {}
    for th in args.threads:
        torch.set_num_threads(th)
        load_before = os.getloadavg()
        print(f"{th} thread(s), load {load_before}", flush=True)
        res = measure(
            args.contenders, args.models, tuple(args.densities), args.repeats, args.device, args.width, args.forward
        )
        by_threads[str(th)] = {"results": res["train"], "ratios": ratios(res["train"])}
        if args.forward:
            by_threads[str(th)].update(forward_results=res["forward"], forward_ratios=ratios(res["forward"]))
        by_threads[str(th)]["load_average"] = {"before": load_before, "after": os.getloadavg()}
    nets = {m: {**MODELS[m], **({"width": args.width} if m == "resnet19" else {})} for m in args.models}
    payload = {
        "benchmark": "conv_train",
        "nets": nets,
        "densities": args.densities,
        "device": args.device,
        "repeats": args.repeats,
        "targets_vs_fastest_peer": TARGETS,
        "snnsim_channels_last": layout.channels_last_enabled(),
        "by_threads": by_threads,
        **machine_info(args.threads[-1], args.device),
        **cpu_info(),
    }
    payload.pop("torch_threads")
    write_json(args.out, payload)
    print(markdown_table(by_threads))
    if args.forward:
        print("forward pass alone:")
        print(markdown_table(by_threads, "forward"))
    print(f"-> {args.out}")
    return payload


if __name__ == "__main__":
    main()
