"""Unsupervised STDP speed: BindsNET's DiehlAndCook2015 learning in Network.run vs snnsim's fast engine.

DiehlAndCook2015(n_inpt=784, n_neurons=N), dt = 1 ms, T steps per image, batch 1, learning on,
one process, ``torch.set_num_threads(threads)``. Two copies of the same network see the same
Poisson spike trains of real MNIST images (mnist10k, max rate 63.75 Hz as in the paper; random
images without the data) in interleaved rounds: each round presents ``images`` images to
BindsNET's ``Network.run(one_step=True)`` (engine "bindsnet", with spike monitors) and then to
the fast engine, torch seeded identically before each run. Reports images/s of each, the ratio,
and whether the weights and thresholds are still bit-identical at the end.

Run: ``.venv/bin/python benchmarks/stdp.py [--threads 1] [--rounds 3] [--images 10] [--out ...]``
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_info, write_json  # noqa: E402
from encoders import poisson  # noqa: E402
from snnsim.engine import simulate  # noqa: E402


def _images(n: int, timesteps: int, rate: float) -> list[torch.Tensor]:
    try:
        from snnsim.data.datasets import load_dataset
        x = load_dataset("mnist10k", limit=n).train.x[:n].reshape(n, -1)
    except Exception:  # noqa: BLE001 - no data here: random intensities
        x = torch.rand(n, 784)
    g = torch.Generator().manual_seed(0)
    return [poisson(x[i:i + 1], timesteps, max_rate=rate, generator=g) for i in range(n)]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--neurons", type=int, default=100)
    p.add_argument("--timesteps", type=int, default=250)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", type=int, default=10, help="images per engine per round")
    p.add_argument("--rate", type=float, default=63.75, help="Poisson max rate in Hz")
    p.add_argument("--out", default="benchmarks/results/stdp.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from bindsnet.models import DiehlAndCook2015
    torch.manual_seed(0)
    ref = DiehlAndCook2015(n_inpt=784, n_neurons=args.neurons, dt=1.0)
    fast = copy.deepcopy(ref)
    images = _images(args.rounds * args.images, args.timesteps, args.rate)
    spent = {"bindsnet": 0.0, "fast": 0.0}
    simulate(copy.deepcopy(fast), images[0], engine="fast", learning=True)  # compile the kernel
    k = 0
    for _ in range(args.rounds):
        for engine, net in (("bindsnet", ref), ("fast", fast)):
            for i in range(args.images):
                torch.manual_seed(1000 + k + i)
                t0 = time.perf_counter()
                simulate(net, images[k + i], engine=engine, learning=True)
                spent[engine] += time.perf_counter() - t0
        k += args.images
    n = args.rounds * args.images
    w = [net.connections[("X", "Ae")].pipeline[0].value for net in (ref, fast)]
    result = {
        "benchmark": "stdp", "net": f"DiehlAndCook2015 784x{args.neurons}", "timesteps": args.timesteps,
        "images": n, "rate_hz": args.rate,
        "bindsnet_images_per_s": n / spent["bindsnet"], "fast_images_per_s": n / spent["fast"],
        "ratio": spent["bindsnet"] / spent["fast"],
        "weights_identical": bool(torch.equal(*w)),
        "theta_identical": bool(torch.equal(ref.layers["Ae"].theta, fast.layers["Ae"].theta)),
        "machine": machine_info(args.threads),
    }
    print({k: v for k, v in result.items() if k != "machine"})
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
