"""Density-adaptive synaptic ops: when the event-driven linear op beats a dense matmul.

The event-driven linear op (:func:`snnsim.core.connections.event_linear`) adds one weight row per
active input, so its time grows with the number of spikes ``nnz`` of its ``[N, K]`` input; a
dense matmul costs the same at any density. At each call the op counts the spikes (a popcount
of the spike bytes in the C kernels, about 0.1 ms for 3200 x 784; ``torch.count_nonzero``
elsewhere) and asks the :class:`CostModel` of its device and shape which path is cheaper,
separately for the forward and for the weight gradient::

    event-driven  iff  nnz < crossover * N * K

The default crossovers are :func:`calibrate` of 784 -> 800 over ``N = 3200`` rows on a
2-core AVX-512 (AMX) Xeon, three runs each: at load ~1.9, 1 thread forward 0.22-0.23, weight
gradient 0.18-0.21; on the quiet machine (load 0.8-1.0, 2026-11-26), 1 thread forward 0.20-0.22,
weight gradient 0.20, and 2 threads forward 0.15-0.20, weight gradient 0.15-0.18, whose medians
are the 2-thread defaults (at load ~1.9 they were 0.20-0.23 and 0.09-0.14, and 0.2-0.4 and
0.17-0.25 on a heavily loaded machine: machine- and load-dependent). :func:`calibrate` measures them for one shape and thread count on
this machine (cached for the process); :func:`use_cost_model` injects a model (tests).
The no-grad conv (:mod:`snnsim.core.event_conv`) has one crossover, ``conv``, on the fraction of
nonzero inputs: 0.15, about the lowest crossover that ``benchmarks/event_conv.py`` measured on
the convs of SCNN, LeNet and ResNet-19 (1 and 2 threads, load ~1-2: spike inputs 0.13-0.3, most
ResNet-19 convs above 0.34; pooled spike inputs 0.25-0.58 of nonzero entries). The
choice depends only on the count and the model, so a run is deterministic; both paths give the
same results within rounding (the dense path is ``F.linear`` of the float spikes, exactly what a
connection with ``event_driven=False`` computes).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Union

import torch


@dataclass(frozen=True)
class CostModel:
    """Crossover densities (fraction of active inputs) below which the event-driven path runs."""

    forward: float
    wgrad: float
    #: the event-driven conv (no-grad forward only, :mod:`snnsim.core.event_conv`): fraction of
    #: nonzero inputs below which it runs (default: ``benchmarks/event_conv.py``, see DEFAULTS)
    conv: float = 0.15

    def event_forward(self, n: int, k: int, nnz: int) -> bool:
        """Whether the forward of a ``[N, K]`` spike matrix with ``nnz`` spikes sums events."""
        return nnz < self.forward * n * k

    def event_wgrad(self, n: int, k: int, nnz: int) -> bool:
        """Whether the weight gradient sums the output-gradient rows of the spikes."""
        return nnz < self.wgrad * n * k

    def event_conv(self, numel: int, nnz: int) -> bool:
        """Whether a conv of an input with ``numel`` entries, ``nnz`` of them nonzero, sums events."""
        return nnz < self.conv * numel


#: Defaults per device type and thread count (the largest count listed not above the current
#: one); other devices use OTHER_DEVICES until calibrated. CUDA: calibrate(3200, 784, 800) on an
#: H200 put both crossovers at 0 (cuBLAS beats the bag sum at every density; benchmarks/results/gpu),
#: so CUDA calls stay dense and skip the spike count, which would wait for the device.
DEFAULTS: dict[str, dict[int, CostModel]] = {
    "cpu": {1: CostModel(forward=0.22, wgrad=0.19, conv=0.15), 2: CostModel(forward=0.19, wgrad=0.18, conv=0.15)},
    "cuda": {1: CostModel(forward=0.0, wgrad=0.0, conv=0.0)},
}
OTHER_DEVICES = CostModel(forward=0.05, wgrad=0.05, conv=0.0)  # not measured: run calibrate() there
ALWAYS_EVENTS = CostModel(forward=2.0, wgrad=2.0, conv=2.0)
ALWAYS_DENSE = CostModel(forward=0.0, wgrad=0.0, conv=0.0)

_calibrated: dict[tuple[str, int, int, int, int], CostModel] = {}
_injected: list[CostModel] = []


def _key(device: Union[str, torch.device], n: int, k: int, m: int) -> tuple[str, int, int, int, int]:
    return torch.device(device).type, int(n), int(k), int(m), torch.get_num_threads()


def cost_model(device: Union[str, torch.device], n: int, k: int, m: int) -> CostModel:
    """The model deciding for ``[N, K]`` spikes times a ``K -> M`` weight on ``device``: an
    injected one, else this shape's calibration at the current thread count, else the default."""
    if _injected:
        return _injected[-1]
    key = _key(device, n, k, m)
    if key in _calibrated:
        return _calibrated[key]
    by_threads = DEFAULTS.get(key[0], {})
    fits = [t for t in by_threads if t <= key[4]]
    return by_threads[max(fits)] if fits else OTHER_DEVICES


@contextmanager
def use_cost_model(model: CostModel) -> Iterator[CostModel]:
    """Within the block every event-driven linear op decides with ``model``."""
    _injected.append(model)
    try:
        yield model
    finally:
        _injected.pop()


def forward_uses_events(spikes: torch.Tensor, m: int) -> bool:
    """Whether the op takes the event-driven path for bool ``spikes`` ``[N, K]`` into ``m`` outputs."""
    n, k = spikes.shape
    return cost_model(spikes.device, n, k, m).event_forward(n, k, int(torch.count_nonzero(spikes)))


def conv_uses_events(x: torch.Tensor, out_channels: int) -> bool:
    """Whether a conv into ``out_channels`` takes the event-driven path for ``x`` ``[N, C, H, W]``
    (bool spikes or float, e.g. pooled spikes): its fraction of nonzero entries against the
    model's ``conv`` crossover."""
    n = x.shape[0]
    return cost_model(x.device, n, x[0].numel(), out_channels).event_conv(x.numel(), int(torch.count_nonzero(x)))


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
    """(forward ms, weight-gradient ms) of the op on ``x`` with every choice made by ``model``."""
    from snnsim.core.connections import event_linear

    grad = torch.ones(x.shape[0], lin.out_features, device=x.device)
    with use_cost_model(model):
        fwd = _median_ms(lambda: event_linear(x, lin), repeats)
        out = event_linear(x, lin)  # the choice of the weight gradient is made here
        wgrad = _median_ms(lambda: torch.autograd.grad(out, lin.weight, grad, retain_graph=True), repeats)
    return fwd, wgrad


def calibrate(n: int, k: int, m: int, device: Union[str, torch.device] = "cpu", repeats: int = 5) -> CostModel:
    """Measure both paths for ``[N, K]`` spikes into ``m`` outputs at densities 0.05 and 0.5,
    fit the event-driven time as linear in the density, and store (for this process, device,
    shape and thread count) the densities where it meets the dense time. Returns the model."""
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
    _calibrated[_key(device, n, k, m)] = model
    return model
