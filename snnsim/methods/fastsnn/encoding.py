"""Logarithmic latency coding of images (FastSNN, Taylor et al. 2022; after Zenke & Vogels 2021).

An intensity ``x`` drives an input neuron with constant current ``x`` from rest; with
membrane time constant ``tau`` and threshold ``theta`` it first fires at

    t(x) = tau * ln(x / (x - theta))      for x > theta (never for x <= theta)

so brighter pixels fire earlier: ``x = 1`` at ``tau * ln(1 / (1 - theta))``. Times are in the
unit of ``dt`` and are discretised to the step ``floor(t / dt)``; steps ``>= T`` are dropped.
The spike trains come from :func:`encoders.temporal.one_spike_at`, shared with ``latency``.
"""

from __future__ import annotations

import math

import torch

from encoders import register_encoder
from encoders.temporal import one_spike_at
from encoders.validation import check_input, check_timesteps
from snnsim.errors import UserError, UserTypeError

__all__ = ["log_latency", "log_latency_times"]


def _check_params(tau: float, theta: float, dt: float) -> None:
    for name, value in (("tau", tau), ("theta", theta), ("dt", dt)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserTypeError(f"{name} must be a finite number, got {value!r}")
    if tau <= 0 or dt <= 0:
        raise UserError(f"tau and dt must be > 0, got tau={tau}, dt={dt}")
    if not 0.0 <= theta < 1.0:
        raise UserError(f"theta must lie in [0, 1) so that bright inputs fire, got {theta}")


def log_latency_times(x: torch.Tensor, *, tau: float = 20.0, theta: float = 0.2) -> torch.Tensor:
    """Continuous firing times ``tau * ln(x / (x - theta))`` (``+inf`` for ``x <= theta``),
    float64, same shape as ``x``."""
    check_input(x)
    _check_params(tau, theta, 1.0)
    fire = x.to(torch.promote_types(x.dtype, torch.float32)) > theta  # in x's precision: 0.2f is not > 0.2
    xd = x.to(torch.float64)
    safe = torch.where(fire, xd, torch.ones_like(xd))
    times = tau * torch.log(safe / (safe - theta))
    return torch.where(fire, times, torch.full_like(times, math.inf))


def log_latency(
    x: torch.Tensor, timesteps: int, *, tau: float = 20.0, theta: float = 0.2, dt: float = 1.0
) -> torch.Tensor:
    """Bool spikes ``[T, *x.shape]``: one spike per input with ``x > theta``, at step
    ``floor(tau * ln(x / (x - theta)) / dt)`` when that is below ``T``.

    Args:
        x: intensities in ``[0, 1]``, ``[B, ...]`` floating point.
        timesteps: number of steps ``T``.
        tau: time constant (unit of ``dt``; 20 = 20 steps at dt = 1).
        theta: threshold in ``[0, 1)``: inputs at or below it never fire.
        dt: step length.
    """
    steps_total = check_timesteps(timesteps)
    _check_params(tau, theta, dt)
    times = log_latency_times(x, tau=tau, theta=theta)
    steps = torch.floor(times / dt)
    fire = steps < steps_total  # +inf (no spike) and late spikes are dropped
    return one_spike_at(torch.where(fire, steps, torch.zeros_like(steps)).long(), fire, steps_total)


register_encoder("log_latency", log_latency)
