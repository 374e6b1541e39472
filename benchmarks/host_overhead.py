"""snnsim's own host work per call: a training step and a forward pass of a tiny LIF net.

At LIF 16-16-10, T = 25, batch 2 the arithmetic is negligible, so the time is Python, autograd
and dispatch: what an eager GPU step waits on. Compare two checkouts in one session:

    .venv/bin/python -m benchmarks.host_overhead --out benchmarks/results/host_overhead.json
    .venv/bin/python benchmarks/host_overhead.py --root /path/to/other/checkout --out /tmp/other.json

(``--root`` imports snnsim from that checkout). Best of 5 rounds of 100 calls, 1 thread, ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable


def measure(rounds: int = 5, calls: int = 100) -> dict[str, float]:
    """``{"train_step_ms": ..., "forward_ms": ...}``: best of ``rounds`` means over ``calls`` calls."""
    import torch

    import networks
    from snnsim.engine import forward

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = networks.fc([16, 16, 10], input_shape=(1, 4, 4), neuron="lif", leak=0.95, reset="subtract")
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.rand(25, 2, 1, 4, 4) < 0.3, torch.randint(0, 10, (2,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(forward(net, x).spikes["out"].sum(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def fwd() -> None:
        with torch.no_grad():
            forward(net, x)

    out = {}
    for name, fn in (("train_step_ms", step), ("forward_ms", fwd)):
        out[name] = _best(fn, rounds, calls)
    return out


def _best(fn: Callable[[], None], rounds: int, calls: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls * 1e3)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="checkout to import snnsim from")
    p.add_argument("--out", default="benchmarks/results/host_overhead.json")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(args.root).resolve()))
    from benchmarks.common import cpu_info, machine_info, write_json

    result = measure()
    write_json(args.out, {"benchmark": "host_overhead", "root": args.root, **result, **machine_info(1), **cpu_info()})
    print(f"train step {result['train_step_ms']:.3f} ms, forward {result['forward_ms']:.3f} ms -> {args.out}")
    return result


if __name__ == "__main__":
    main()
