"""Spike-based BP (Lee et al. 2020): one training step (forward + backward) with the torch path
of MultiStepNeuron (``SNNSIM_NATIVE=0``) against the native Lee kernels (``SNNSIM_NATIVE=1``), in
one process, rounds interleaved, at 1 and 2 threads, for LeNet and FC 784-800-10.

    python -m benchmarks.spikebp --out benchmarks/results/spikebp.json
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch

from benchmarks.common import cpu_info, machine_info, write_json
from snnsim.methods.spikebp.rule import SpikeBP


def step_seconds(rule: SpikeBP, net: Any, x: torch.Tensor, y: torch.Tensor, native: bool) -> float:
    """Wall time of one forward + backward pass on ``x [B, 1, 28, 28]`` with the given path."""
    os.environ["SNNSIM_NATIVE"] = "1" if native else "0"
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    loss = rule.loss(rule.outputs(net, rule.encode(x, gen)), y)
    loss.backward()
    seconds = time.perf_counter() - start
    net.zero_grad(set_to_none=True)
    return seconds


def bench(net_name: str, threads: int, timesteps: int, batch: int, rounds: int) -> dict[str, Any]:
    """Median step time of each path over ``rounds`` interleaved rounds (after one warm-up each)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rule = SpikeBP(timesteps=timesteps, hidden=(800,))
    net = rule.build(net_name, (1, 28, 28), 10)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    times: dict[bool, list[float]] = {False: [], True: []}
    for native in (False, True):
        step_seconds(rule, net, x, y, native)
    for r in range(rounds):
        for native in (False, True) if r % 2 == 0 else (True, False):
            times[native].append(step_seconds(rule, net, x, y, native))
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {
        "net": net_name,
        "threads": threads,
        "timesteps": timesteps,
        "batch": batch,
        "rounds": rounds,
        "torch_s": med[False],
        "native_s": med[True],
        "speedup": med[False] / med[True],
        "all_torch_s": times[False],
        "all_native_s": times[True],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timesteps", "-T", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/spikebp.json")
    args = p.parse_args()
    rows = []
    for net_name in ("lenet", "fc"):
        for threads in (1, 2):
            row = bench(net_name, threads, args.timesteps, args.batch, args.rounds)
            print(
                f"{net_name} {threads} thread(s): torch {row['torch_s']:.3f} s, native {row['native_s']:.3f} s, "
                f"{row['speedup']:.2f}x",
                flush=True,
            )
            rows.append(row)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    write_json(
        args.out,
        {
            "benchmark": "spikebp",
            "machine": machine_info(torch.get_num_threads()),
            **cpu_info(),
            "loadavg_1_5_15": load,
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
