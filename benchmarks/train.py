"""Training speed: one BPTT step (forward + backward + Adam) of a LIF 784-800-10 network.

T = 25, batch 128, Bernoulli input (p = pixel) from MNIST, LIF with leak 0.9 and reset by
subtraction, arctan surrogate, cross-entropy on output spike counts. Contenders, each in
its own subprocess (so that peak memory is its own), in one run:

- ``snnsim``: the fast engine's differentiable path (custom autograd multi-step LIF);
- ``spikingjelly``: SpikingJelly multi-step LIFNode (torch; SpikingJelly 2.0 has no backend switch);
- ``snntorch``: snnTorch ``Leaky`` in the usual per-step loop (when installed).

Run: ``.venv/bin/python benchmarks/train.py [--threads 2] [--device cuda] [--out benchmarks/results/train.json]``
(``pip install -e .[bench]`` installs the peers).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T, BATCH, N_IN, N_HID, N_OUT, LEAK = 25, 128, 784, 800, 10, 0.9


def batch_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from snnsim.data.datasets import load_dataset

    try:
        data = load_dataset("mnist10k")
    except FileNotFoundError:
        data = load_dataset("digits")
    x, y = data.train.x[:BATCH], data.train.y[:BATCH]
    g = torch.Generator().manual_seed(seed)
    spikes = torch.rand((T, *x.shape), generator=g) < x  # [T, B, 1, 28, 28] bool
    return spikes, y


def make_snnsim(device: str = "cpu"):
    from networks import fc
    from snnsim.core.surrogate import ArcTan
    from snnsim.engine import forward

    net = fc([N_IN, N_HID, N_OUT], input_shape=(1, 28, 28), neuron="lif", leak=LEAK, reset="subtract")
    for layer in list(net.layers.values())[1:]:
        layer.surrogate = ArcTan(2.0)
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        return forward(net, spikes).spikes["out"].sum(0)

    return params, step_fn


def make_spikingjelly(device: str = "cpu"):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    model = torch.nn.Sequential(
        layer.Flatten(step_mode="m"),
        layer.Linear(N_IN, N_HID, bias=False, step_mode="m"),
        neuron.LIFNode(
            tau=1 / (1 - LEAK), decay_input=False, v_reset=None, surrogate_function=surrogate.ATan(), step_mode="m"
        ),
        layer.Linear(N_HID, N_OUT, bias=False, step_mode="m"),
        neuron.LIFNode(
            tau=1 / (1 - LEAK), decay_input=False, v_reset=None, surrogate_function=surrogate.ATan(), step_mode="m"
        ),
    ).to(device)

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        functional.reset_net(model)
        return model(spikes.float()).sum(0)

    return list(model.parameters()), step_fn


def make_snntorch(device: str = "cpu"):
    import snntorch as snn
    from snntorch import surrogate

    fc1 = torch.nn.Linear(N_IN, N_HID, bias=False).to(device)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False).to(device)
    lif1 = snn.Leaky(beta=LEAK, spike_grad=surrogate.atan(), reset_mechanism="subtract").to(device)
    lif2 = snn.Leaky(beta=LEAK, spike_grad=surrogate.atan(), reset_mechanism="subtract").to(device)

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        x = spikes.float().flatten(2)
        mem1 = torch.zeros(x.shape[1], N_HID, device=x.device)
        mem2 = torch.zeros(x.shape[1], N_OUT, device=x.device)
        counts = 0
        for t in range(x.shape[0]):
            s1, mem1 = lif1(fc1(x[t]), mem1)
            s2, mem2 = lif2(fc2(s1), mem2)
            counts = counts + s2
        return counts

    return list(fc1.parameters()) + list(fc2.parameters()), step_fn


CONTENDERS = {"snnsim": make_snnsim, "spikingjelly": make_spikingjelly, "snntorch": make_snntorch}


def run_one(name: str, threads: int, steps: int, device: str = "cpu") -> dict:
    from benchmarks.common import sync

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spikes, y = (t.to(device) for t in batch_data())
    params, step_fn = CONTENDERS[name](device)
    opt = torch.optim.Adam(params, lr=1e-3)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def one() -> float:
        out = step_fn(spikes)
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(2):
        one()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    losses = [one() for _ in range(steps)]  # float(loss) waits for the device every step
    sync(device)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {
        "steps_per_s": steps / dt,
        "seconds_per_step": dt / steps,
        "steps": steps,
        "peak_rss_growth_mb": (rss1 - rss0) / 1024,
        "peak_rss_mb": rss1 / 1024,
        "last_loss": losses[-1],
    }
    if device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    p.add_argument("--out", default="benchmarks/results/train.json")
    args = p.parse_args(argv)
    if args.contender:
        print(json.dumps(run_one(args.contender, args.threads, args.steps, args.device)))
        return {}
    results = {}
    for name in CONTENDERS:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--contender",
                name,
                "--threads",
                str(args.threads),
                "--steps",
                str(args.steps),
                "--device",
                args.device,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            results[name] = {"skipped": last}
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = results["snnsim"]["steps_per_s"]
    ratios = {
        f"snnsim_vs_{k}": ours / v["steps_per_s"] for k, v in results.items() if k != "snnsim" and "steps_per_s" in v
    }
    from benchmarks.common import cpu_info, machine_info, write_json

    payload = {
        "benchmark": "train",
        "network": "LIF 784-800-10",
        "timesteps": T,
        "batch_size": BATCH,
        "device": args.device,
        "results": results,
        "ratios": ratios,
        **machine_info(args.threads, args.device),
        **cpu_info(),
    }
    write_json(args.out, payload)
    for k, v in results.items():
        print(
            f"{k:13s} "
            + (
                f"{v['steps_per_s']:.2f} steps/s, peak RSS growth {v['peak_rss_growth_mb']:.0f} MB"
                if "steps_per_s" in v
                else f"skipped: {v['skipped']}"
            )
        )
    print("ratios:", {k: round(v, 2) for k, v in ratios.items()}, f"-> {args.out}")
    return payload


if __name__ == "__main__":
    main()
