"""Speed against input spike density: snnsim's fast engine vs SpikingJelly and snnTorch.

One BPTT training step (forward, backward, Adam) of LIF 784-800-10, T = 25, batch 128, and
the forward pass alone (no autograd), on random Bernoulli input of density d (the fraction of
input neuron-steps that spike). The networks are benchmarks/train.py's builders (SpikingJelly
multi-step LIFNode, torch backend; snnTorch Leaky in a step loop). All contenders run in one
process, repetitions interleaved (every density and contender once per round), median time.
``snnsim_events_only`` is snnsim with every linear op forced onto the event-driven path (its
behaviour before the density-adaptive choice of :mod:`snnsim.core.density`).

Run: ``.venv/bin/python benchmarks/density.py --threads 2 [--repeats 5] [--device cpu]``
-> ``benchmarks/results/density.json`` and ``benchmarks/results/density_speedup.png``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_info, machine_info, sync, write_json
from benchmarks.train import BATCH, CONTENDERS, N_HID, N_IN, N_OUT, T

DENSITIES = (0.01, 0.05, 0.13, 0.3, 0.5, 0.6)
StepFn = Callable[[torch.Tensor], torch.Tensor]


EVENTS_ONLY = "snnsim_events_only"
#: snnsim with the forward pass and the training step replayed from CUDA graphs (CUDA only)
GRAPHED = "snnsim_graphed"


def _always_events(step_fn: StepFn) -> StepFn:
    from snnsim.core.density import ALWAYS_EVENTS, use_cost_model

    def run(spikes: torch.Tensor) -> torch.Tensor:
        with use_cost_model(ALWAYS_EVENTS):
            return step_fn(spikes)

    return run


def build(name: str, device: str) -> tuple[Callable[[torch.Tensor], None], StepFn]:
    """(train step, forward) closures of contender ``name`` on ``device``."""
    from snnsim.engine.cuda_graph import Graphed

    torch.manual_seed(0)
    params, step_fn = CONTENDERS[name if name in CONTENDERS else "snnsim"](device)
    if name == EVENTS_ONLY:  # snnsim before the density-adaptive choice: always event-driven
        step_fn = _always_events(step_fn)
    opt = torch.optim.Adam(params, lr=1e-3, capturable=name == GRAPHED)

    def train_step(spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(step_fn(spikes), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def forward(spikes: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return step_fn(spikes)

    if name == GRAPHED:
        train_step, forward = Graphed(train_step), Graphed(forward)
    return (lambda batch: train_step(*batch)), forward


def make_batch(d: float, device: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Bernoulli spikes ``[T, B, 1, 28, 28]`` bool of density ``d`` and random labels ``[B]``."""
    g = torch.Generator().manual_seed(seed)
    spikes = torch.rand((T, BATCH, 1, 28, 28), generator=g) < d
    return spikes.to(device), torch.randint(0, N_OUT, (BATCH,), generator=g).to(device)


def _timed(fn: Callable[[], object], device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def measure(names: list[str], densities: tuple[float, ...], repeats: int, device: str) -> dict:
    """``{name: {d: {"train_ms": median, "forward_ms": median}}}``, rounds interleaved."""
    built = {n: build(n, device) for n in names}
    batches = {d: make_batch(d, device) for d in densities}
    times = {n: {d: {"train": [], "forward": []} for d in densities} for n in names}
    for rnd in range(repeats + 1):  # round 0 warms up
        for d in densities:
            for n in names:
                train, forward = built[n]
                t_train = _timed(lambda train=train, d=d: train(batches[d]), device)
                t_fwd = _timed(lambda forward=forward, d=d: forward(batches[d][0]), device)
                if rnd:
                    times[n][d]["train"].append(t_train)
                    times[n][d]["forward"].append(t_fwd)
    return {
        n: {str(d): {f"{k}_ms": 1e3 * statistics.median(v) for k, v in per.items()} for d, per in by_d.items()}
        for n, by_d in times.items()
    }


def ratios(results: dict) -> dict:
    """Per density: snnsim's speedup over each peer and over the fastest peer (> 1: faster)."""
    out: dict = {}
    peers = [n for n in results if not n.startswith("snnsim")]
    for d, ours in results["snnsim"].items():
        row = {}
        for kind in ("train", "forward"):
            key = f"{kind}_ms"
            for p in [*peers, EVENTS_ONLY]:
                if p in results:
                    row[f"{kind}_vs_{p}"] = results[p][d][key] / ours[key]
            if peers:
                row[f"{kind}_vs_fastest_peer"] = min(results[p][d][key] for p in peers) / ours[key]
                if GRAPHED in results:
                    row[f"{kind}_graphed_vs_fastest_peer"] = (
                        min(results[p][d][key] for p in peers) / results[GRAPHED][d][key]
                    )
        out[d] = row
    return out


def markdown_table(results: dict, ratio: dict) -> str:
    """The README table: per density, milliseconds of each contender and snnsim's speedups."""
    names = list(results)
    ds = sorted(ratio, key=float)
    lines = [
        "| d | "
        + " | ".join(f"train ms {n}" for n in names)
        + " | train x SJ | train x fastest peer | "
        + " | ".join(f"fwd ms {n}" for n in names)
        + " | fwd x fastest peer |"
    ]
    lines.append("|" + " --- |" * (2 * len(names) + 4))
    for d in ds:
        tr = " | ".join(f"{results[n][d]['train_ms']:.3g}" for n in names)
        fw = " | ".join(f"{results[n][d]['forward_ms']:.3g}" for n in names)
        r = ratio[d]
        lines.append(
            f"| {d} | {tr} | {r.get('train_vs_spikingjelly', float('nan')):.2f} | "
            f"{r.get('train_vs_fastest_peer', float('nan')):.2f} | {fw} | "
            f"{r.get('forward_vs_fastest_peer', float('nan')):.2f} |"
        )
    if any("train_graphed_vs_fastest_peer" in ratio[d] for d in ds):
        lines += ["", "| d | graphed train x fastest peer | graphed fwd x fastest peer |", "| --- | --- | --- |"]
        for d in ds:
            r = ratio[d]
            lines.append(
                f"| {d} | {r['train_graphed_vs_fastest_peer']:.2f} | {r['forward_graphed_vs_fastest_peer']:.2f} |"
            )
    return "\n".join(lines)


def plot(ratio: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = sorted(ratio, key=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    keys = sorted({k for r in ratio.values() for k in r if "fastest" not in k})
    for k in keys:
        ax.plot(
            [float(d) for d in ds],
            [ratio[d][k] for d in ds],
            marker="o",
            linestyle="-" if k.startswith("train") else "--",
            label=k.replace("_vs_", " vs "),
        )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("input spike density d")
    ax.set_ylabel("speedup of snnsim (x)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads (stated in the JSON)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--densities", type=float, nargs="+", default=list(DENSITIES))
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--calibrate", action="store_true", help="calibrate snnsim's event/dense crossover for the input layer first"
    )
    p.add_argument(
        "--no-events-only",
        action="store_true",
        help=f"skip {EVENTS_ONLY} (snnsim forced onto the event-driven path, as before)",
    )
    p.add_argument("--out", default="benchmarks/results/density.json")
    p.add_argument("--png", default="benchmarks/results/density_speedup.png")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from snnsim.core import density
    from snnsim.native import lif as lif_native

    if args.calibrate:
        from snnsim.engine.calibrate import calibrate

        calibrate(T * BATCH, N_IN, N_HID, device=args.device)
    model = density.cost_model(args.device, T * BATCH, N_IN, N_HID)
    load_before = os.getloadavg()
    names = [*CONTENDERS, *([] if args.no_events_only else [EVENTS_ONLY])]
    if torch.device(args.device).type == "cuda":
        names.append(GRAPHED)
    results = measure(names, tuple(args.densities), args.repeats, args.device)
    ratio = ratios(results)
    payload = {
        "benchmark": "density",
        "network": f"LIF {N_IN}-{N_HID}-{N_OUT}",
        "timesteps": T,
        "batch_size": BATCH,
        "device": args.device,
        "repeats": args.repeats,
        "snnsim_cost_model": {"forward": model.forward, "wgrad": model.wgrad, "calibrated": args.calibrate},
        "lif_kernels": lif_native.gpu_status() if args.device.startswith("cuda") else lif_native.native_status(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "results": results,
        "ratios": ratio,
        **machine_info(args.threads, args.device),
        **cpu_info(),
    }
    write_json(args.out, payload)
    plot(
        ratio,
        Path(args.png),
        f"LIF {N_IN}-{N_HID}-{N_OUT}, T={T}, B={BATCH}, {args.threads} threads, "
        f"{args.device}; load {load_before[0]:.1f}",
    )
    print(markdown_table(results, ratio))
    print(f"load average {load_before} -> {payload['load_average']['after']}; -> {args.out}, {args.png}")
    return payload


if __name__ == "__main__":
    main()
