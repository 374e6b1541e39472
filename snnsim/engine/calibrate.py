"""Micro-benchmark of the density-adaptive linear op: measure where its event-driven path
meets the dense matmul on this machine (:class:`snnsim.core.density.CostModel`).

``calibrate(3200, 784, 800)`` produced the CPU defaults of :data:`snnsim.core.density.DEFAULTS`;
the figures, machines and loads are in docs/benchmarks/notes.md. It lived in
``snnsim.core.density`` until 0.3 (the core runs no benchmarks).
"""

from __future__ import annotations

import time
from typing import Callable, Union

import torch

from snnsim.core.connections import event_linear
from snnsim.core.density import ALWAYS_DENSE, ALWAYS_EVENTS, CostModel, cost_model, remember, use_cost_model


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def _path_times(x: torch.Tensor, lin: torch.nn.Linear, model: CostModel, repeats: int) -> tuple[float, float]:
    """(forward ms, weight-gradient ms) of the op on ``x`` ``[N, K]`` with every choice made by ``model``."""
    grad = torch.ones(x.shape[0], lin.out_features, device=x.device)
    with use_cost_model(model):
        fwd = _median_ms(lambda: event_linear(x, lin), repeats)
        out = event_linear(x, lin)  # the choice of the weight gradient is made here
        wgrad = _median_ms(lambda: torch.autograd.grad(out, lin.weight, grad, retain_graph=True), repeats)
    return fwd, wgrad


def calibrate(n: int, k: int, m: int, device: Union[str, torch.device] = "cpu", repeats: int = 5) -> CostModel:
    """Measure both paths for ``[N, K]`` spikes into ``m`` outputs at densities 0.05 and 0.5,
    fit the event-driven time as linear in the density, and store (for this process, device,
    shape and thread count: :func:`snnsim.core.density.remember`) the densities where it meets
    the dense time. Returns the model."""
    lin = torch.nn.Linear(k, m, bias=False).to(device)
    g = torch.Generator().manual_seed(0)
    lo, hi = 0.05, 0.5
    x_lo, x_hi = ((torch.rand(n, k, generator=g) < d).to(device) for d in (lo, hi))
    ev_lo, ev_hi = (_path_times(x, lin, ALWAYS_EVENTS, repeats) for x in (x_lo, x_hi))
    dense = [_path_times(x, lin, ALWAYS_DENSE, repeats) for x in (x_lo, x_hi)]
    cross = []
    for i in range(2):  # 0: forward, 1: weight gradient
        slope = max((ev_hi[i] - ev_lo[i]) / (hi - lo), 1e-9)
        t_dense = (dense[0][i] + dense[1][i]) / 2
        cross.append(min(max(lo + (t_dense - ev_lo[i]) / slope, 0.0), 1.0))
    base = cost_model(device, n, k, m)  # keeps its conv crossover (not measured here)
    model = CostModel(forward=cross[0], wgrad=cross[1], conv=base.conv)
    remember(device, n, k, m, model)
    return model
