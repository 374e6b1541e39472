"""Discrete-time simulation of TTFS networks in the snnsim engines.

The network's ``dt`` is the simulation step; step k is time ``k * dt``. Time steps are
powers of two (``2^-m``) so that ``1 / dt`` is a whole number of steps in the input
window (spike times ``1 - x`` round to the grid, ``x = 0`` lands exactly on ``t = 1``)
and ``T * dt`` is exact (BindsNET runs ``int(time / dt)`` steps). The input is latency
coded (:func:`encoders.latency` with ``window = 1/dt + 1`` and ``zero_spikes=True``:
every input fires once, ``x = 0`` at ``t = 1``, the end of the input window), the
network runs ``T = ceil(t_read / dt) + 1`` steps, ``t_read`` = the read-out's ``t_min``,
and the logits are the read-out's potential at the last step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from bindsnet.network import Network

from snnsim.engine import Record, simulate
from snnsim.errors import UserError
from snnsim.methods.ttfs.chain import INPUT_T_MAX, readout_time, ttfs_layers, windows
from snnsim.methods.ttfs.exact import check_unit_interval


def dyadic_dt(max_dt: float) -> float:
    """The largest ``2^-m`` (m >= 0) not above ``max_dt``."""
    if not (math.isfinite(max_dt) and max_dt > 0):
        raise UserError(f"max_dt must be a finite number > 0, got {max_dt!r}")
    return 2.0 ** min(0, math.floor(math.log2(max_dt)))


def sim_dt(network: Network, steps_per_window: int = 1000, max_steps: Optional[int] = None) -> float:
    """Step giving at least ``steps_per_window`` steps in the shortest window (input
    window [0, 1] included), coarsened (doubled) until ``T <= max_steps`` if given, but
    never above 1 (the input window needs a step): very long windows can exceed it."""
    if not isinstance(steps_per_window, int) or steps_per_window < 1:
        raise UserError(f"steps_per_window must be an int >= 1, got {steps_per_window!r}")
    dt = dyadic_dt(min([INPUT_T_MAX, *windows(network)]) / steps_per_window)
    if max_steps is not None:
        if not isinstance(max_steps, int) or max_steps < 2:
            raise UserError(f"max_steps must be an int >= 2, got {max_steps!r}")
        while sim_timesteps(network, dt) > max_steps and dt < 1.0:
            dt *= 2.0
    return dt


def sim_timesteps(network: Network, dt: float) -> int:
    """Steps needed to reach the read-out time: ``ceil(t_read / dt) + 1``."""
    return int(math.ceil(readout_time(network) / dt - 1e-9)) + 1


def set_dt(network: Network, dt: float) -> int:
    """Set the simulation step of ``network`` and all its layers; returns ``T``."""
    if not (math.isfinite(dt) and 0 < dt <= INPUT_T_MAX) or (1.0 / dt) != round(1.0 / dt):
        raise UserError(f"dt must be 1/k for a whole number k >= 1 (e.g. a power of two), got {dt!r}")
    ttfs_layers(network)  # validate
    network.dt = float(dt)
    for layer in network.layers.values():
        layer.compute_decays(float(dt))
    return sim_timesteps(network, dt)


def encode_spikes(x: torch.Tensor, dt: float, timesteps: int) -> torch.Tensor:
    """Latency code of ``x [B, ...]`` in [0, 1]: one spike per input at step
    ``round((1 - x) / dt)``. Returns bool ``[T, B, ...]``, equal to
    ``encoders.latency(x, T, window=1/dt + 1, zero_spikes=True)`` (built by scatter,
    which is several times faster for long ``T``)."""
    check_unit_interval(x)
    k = round(1.0 / dt)
    if not math.isclose(k * dt, 1.0, rel_tol=1e-12) or timesteps < k + 1:
        raise UserError(f"need 1/dt whole (got dt={dt}) and timesteps >= 1/dt + 1 (got {timesteps})")
    dtype = torch.promote_types(x.dtype, torch.float32)
    steps = torch.round((1.0 - x.to(dtype)) * k).long().reshape(1, -1)
    out = torch.zeros(timesteps, steps.shape[1], dtype=torch.bool, device=x.device)
    out.scatter_(0, steps, True)
    return out.reshape(timesteps, *x.shape)


def encoder_config(dt: float, timesteps: int) -> dict[str, object]:
    """How to reproduce :func:`encode_spikes` with :mod:`encoders` (for checkpoints)."""
    return {
        "encoder": "latency",
        "timesteps": int(timesteps),
        "window": round(1.0 / dt) + 1,
        "zero_spikes": True,
        "dt": float(dt),
    }


@dataclass
class Simulation:
    """Result of :func:`simulate_ttfs`: the engine's record, logits ``[B, C]`` (read-out
    potential at the last step), the step and the number of steps."""

    record: Record
    logits: torch.Tensor
    dt: float
    timesteps: int


def simulate_ttfs(
    network: Network,
    x: torch.Tensor,
    *,
    dt: Optional[float] = None,
    steps_per_window: int = 1000,
    engine: str = "fast",
    record_voltage: bool = False,
) -> Simulation:
    """Simulate ``network`` on ``x [B, *input_shape]`` with step ``dt`` (default:
    :func:`sim_dt` with ``steps_per_window``) in ``engine`` ("fast" or "bindsnet")."""
    dt = dt if dt is not None else sim_dt(network, steps_per_window)
    t = set_dt(network, dt)
    out = list(network.layers)[-1]
    want = True if record_voltage else [out]
    record = simulate(network, encode_spikes(x, dt, t), engine=engine, record_voltage=want)
    v = record.voltages[out]
    return Simulation(record, v[-1].reshape(v.shape[1], -1), dt, t)
