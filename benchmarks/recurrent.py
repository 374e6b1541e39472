"""Recurrent SNN speed (issue 16 item 8): an SHD-sized net in snnsim, BindsNET, snnTorch and SpikingJelly.

Network: 700 inputs -> 256 LIF (leak 0.95, threshold 1, reset by subtraction) with a dense
recurrent weight matrix (the previous step's spikes) -> 20 LIF; T = 100, batch 64, Bernoulli
input of density 0.05 (SHD-like sparsity), no biases.

- forward (no autograd): snnsim's fast engine (``simulate``) against BindsNET ``Network.run``
  (``simulate(engine="bindsnet")``) on the same network object;
- one BPTT training step (forward, cross-entropy of the output spike counts, backward, Adam):
  snnsim (``snnsim.engine.forward``, ArcTan surrogate) against snnTorch ``RLeaky`` (all-to-all
  recurrent ``Linear``) + ``Leaky`` in the usual step loop, and SpikingJelly single-step
  ``LIFNode`` (torch backend) in a step loop with the input projection of all steps in one matmul.

All contenders run in one process, repetitions interleaved (each contender once per round),
median time; ``--threads`` is required and stated in the JSON with the CPU model/flags and
the load average. Run: ``.venv/bin/python benchmarks/recurrent.py --threads 1``
-> ``benchmarks/results/recurrent.json``.
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

from benchmarks.common import cpu_info, machine_info, write_json

T, BATCH, N_IN, N_HID, N_OUT, LEAK, DENSITY = 100, 64, 700, 256, 20, 0.95, 0.05
Batch = tuple[torch.Tensor, torch.Tensor]


def make_batch(seed: int = 0) -> Batch:
    """Bernoulli spikes ``[T, B, N_IN]`` bool of density :data:`DENSITY` and random labels ``[B]``."""
    g = torch.Generator().manual_seed(seed)
    spikes = torch.rand((T, BATCH, N_IN), generator=g) < DENSITY
    return spikes, torch.randint(0, N_OUT, (BATCH,), generator=g)


def snnsim_net():
    """The snnsim spec network: input -> h (LIF, self-connection) -> out (LIF)."""
    from snnsim.core.spec import build_network
    from snnsim.core.surrogate import ArcTan

    lif = {"type": "lif", "leak": LEAK, "thresh": 1.0, "reset": "subtract"}
    spec = {
        "dt": 1.0,
        "layers": [{"name": "input", "type": "input", "shape": [N_IN]}, {"name": "h", **lif}, {"name": "out", **lif}],
        "connections": [
            {"source": s, "target": t, "ops": [{"op": "linear", "out_features": n, "bias": False}]}
            for s, t, n in (("input", "h", N_HID), ("h", "h", N_HID), ("h", "out", N_OUT))
        ],
    }
    torch.manual_seed(0)
    net = build_network(spec)
    with torch.no_grad():  # enough drive that the hidden layer spikes (~5-15 % of neuron-steps)
        net.connections["input", "h"].layers[0].weight.mul_(6.0)
    for name in ("h", "out"):
        net.layers[name].surrogate = ArcTan(2.0)
    return net


def make_snnsim():
    from snnsim.engine import forward

    net = snnsim_net()

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        return forward(net, spikes, record_voltage=[]).spikes["out"].sum(0)

    return [p for p in net.parameters() if p.requires_grad], step_fn


def make_snntorch():
    import snntorch as snn
    from snntorch import surrogate

    torch.manual_seed(0)
    fc1 = torch.nn.Linear(N_IN, N_HID, bias=False)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    rlif = snn.RLeaky(
        beta=LEAK, linear_features=N_HID, all_to_all=True, spike_grad=surrogate.atan(), reset_mechanism="subtract"
    )
    rlif.recurrent.bias = None  # no recurrent bias, as in the others
    lif = snn.Leaky(beta=LEAK, spike_grad=surrogate.atan(), reset_mechanism="subtract")

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        spk1, mem1 = rlif.init_rleaky()
        mem2 = lif.init_leaky()
        counts = 0
        x = spikes.float()
        for t in range(x.shape[0]):
            spk1, mem1 = rlif(fc1(x[t]), spk1, mem1)
            s2, mem2 = lif(fc2(spk1), mem2)
            counts = counts + s2
        return counts

    return list(fc1.parameters()) + list(fc2.parameters()) + list(rlif.parameters()), step_fn


def make_spikingjelly():
    from spikingjelly.activation_based import functional, neuron, surrogate

    torch.manual_seed(0)
    fc1 = torch.nn.Linear(N_IN, N_HID, bias=False)
    rec = torch.nn.Linear(N_HID, N_HID, bias=False)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    kw = dict(tau=1 / (1 - LEAK), decay_input=False, v_reset=None, surrogate_function=surrogate.ATan(), step_mode="s")
    lif1, lif2 = neuron.LIFNode(**kw), neuron.LIFNode(**kw)
    model = torch.nn.ModuleList([fc1, rec, fc2, lif1, lif2])

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        functional.reset_net(model)
        x1 = fc1(spikes.float())  # [T, B, N_HID], all steps in one matmul
        s1 = torch.zeros(BATCH, N_HID)
        counts = 0
        for t in range(x1.shape[0]):
            s1 = lif1(x1[t] + rec(s1))
            counts = counts + lif2(fc2(s1))
        return counts

    return list(model.parameters()), step_fn


TRAIN = {"snnsim": make_snnsim, "snntorch": make_snntorch, "spikingjelly": make_spikingjelly}


def train_step(make: Callable) -> Callable[[Batch], None]:
    """A closure running one BPTT step (forward, cross-entropy of spike counts, backward, Adam)."""
    params, step_fn = make()
    opt = torch.optim.Adam(params, lr=1e-3)

    def step(batch: Batch) -> None:
        loss = torch.nn.functional.cross_entropy(step_fn(batch[0]), batch[1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def forward_runs(batch: Batch) -> dict[str, Callable[[], object]]:
    """snnsim fast engine and BindsNET ``Network.run`` on one network, and a spike check."""
    from snnsim.engine import simulate

    net = snnsim_net()
    a = simulate(net, batch[0]).spikes
    b = simulate(net, batch[0], engine="bindsnet").spikes
    if any(not torch.equal(a[k].bool(), b[k].bool()) for k in a):
        raise AssertionError("fast and bindsnet engines disagree on the benchmark network")
    rate = float(a["h"].float().mean())
    print(f"forward spikes identical in both engines; hidden firing rate {rate:.3f} per neuron-step")
    return {"snnsim": lambda: simulate(net, batch[0]), "bindsnet": lambda: simulate(net, batch[0], engine="bindsnet")}


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(repeats: int) -> dict:
    """``{"forward": {name: median_ms}, "train": {name: median_ms}}``, rounds interleaved."""
    batch = make_batch()
    fwd = forward_runs(batch)
    steps = {n: train_step(make) for n, make in TRAIN.items()}
    times: dict[str, dict[str, list[float]]] = {"forward": {n: [] for n in fwd}, "train": {n: [] for n in steps}}
    for rnd in range(repeats + 1):  # round 0 warms up
        for n, fn in fwd.items():
            dt = _timed(fn)
            if rnd:
                times["forward"][n].append(dt)
        for n, fn in steps.items():
            dt = _timed(lambda fn=fn: fn(batch))
            if rnd:
                times["train"][n].append(dt)
    return {
        kind: {n: {"median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v)} for n, v in per.items()}
        for kind, per in times.items()
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads (stated in the JSON)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/recurrent.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    results = measure(args.repeats)
    fwd, train = results["forward"], results["train"]
    peers = [n for n in train if n != "snnsim"]
    fastest = min(peers, key=lambda n: train[n]["median_ms"])
    ratios = {
        "forward_vs_bindsnet": fwd["bindsnet"]["median_ms"] / fwd["snnsim"]["median_ms"],
        **{f"train_vs_{n}": train[n]["median_ms"] / train["snnsim"]["median_ms"] for n in peers},
        "train_vs_fastest_peer": train[fastest]["median_ms"] / train["snnsim"]["median_ms"],
        "fastest_peer": fastest,
    }
    payload = {
        "benchmark": "recurrent",
        "network": f"LIF {N_IN}-{N_HID}(recurrent)-{N_OUT}",
        "timesteps": T,
        "batch_size": BATCH,
        "input_density": DENSITY,
        "repeats": args.repeats,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "results": results,
        "ratios": ratios,
        **machine_info(args.threads),
        **cpu_info(),
    }
    write_json(args.out, payload)
    for kind, per in results.items():
        print(kind + ": " + ", ".join(f"{n} {r['median_ms']:.1f} ms" for n, r in per.items()))
    print(" ".join(f"{k} {v:.2f}x" if isinstance(v, float) else f"{k} {v}" for k, v in ratios.items()))
    print(f"load average {load_before} -> {payload['load_average']['after']}; -> {args.out}")
    return payload


if __name__ == "__main__":
    main()
