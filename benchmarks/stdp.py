"""STDP benchmark: BindsNET's Diehl & Cook (2015) network learning on MNIST, images per second.

The network is BindsNET's ``DiehlAndCook2015(n_inpt=784, n_neurons=N, exc=22.5, inh=17.5,
dt=1.0, norm=78.4, theta_plus=0.05)`` with its other defaults (PostPre STDP, nu = (1e-4,
1e-2), weights in [0, 1], tc_theta_decay 1e7), N = ``--neurons`` (100 and 400). Each image is
``--time`` (250) steps of Poisson input (``bindsnet.encoding.poisson`` of pixel * ``--intensity``
(128) Hz, as BindsNET's ``examples/mnist/eth_mnist.py``) followed by ``--rest`` (150) steps of
no input (the paper's resting period; 0 for none); batch 1, learning on; after each image
the state is reset as ``eth_mnist.py`` does (theta kept). Images: mnist10k (the official
MNIST test set from ``../shared/data/mnist``; snnsim's digits fallback where it is missing).
The initial input weights (``0.3 * rand``) are normalised to the per-neuron sum 78.4 before
the first image so that every contender starts from the same weights.

Contenders, in the same run, rounds interleaved (each round: every contender presents the
next ``--images`` images), after untimed check images (``--check-images``, at least one: the
warm-up):

- ``bindsnet``: ``Network.run(inputs={"X": x.clone()}, time=T + rest, one_step=True)`` (a copy:
  ``Input`` keeps a view of the caller's tensor, see DESIGN.md; ``one_step``: the timing that
  snnsim's engines share), then ``reset_state_variables()``;
- ``snnsim``: ``snnsim.engine.simulate(net, {"X": x.clone()}, engine="fast", learning=True)``
  on its own copy of the network, then ``reset_state_variables()``; torch is seeded identically
  before each image of both (Diehl & Cook's one-spike draws), so at the end the JSON says
  whether their weights and thresholds are still bit-identical;
- ``brian2``: ``benchmarks/stdp_brian2.py`` (the same network written in Brian2, its default
  code generation target, runtime mode) in a separate process run by the Python of
  ``--brian2-python`` (default ``.venv-brian2/bin/python``, made by ``make bench-stdp``);
  reported as ``unavailable: <reason>`` without it. Its input is a ``PoissonGroup`` with the
  same mean rates (its own random numbers), its initial weights are BindsNET's.

Threads: ``--threads 1,2`` measures everything once per setting (``torch.set_num_threads``;
Brian2's runtime targets are single-threaded, OMP_NUM_THREADS is set for it anyway).

The check (``check`` in the JSON): over the check images, each contender's excitatory and
inhibitory spike counts per image, the excitatory threshold crossings per image (BindsNET's
``one_spike`` lets one of several simultaneous crossings spike; counted from theta), the mean
|weight change| of the input weights per image and the mean theta; the spike trains cannot
be identical (other random numbers, and see stdp_brian2.py for the small semantic
differences), so the check asks for the same order of magnitude (ratio of the means to
BindsNET's within [1/3, 3]).

Run: ``.venv/bin/python benchmarks/stdp.py [--neurons 100,400] [--threads 1,2] [--images 5]
[--rounds 3] [--out benchmarks/results/stdp.json]``; ``make bench-stdp`` also makes the Brian2
virtualenv.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bindsnet.encoding import poisson
from bindsnet.models import DiehlAndCook2015
from bindsnet.network.monitors import Monitor

from benchmarks.common import cpu_info, machine_info, write_json

BRIAN2_SCRIPT = Path(__file__).resolve().with_name("stdp_brian2.py")
DEFAULT_BRIAN2_PYTHON = ".venv-brian2/bin/python"
SAME_ORDER = 3.0  # the check's tolerance: ratio to BindsNET within [1/3, 3]
IMAGE_SEED = 10_000  # torch is seeded with IMAGE_SEED + image index before each torch contender's image


def int_list(text: str) -> list[int]:
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return out


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int_list, default=[100, 400], help="excitatory layer sizes (default 100,400)")
    p.add_argument("--threads", type=int_list, default=[1, 2], help="torch thread settings (default 1,2)")
    p.add_argument("--time", type=int, default=250, help="steps of input per image (default 250)")
    p.add_argument("--rest", type=int, default=150, help="steps of no input after each image (default 150)")
    p.add_argument("--intensity", type=float, default=128.0, help="Poisson rate in Hz of a white pixel (128)")
    p.add_argument("--images", type=int, default=5, help="timed images per contender per round (default 5)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument(
        "--check-images",
        type=int,
        default=3,
        help="untimed images first, also the warm-up, whose spike counts are compared (default 3)",
    )
    p.add_argument("--dataset", default="mnist10k", help="snnsim dataset name (default mnist10k)")
    p.add_argument("--contenders", default="bindsnet,snnsim,brian2")
    p.add_argument(
        "--brian2-python",
        default=DEFAULT_BRIAN2_PYTHON,
        help="Python of the Brian2 virtualenv (default .venv-brian2/bin/python)",
    )
    p.add_argument("--brian2-target", default=None, help="Brian2 codegen target (default: Brian2's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/stdp.json")
    args = p.parse_args(argv)
    for name in ("time", "images", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.rest < 0:
        p.error("--rest must be >= 0")
    args.check_images = max(1, args.check_images)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(args.contenders) - {"bindsnet", "snnsim", "brian2"}
    if unknown or "bindsnet" not in args.contenders:
        p.error(f"--contenders: bindsnet (the reference) plus any of snnsim, brian2; got {args.contenders}")
    return args


def load_images(dataset: str, count: int) -> tuple[torch.Tensor, str]:
    """``count`` images flattened to ``[count, 784]`` in [0, 1] and the dataset's name."""
    from snnsim.data.datasets import load_dataset

    data = load_dataset(dataset)
    x = data.train.x[:count].reshape(count, -1).float()
    if x.shape[1] != 784:
        raise SystemExit(f"stdp.py: {data.name} images have {x.shape[1]} pixels, the network takes 784")
    return x, data.name


def encode(images: torch.Tensor, time_: int, rest: int, intensity: float, seed: int) -> list[torch.Tensor]:
    """BindsNET's poisson encoding (as eth_mnist.py) of each image, plus ``rest`` silent steps:
    bool ``[time + rest, 1, 784]``."""
    torch.manual_seed(seed)
    out = []
    for img in images:
        s = poisson(datum=img * intensity, time=time_, dt=1.0).bool()
        out.append(torch.cat([s, torch.zeros(rest, s.shape[1], dtype=torch.bool)]).unsqueeze(1))
    return out


def input_weight(net: DiehlAndCook2015):
    return net.connections[("X", "Ae")].pipeline[0]


def make_network(n: int, seed: int) -> DiehlAndCook2015:
    """BindsNET's reference network; its initial input weights normalised (``Weight.normalize``)."""
    torch.manual_seed(seed)
    net = DiehlAndCook2015(n_inpt=784, n_neurons=n, exc=22.5, inh=17.5, dt=1.0, norm=78.4, theta_plus=0.05)
    input_weight(net).normalize()
    net.train(True)
    return net


class TorchContender:
    """Presents images to a BindsNET ``DiehlAndCook2015``, with ``Network.run`` or snnsim's engine."""

    def __init__(self, name: str, net: DiehlAndCook2015, spikes: list[torch.Tensor]) -> None:
        self.name, self.net, self.spikes = name, net, spikes
        self.steps = spikes[0].shape[0]

    def present(self, x: torch.Tensor, record: bool) -> Optional[tuple[int, int]]:
        raise NotImplementedError

    def run(self, images: list[int], record: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"exc_spikes": [], "exc_crossings": [], "inh_spikes": [], "mean_abs_dw": []}
        w = input_weight(self.net)
        ae = self.net.layers["Ae"]
        t0 = time.perf_counter()
        for k in images:
            if record:
                before, theta = w.value.clone(), float(ae.theta.double().sum())
            torch.manual_seed(IMAGE_SEED + k)  # the same one-spike draws in both torch contenders
            counts = self.present(self.spikes[k], record)
            if record:
                out["exc_spikes"].append(counts[0])
                # every threshold crossing raises theta by theta_plus (one_spike lets one of the
                # simultaneous crossings spike); theta's decay over an image is < 1e-4 of it
                decayed = theta * float(ae.theta_decay) ** self.steps
                out["exc_crossings"].append(round((float(ae.theta.double().sum()) - decayed) / float(ae.theta_plus)))
                out["inh_spikes"].append(counts[1])
                out["mean_abs_dw"].append(float((w.value - before).abs().mean()))
        seconds = time.perf_counter() - t0
        if not record:
            return {"seconds": seconds}
        out["theta_mean_mV"] = float(self.net.layers["Ae"].theta.mean())
        out["seconds"] = seconds
        return out


class BindsnetContender(TorchContender):
    def present(self, x: torch.Tensor, record: bool) -> Optional[tuple[int, int]]:
        net = self.net
        if record:
            for name in ("Ae", "Ai"):
                net.add_monitor(Monitor(net.layers[name], state_vars=["s"], time=self.steps), name)
        net.run(inputs={"X": x.clone()}, time=self.steps, one_step=True)
        counts = None
        if record:
            counts = tuple(int(net.monitors[name].get("s").sum()) for name in ("Ae", "Ai"))
            for name in ("Ae", "Ai"):
                net.monitors.pop(name)
        net.reset_state_variables()
        return counts


class SnnsimContender(TorchContender):
    def present(self, x: torch.Tensor, record: bool) -> Optional[tuple[int, int]]:
        from snnsim.engine import simulate

        rec = simulate(self.net, {"X": x.clone()}, engine="fast", learning=True)
        self.net.reset_state_variables()
        if record:
            return int(rec.spikes["Ae"].sum()), int(rec.spikes["Ai"].sum())
        return None


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".strip()


def snnsim_probe() -> Optional[str]:
    """None when the fast engine runs the network with learning on, else the one-line error."""
    try:
        from snnsim.engine import simulate

        net = make_network(10, 0)
        x = torch.ones(3, 1, 784, dtype=torch.bool)
        simulate(net, {"X": x}, engine="fast", learning=True)
        return None
    except Exception as err:  # noqa: BLE001 - reported as "unavailable"
        return one_line(err)


class Brian2Worker:
    """``stdp_brian2.py`` in its own process (Brian2's virtualenv), one JSON line per request."""

    def __init__(self, python: str, threads: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [python, str(BRIAN2_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(ROOT),
        )

    def ask(self, req: dict[str, Any]) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            raise RuntimeError(f"Brian2 process ended: {err[-1] if err else 'no output'}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error", "Brian2 worker failed"))
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask({"cmd": "quit"})
            except (RuntimeError, BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Brian2Contender:
    name = "brian2"

    def __init__(self, worker: Brian2Worker, cfg: dict[str, Any]) -> None:
        self.worker = worker
        self.info = worker.ask({"cmd": "build", **cfg})
        self.info.pop("ok", None)

    def run(self, images: list[int], record: bool = False) -> dict[str, Any]:
        reply = self.worker.ask({"cmd": "run", "images": images, "record": record})
        reply.pop("ok", None)
        return reply


def brian2_unavailable(python: str) -> Optional[str]:
    path = Path(python) if Path(python).is_absolute() else ROOT / python
    if not path.exists():
        return (
            f"no Brian2 virtualenv: {python} is missing (make bench-stdp creates .venv-brian2 with "
            "python3.12; Brian2 2.10+ needs Python >= 3.12)"
        )
    return None


def summarise_check(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ref = checks["bindsnet"]
    out: dict[str, Any] = {
        "images": len(ref["exc_spikes"]),
        "per_contender": checks,
        "tolerance": f"ratio to bindsnet within [1/{SAME_ORDER:g}, {SAME_ORDER:g}]",
    }
    for name, c in checks.items():
        if name == "bindsnet":
            continue
        ratios = {}
        for key in ("exc_spikes", "exc_crossings", "inh_spikes", "mean_abs_dw"):
            a, b = statistics.mean(c[key]), statistics.mean(ref[key])
            ratios[key] = a / b if b else (1.0 if a == 0 else float("inf"))
        out[f"{name}_vs_bindsnet"] = {
            "mean_ratio": ratios,
            "same_order": all(1 / SAME_ORDER <= r <= SAME_ORDER for r in ratios.values()),
        }
    return out


def bench_config(
    n: int,
    threads: int,
    args: argparse.Namespace,
    spikes: list[torch.Tensor],
    tmp: Path,
    snnsim_error: Optional[str],
    brian2: Optional[Brian2Worker],
    brian2_error: Optional[str],
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    ref = make_network(n, args.seed)
    contenders: dict[str, Any] = {"bindsnet": BindsnetContender("bindsnet", ref, spikes)}
    results: dict[str, Any] = {}
    if "snnsim" in args.contenders:
        if snnsim_error is None:
            contenders["snnsim"] = SnnsimContender("snnsim", copy.deepcopy(ref), spikes)
        else:
            results["snnsim"] = {"unavailable": snnsim_error}
    if "brian2" in args.contenders:
        if brian2 is not None:
            np.save(tmp / "w.npy", input_weight(ref).value.detach().numpy())
            cfg = {
                "n_neurons": n,
                "time": args.time,
                "rest": args.rest,
                "dt": 1.0,
                "intensity": args.intensity,
                "images_file": str(tmp / "x.npy"),
                "weights_file": str(tmp / "w.npy"),
                "seed": args.seed,
                "threads": threads,
                "exc": 22.5,
                "inh": 17.5,
                "theta_plus": 0.05,
                "norm": 78.4,
                "target": args.brian2_target,
            }
            try:
                contenders["brian2"] = Brian2Contender(brian2, cfg)
            except (RuntimeError, OSError, ValueError) as err:
                results["brian2"] = {"unavailable": one_line(err)}
        else:
            results["brian2"] = {"unavailable": brian2_error}

    check_idx = list(range(args.check_images))
    checks, failed = {}, {}
    for name, c in contenders.items():
        try:
            checks[name] = c.run(check_idx, record=True)
        except Exception as err:  # noqa: BLE001 - a contender that fails is reported, not fatal
            failed[name] = one_line(err)
    for name, why in failed.items():
        contenders.pop(name)
        results[name] = {"unavailable": f"failed during the check images: {why}"}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    nxt = args.check_images
    for _ in range(args.rounds):
        idx = list(range(nxt, nxt + args.images))
        nxt += args.images
        for name, c in contenders.items():
            times[name].append(c.run(idx)["seconds"])
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {
            "images_per_s": args.images / med,
            "images_per_s_best": args.images / min(ts),
            "median_s_per_round": med,
            "times_s": ts,
            "images_per_round": args.images,
            "rounds": args.rounds,
        }
        if name == "brian2":
            results[name].update(contenders[name].info)
            # each round is one Network.run; its fixed code-generation cost (run_call_s) amortised away:
            results[name]["images_per_s_without_run_call"] = args.images / max(med - results[name]["run_call_s"], 1e-9)
    if "snnsim" in contenders:  # both saw the same spikes and draws: the same learning, bit for bit?
        ours = contenders["snnsim"].net
        results["snnsim"]["weights_and_thetas_identical_to_bindsnet"] = bool(
            torch.equal(input_weight(ref).value, input_weight(ours).value)
            and torch.equal(ref.layers["Ae"].theta, ours.layers["Ae"].theta)
        )
    ref_rate = results["bindsnet"]["images_per_s"]
    for r in results.values():
        if "images_per_s" in r:
            r["x_bindsnet"] = r["images_per_s"] / ref_rate
    return {
        "n_neurons": n,
        "threads": threads,
        "results": results,
        "check": summarise_check({k: v for k, v in checks.items() if k in contenders}),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_start = os.getloadavg()
    n_img = args.check_images + args.rounds * args.images
    images, dataset = load_images(args.dataset, n_img)
    spikes = encode(images, args.time, args.rest, args.intensity, args.seed)
    snnsim_error = snnsim_probe() if "snnsim" in args.contenders else None
    brian2_error = brian2_unavailable(args.brian2_python) if "brian2" in args.contenders else "not requested"
    runs = []
    with tempfile.TemporaryDirectory(prefix="stdp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        np.save(tmp / "x.npy", images.numpy())
        for threads in args.threads:
            worker = None
            if "brian2" in args.contenders and brian2_error is None:
                worker = Brian2Worker(str(args.brian2_python), threads)
            try:
                for n in args.neurons:
                    run = bench_config(n, threads, args, spikes, tmp, snnsim_error, worker, brian2_error)
                    runs.append(run)
                    line = ", ".join(
                        f"{k} {r['images_per_s']:.2f}"
                        if "images_per_s" in r
                        else f"{k} unavailable: {r['unavailable']}"
                        for k, r in run["results"].items()
                    )
                    print(f"N = {n}, {threads} thread(s): images/s {line}", flush=True)
                    for key, v in run["check"].items():
                        if key.endswith("_vs_bindsnet"):
                            print(f"  check {key}: {json.dumps(v['mean_ratio'])} same order: {v['same_order']}")
            finally:
                if worker is not None:
                    worker.close()
    payload = {
        "benchmark": "stdp",
        "network": "bindsnet.models.DiehlAndCook2015(n_inpt=784, n_neurons=N, exc=22.5, inh=17.5, dt=1.0, "
        "norm=78.4, theta_plus=0.05), PostPre nu=(1e-4, 1e-2), w in [0, 1], batch 1, learning on",
        "dataset": dataset,
        "time_steps": args.time,
        "rest_steps": args.rest,
        "encoder": f"bindsnet.encoding.poisson, pixel * {args.intensity:g} Hz, dt 1 ms",
        "timing": f"{args.rounds} interleaved rounds of {args.images} images per contender after "
        f"{args.check_images} untimed check/warm-up images; images/s from the median round",
        "snnsim_call": 'snnsim.engine.simulate(net, {"X": x.clone()}, engine="fast", learning=True)',
        "snnsim_engine_file": getattr(sys.modules.get("snnsim.engine"), "__file__", None),
        "runs": runs,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
        **cpu_info(),
        **machine_info(args.threads[-1]),
        "torch_threads": args.threads,
    }
    path = write_json(args.out, payload)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main()
