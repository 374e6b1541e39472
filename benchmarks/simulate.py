"""Simulation speed: snnsim's fast engine vs BindsNET ``Network.run`` on the FC net.

The Diehl FC net 784-1200-1200-10 (IF, threshold 1, reset to zero), batch 100, T = 100,
Poisson input from real MNIST images (mnist10k when available, else digits), the same
weights and the same input spikes for every contender, measured in one run:

- ``bindsnet_stock``: the network built from stock BindsNET classes (``Input``,
  ``IFNodes``, dense ``Connection``), ``Network.run(one_step=True)`` with spike monitors;
- ``snnsim_bindsnet``: snnsim's Network run by BindsNET's ``Network.run`` (engine "bindsnet");
- ``snnsim_fast``: the same snnsim Network in the fast engine.

Weights: ``random`` (nn.Linear's default init, which gives a few % of neurons firing per
step, typical of converted nets) or ``--checkpoint DIR`` (a saved snnsim network).

Run: ``.venv/bin/python benchmarks/simulate.py [--threads 2] [--out benchmarks/results/simulate.json]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networks
from benchmarks.common import machine_info, run_stock, stock_bindsnet_fc, time_call, write_json
from encoders import poisson
from snnsim.core.io import load_network
from snnsim.data.datasets import load_dataset
from snnsim.engine import simulate


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--timesteps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-rate", type=float, default=500.0, help="Poisson max rate in Hz (dt 1 ms)")
    p.add_argument("--checkpoint", default=None, help="saved snnsim FC network (default: random weights)")
    p.add_argument("--out", default="benchmarks/results/simulate.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    try:
        data = load_dataset("mnist10k")
    except FileNotFoundError:
        data = load_dataset("digits")
    x = data.test.x[: args.batch_size]
    spikes = poisson(x, args.timesteps, max_rate=args.max_rate, generator=torch.Generator().manual_seed(0))

    net = load_network(args.checkpoint) if args.checkpoint else networks.diehl_fc()
    weights = [c.layers[0].weight.detach() for c in net.connections.values()]
    stock = stock_bindsnet_fc(weights, tuple(x.shape[1:]))

    with torch.no_grad():
        ref = run_stock(stock, spikes)
        ours = simulate(net, spikes, engine="fast")
    names = list(net.layers)
    agree = {}
    for ours_name, stock_name in zip(names, stock.layers):
        a, b = ours.spikes[ours_name].reshape(ref[stock_name].shape), ref[stock_name]
        agree[ours_name] = float((a == b).float().mean())
    density = {n: float(s.float().mean()) for n, s in ours.spikes.items()}

    def stock_run() -> None:
        with torch.no_grad():
            run_stock(stock, spikes)

    results = {
        "bindsnet_stock": time_call(stock_run, args.repeats),
        "snnsim_bindsnet": time_call(lambda: simulate(net, spikes, engine="bindsnet"), args.repeats),
        "snnsim_fast": time_call(lambda: simulate(net, spikes, engine="fast"), args.repeats),
    }
    for r in results.values():
        r["samples_per_s"] = args.batch_size / r["median_s"]
    base = results["bindsnet_stock"]["samples_per_s"]
    payload = {
        "benchmark": "simulate",
        "network": "fc 784-1200-1200-10 IF (reset to zero)",
        "weights": args.checkpoint or "random (nn.Linear default init)",
        "dataset": data.name,
        "batch_size": args.batch_size,
        "timesteps": args.timesteps,
        "max_rate_hz": args.max_rate,
        "spike_density": density,
        "spike_agreement_with_stock_bindsnet": agree,
        "results": results,
        "ratio_fast_vs_bindsnet_stock": results["snnsim_fast"]["samples_per_s"] / base,
        "ratio_snnsim_bindsnet_vs_bindsnet_stock": results["snnsim_bindsnet"]["samples_per_s"] / base,
        **machine_info(args.threads),
    }
    write_json(args.out, payload)
    print(
        f"samples/s: bindsnet stock {base:.1f}, snnsim[bindsnet] "
        f"{results['snnsim_bindsnet']['samples_per_s']:.1f}, snnsim[fast] "
        f"{results['snnsim_fast']['samples_per_s']:.1f}  -> fast/bindsnet = "
        f"{payload['ratio_fast_vs_bindsnet_stock']:.2f}x  ({args.out})"
    )
    print("spike density:", {k: round(v, 4) for k, v in density.items()})
    print("agreement with stock BindsNET:", {k: round(v, 6) for k, v in agree.items()})
    return payload


if __name__ == "__main__":
    main()
