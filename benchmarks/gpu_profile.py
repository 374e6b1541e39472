"""Where the time of one forward pass and one BPTT step goes on a GPU (torch.profiler): snnsim's
fast engine and SpikingJelly on the LIF 784-800-10 of benchmarks/density.py (T = 25, batch 128).

Run: ``python benchmarks/gpu_profile.py [--device cuda] [--density 0.13] [--out FILE.json]``;
prints the top operators by self device time and by self CPU time, and the wall time per call.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine_info, sync, write_json
from benchmarks.density import build, make_batch


def _wall_ms(fn, device: str, repeats: int = 20) -> float:
    fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / repeats * 1e3


def profile_one(name: str, device: str, density: float, rows: int) -> dict:
    train, forward = build(name, device)
    batch = make_batch(density, device)
    out = {}
    for what, fn in (("forward", lambda: forward(batch[0])), ("train", lambda: train(batch))):
        out[f"{what}_ms"] = _wall_ms(fn, device)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with profile(activities=acts) as prof:
            fn()
            sync(device)
        ka = prof.key_averages()
        key = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
        top = sorted(ka, key=lambda e: getattr(e, key, 0), reverse=True)[:rows]
        out[f"{what}_top"] = [
            {
                "op": e.key,
                "calls": e.count,
                "self_device_us": getattr(e, "self_device_time_total", 0),
                "self_cpu_us": e.self_cpu_time_total,
            }
            for e in top
        ]
        out[f"{what}_launches"] = sum(e.count for e in ka if getattr(e, "self_device_time_total", 0) > 0)
        print(f"\n== {name} {what}: {out[f'{what}_ms']:.3f} ms per call, {out[f'{what}_launches']} device ops")
        print(ka.table(sort_by=key, row_limit=rows))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--density", type=float, default=0.13)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--contenders", nargs="+", default=["snnsim", "spikingjelly"])
    p.add_argument("--out", default="benchmarks/results/gpu/profile.json")
    args = p.parse_args(argv)
    results = {n: profile_one(n, args.device, args.density, args.rows) for n in args.contenders}
    payload = {
        "benchmark": "gpu_profile",
        "device": args.device,
        "density": args.density,
        "results": results,
        **machine_info(torch.get_num_threads(), args.device),
    }
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
