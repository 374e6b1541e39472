"""A trained ReLU ANN mapped exactly onto TTFS (Stanojevic et al. 2024): accuracy, logit
difference and informative spikes per neuron on the held-out split.

    .venv/bin/python benchmarks/ttfs_mapping.py --ann R/vgg_ann --dataset mnist10k --threads 1 \
        [--simulate 200 --engine bindsnet]

The ANN (an ``snnsim train-ann`` checkpoint, e.g. ``--net vgg --bias --no-output-relu``) runs
in float64; :func:`snnsim.methods.ttfs.from_relu` maps it with windows calibrated on the
first 2,000 training images (as ``snnsim train --method ttfs --from-relu`` does), and the
exact TTFS forward pass runs on every held-out image. ``--simulate N`` also simulates the
first N held-out images in discrete time in an engine (the step-by-step BindsNET engine
keeps every layer's state per step, so a conv net fits only part of the held-out set).
Writes ``benchmarks/results/ttfs_mapping.json`` (or ``--json``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import cpu_info, machine_info
from snnsim.core.io import atomic_write_json
from snnsim.data.datasets import Split, load_dataset
from snnsim.methods.ttfs import (
    SpikeStats,
    from_relu,
    sim_dt,
    simulate_ttfs,
    ttfs_forward,
    windows,
)
from snnsim.training.ann import load_ann

CALIBRATION = 2000


@torch.no_grad()
def evaluate_mapping(ann: torch.nn.Module, train: Split, test: Split, batch_size: int = 500) -> tuple[Any, dict]:
    """Map ``ann`` (float64) and compare it with the exact TTFS net on ``test`` (x ``[N, C, H, W]``).
    Returns (TTFS network, figures: accuracies, largest |logit difference|, spike summary)."""
    ann = ann.double().eval()
    net = from_relu(ann, train.x[:CALIBRATION].double())
    stats, diff, ann_ok, ttfs_ok, agree = SpikeStats(), 0.0, 0, 0, 0
    for x, y in test.batches(batch_size):
        x = x.double()
        ref, res = ann(x), ttfs_forward(net, x)
        stats.add_result(res)
        diff = max(diff, float((res.logits - ref).abs().max()))
        ann_ok += int((ref.argmax(1) == y).sum())
        ttfs_ok += int((res.logits.argmax(1) == y).sum())
        agree += int((ref.argmax(1) == res.logits.argmax(1)).sum())
    n = len(test)
    summary = stats.summary(net)
    return net, {
        "ann_accuracy": ann_ok / n,
        "ttfs_accuracy": ttfs_ok / n,
        "argmax_agreement": agree / n,
        "max_logit_difference": diff,
        "spikes_per_neuron": summary["spikes_per_neuron"],
        "spikes_per_neuron_hidden": summary["spikes_per_neuron_hidden"],
        "layers": {k: v["spikes_per_neuron"] for k, v in summary["layers"].items()},
        "windows": windows(net),
        "test_samples": n,
    }


@torch.no_grad()
def simulate_part(net: Any, test: Split, n: int, engine: str, steps_per_window: int, batch_size: int) -> dict[str, Any]:
    """Accuracy of the float32 network simulated in discrete time on the first ``n`` held-out images."""
    net = net.float()
    dt = sim_dt(net, steps_per_window)
    ok, t0 = 0, time.perf_counter()
    part = Split(test.x[:n], test.y[:n])
    for x, y in part.batches(batch_size):
        sim = simulate_ttfs(net, x.float(), dt=dt, engine=engine)
        ok += int((sim.logits.argmax(1) == y).sum())
        timesteps = sim.timesteps
    return {
        "engine": engine,
        "samples": len(part),
        "accuracy": ok / len(part),
        "dt": dt,
        "timesteps": timesteps,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ann", required=True, help="snnsim train-ann checkpoint directory")
    p.add_argument("--dataset", default="mnist10k")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--simulate", type=int, default=0, metavar="N", help="simulate the first N held-out images")
    p.add_argument("--engine", default="bindsnet", choices=("fast", "bindsnet"))
    p.add_argument("--steps-per-window", type=int, default=16)
    p.add_argument("--sim-batch", type=int, default=20)
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "ttfs_mapping.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    ann = load_ann(args.ann)
    net, figures = evaluate_mapping(ann, data.train, data.test)
    print({k: v for k, v in figures.items() if k != "layers"})
    if args.simulate:
        figures["simulated"] = simulate_part(
            net, data.test, args.simulate, args.engine, args.steps_per_window, args.sim_batch
        )
        print(figures["simulated"])
    atomic_write_json(
        Path(args.json),
        {
            "ann": args.ann,
            "ann_net": ann.net,
            "dataset": args.dataset,
            **figures,
            **machine_info(args.threads),
            **cpu_info(),
            "load_average": list(__import__("os").getloadavg()),
        },
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
