"""Peak memory of one BPTT step against T: snnsim's fast engine vs SpikingJelly and snnTorch.

LIF 784-800-10 (benchmarks/train.py's networks), batch 128, random Bernoulli input of density
0.13; one training step (forward, backward, Adam) after one warm-up step at T = 25, each
contender and T in its own subprocess, so that the peak resident memory (ru_maxrss) is its own.
Reported: the growth of the peak over the step (MB) and the step's time. ``snnsim_segment50``
is snnsim with its bounded-memory option, BPTT in checkpointed segments of 50 steps
(exact gradients, one extra forward pass).

glibc keeps freed blocks of up to 32 MB in its heap (its mmap threshold grows as they are
freed), so the peak RSS can exceed the live tensors; ``MALLOC_MMAP_THRESHOLD_=1048576`` in the
environment fixes the threshold (recorded in the JSON as ``malloc_mmap_threshold``).

Run: ``.venv/bin/python benchmarks/memory.py --threads 2 [--steps 25 100 250 1000] [--only NAME ...]``
-> ``benchmarks/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_info, machine_info, write_json
from benchmarks.train import BATCH, CONTENDERS, N_OUT

#: snnsim's bounded-memory option: BPTT in checkpointed segments of this many steps
SEGMENT = 50


def make_snnsim_segmented():
    """snnsim's contender with ``forward(..., segment=SEGMENT)`` (snnsim.engine.segments)."""
    from snnsim.engine import bptt_segments

    params, step_fn = CONTENDERS["snnsim"]()

    def segmented(spikes: torch.Tensor) -> torch.Tensor:
        with bptt_segments(SEGMENT):
            return step_fn(spikes)

    return params, segmented


ALL = {**CONTENDERS, f"snnsim_segment{SEGMENT}": make_snnsim_segmented}


def one(name: str, t: int, threads: int) -> dict:
    """One contender's step at ``t`` steps: peak RSS growth (MB) and seconds."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    params, step_fn = ALL[name]()
    opt = torch.optim.Adam(params, lr=1e-3)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)

    def step(steps: int) -> None:
        # drawn 50 steps at a time: a float [T, B, 784] temporary (401 MB at T = 1000) is no part of the step
        spikes = torch.cat(
            [torch.rand((min(50, steps - t0), BATCH, 1, 28, 28), generator=g) < 0.13 for t0 in range(0, steps, 50)]
        )
        loss = torch.nn.functional.cross_entropy(step_fn(spikes), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(25)  # warm-up: lazy allocations, Adam state
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    step(t)
    seconds = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_growth_mb": (rss1 - rss0) / 1024, "peak_rss_mb": rss1 / 1024, "seconds": seconds}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--steps", type=int, nargs="+", default=[25, 100, 250, 1000])
    p.add_argument("--one", nargs=2, metavar=("NAME", "T"), help=argparse.SUPPRESS)
    p.add_argument("--out", default="benchmarks/results/memory.json")
    p.add_argument("--only", nargs="+", choices=list(ALL), help="these contenders only (default: all)")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.threads)))
        return {}
    load = os.getloadavg()
    names = args.only or list(ALL)
    results: dict = {name: {} for name in names}
    for t in args.steps:
        for name in names:
            proc = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--one", name, str(t)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            last = (proc.stdout.strip() or proc.stderr.strip() or "no output").splitlines()[-1]
            results[name][str(t)] = json.loads(last) if proc.returncode == 0 else {"failed": last}
            print(f"T={t:5d} {name:13s} {results[name][str(t)]}", flush=True)
    payload = {
        "benchmark": "memory",
        "batch_size": BATCH,
        "segment": SEGMENT,
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
        "density": 0.13,
        "results": results,
        "load_average": {"before": load, "after": os.getloadavg()},
        **machine_info(args.threads),
        **cpu_info(),
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
