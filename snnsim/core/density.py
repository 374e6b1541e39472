"""Density-adaptive synaptic ops: when the event-driven linear op beats a dense matmul.

The event-driven linear op (:func:`snnsim.core.connections.event_linear`) adds one weight row per
active input, so its time grows with the number of spikes ``nnz`` of its ``[N, K]`` input; a
dense matmul costs the same at any density. At each call the op counts the spikes (a popcount
of the spike bytes in the C kernels; ``torch.count_nonzero`` elsewhere) and asks the
:class:`CostModel` of its device and shape which path is cheaper, separately for the forward
and for the weight gradient::

    event-driven  iff  nnz < crossover * N * K

The default crossovers (:data:`DEFAULTS`; :data:`CPU_BY_VENDOR` for AMD CPUs) were measured by
:func:`snnsim.engine.calibrate.calibrate` (784 -> 800 over ``N = 3200`` rows); the conv crossover
``conv`` (:mod:`snnsim.core.event_conv`, fraction of nonzero inputs) by ``benchmarks/event_conv.py``.
The measurements, machines and loads are in docs/benchmarks/notes.md. :func:`remember` stores a
calibrated model for this process; :func:`use_cost_model` injects a model (tests). The choice
depends only on the count and the model, so a run is deterministic; both paths give the same
results within rounding (the dense path is ``F.linear`` of the float spikes, exactly what a
connection with ``event_driven=False`` computes).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Union

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
#: CPU defaults for CPUs of another vendor than the Xeon DEFAULTS were measured on (``vendor_id``
#: of /proc/cpuinfo). On the 2-core AMD EPYC (AVX-512) the dense matmul is slower (torch's MKL runs
#: its generic kernels there): calibrate(3200, 784, 800) put the crossovers at 0.45-0.46 / 0.41
#: (1 thread) and 0.41 / 0.36 (2 threads), two runs each, on 2026-12-05; with the Xeon's defaults
#: a BPTT step at d = 0.3 took 108 ms on the dense path against 79 ms event-driven (1 thread).
CPU_BY_VENDOR: dict[str, dict[int, CostModel]] = {
    "AuthenticAMD": {
        1: CostModel(forward=0.45, wgrad=0.40, conv=0.15),
        2: CostModel(forward=0.40, wgrad=0.36, conv=0.15),
    },
}
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
    by_threads = default_models(key[0])
    fits = [t for t in by_threads if t <= key[4]]
    return by_threads[max(fits)] if fits else OTHER_DEVICES


@functools.cache
def cpu_vendor() -> str:
    """The CPU's ``vendor_id`` from /proc/cpuinfo (e.g. ``GenuineIntel``, ``AuthenticAMD``), or ``""``."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def default_models(device_type: str) -> dict[int, CostModel]:
    """The default models per thread count for ``device_type``: :data:`DEFAULTS`, with the CPU's
    replaced by :data:`CPU_BY_VENDOR` where this CPU's vendor has its own."""
    if device_type == "cpu":
        return CPU_BY_VENDOR.get(cpu_vendor(), DEFAULTS["cpu"])
    return DEFAULTS.get(device_type, {})


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


def remember(device: Union[str, torch.device], n: int, k: int, m: int, model: CostModel) -> None:
    """Use ``model`` from now on (this process) for ``[N, K]`` spikes into ``m`` outputs on ``device``
    at the current thread count (what :func:`snnsim.engine.calibrate.calibrate` measured)."""
    _calibrated[_key(device, n, k, m)] = model
