"""Shared helpers of the benchmarks: timing, thread settings, JSON output, stock BindsNET nets."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from bindsnet.network import Network
from bindsnet.network.monitors import Monitor
from bindsnet.network.nodes import IFNodes, Input
from bindsnet.network.topology import Connection


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Median / min wall time in seconds of ``fn()`` over ``repeats`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


def sync(device: str) -> None:
    """Wait for the work queued on a CUDA ``device`` (timers read the host clock); nothing on the CPU."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def machine_info(threads: int, device: str = "cpu") -> dict[str, Any]:
    """torch, Python, thread and CPU counts; with a CUDA ``device`` also the GPU's name and CUDA version."""
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_threads": threads,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": torch.multiprocessing.cpu_count(),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info.update(
            gpu=torch.cuda.get_device_name(device),
            cuda=torch.version.cuda,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        )
    return info


def cpu_info() -> dict[str, Any]:
    """CPU model and the SIMD flags that pick torch's kernels (from /proc/cpuinfo; empty elsewhere)."""
    model, flags = platform.processor(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = sorted(f for f in value.split() if f.startswith(("avx", "sse4", "fma", "amx")))
                break
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": flags}


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def stock_bindsnet_fc(weights: list[torch.Tensor], in_shape: tuple[int, ...]) -> Network:
    """The same IF network built from stock BindsNET classes: ``Input``, ``IFNodes``
    (threshold 1, reset to 0, no refractory period) and dense ``Connection``s.

    ``weights[i]``: ``[n_out, n_in]`` (torch ``nn.Linear`` layout).
    """
    net = Network(dt=1.0)
    net.add_layer(Input(shape=list(in_shape)), name="input")
    prev = "input"
    for i, w in enumerate(weights):
        name = f"l{i + 1}"
        net.add_layer(IFNodes(n=w.shape[0], thresh=1.0, reset=0.0, refrac=0), name=name)
        net.add_connection(Connection(net.layers[prev], net.layers[name], w=w.t().clone()), prev, name)
        prev = name
    return net


def run_stock(net: Network, spikes: torch.Tensor) -> dict[str, torch.Tensor]:
    """``Network.run`` (one_step=True) with spike monitors on every layer; returns the spikes."""
    t = spikes.shape[0]
    for name, layer in net.layers.items():
        net.add_monitor(Monitor(layer, state_vars=["s"], time=t), name)
    net.reset_state_variables()
    net.run(inputs={"input": spikes}, time=t, one_step=True)
    out = {name: net.monitors[name].get("s").bool() for name in net.layers}
    for name in list(net.layers):
        net.monitors.pop(name)
    # Input.s is a view of the caller's last input step: detach it before any later reset
    for layer in net.layers.values():
        layer.s = torch.zeros_like(layer.s)
    return out
