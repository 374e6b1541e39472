"""Temporal coding: information in spike *times* rather than rates.

* :func:`latency` -- time-to-first-spike: each input fires once, stronger
  inputs earlier.
* :func:`rank_order` -- per sample, the nonzero inputs fire one spike each in
  order of decreasing intensity, spread evenly over the window.
* :func:`first_spike_times` -- inverse helper returning the first spike step.
"""

from __future__ import annotations

import math

import torch

from encoders.validation import check_input, check_timesteps
from snnsim.errors import UserError, UserTypeError

__all__ = ["latency", "rank_order", "first_spike_times"]


def one_spike_at(steps: torch.Tensor, fire: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Bool ``[T, *steps.shape]`` with a spike at ``steps[i]`` wherever ``fire[i]``.

    The one step-to-spike-train map of the single-spike codes: :func:`latency`,
    :func:`rank_order` and :func:`snnsim.methods.fastsnn.encoding.log_latency` differ only in
    how they compute ``steps``."""
    shape = (timesteps,) + (1,) * steps.dim()
    t = torch.arange(timesteps, device=steps.device).view(shape)
    return (t == steps.unsqueeze(0)) & fire.unsqueeze(0)


def latency(
    x: torch.Tensor,
    timesteps: int,
    *,
    window: int | None = None,
    zero_spikes: bool = False,
) -> torch.Tensor:
    """Latency (time-to-first-spike) coding: one spike per input.

    The spike step is ``t = round((1 - x) * (window - 1))`` (round half to
    even, as :func:`torch.round`), so ``x = 1`` fires at step 0 and ``x = 0``
    at step ``window - 1``. Steps ``window .. T-1`` stay silent.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of steps ``T`` (int >= 1).
        window: number of steps used for coding, ``1 <= window <= T``;
            defaults to ``T``.
        zero_spikes: if True, inputs equal to 0 fire at step ``window - 1``;
            by default they emit no spike at all.

    Returns:
        Bool spike tensor ``[T, *x.shape]`` on ``x.device``.
    """
    check_input(x)
    steps = check_timesteps(timesteps)
    win = steps if window is None else check_timesteps(window, name="window")
    if win > steps:
        raise UserError(f"window must be <= timesteps, got window={win} and timesteps={steps}")
    if not isinstance(zero_spikes, bool):
        raise UserTypeError(f"zero_spikes must be a bool, got {type(zero_spikes).__name__} {zero_spikes!r}")
    # Compute in at least float32 so that e.g. x=0.5, window=11 lands on 5 exactly.
    dtype = torch.promote_types(x.dtype, torch.float32)
    spike_step = torch.round((1.0 - x.to(dtype)) * (win - 1)).long()
    fire = torch.ones_like(x, dtype=torch.bool) if zero_spikes else x > 0
    return one_spike_at(spike_step, fire, steps)


def rank_order(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Rank-order coding: nonzero inputs fire once, in order of decreasing intensity.

    Per sample (the non-batch dimensions are flattened), let ``n`` be the
    number of nonzero inputs. The ``k``-th largest (``k = 0 .. n-1``, ties
    broken by lower flat index first) fires at step ``floor(k * T / n)``.
    Zeros never fire. When ``n > T`` several inputs share a step.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of steps ``T`` (int >= 1).

    Returns:
        Bool spike tensor ``[T, *x.shape]`` on ``x.device``.
    """
    check_input(x)
    steps = check_timesteps(timesteps)
    batch = x.shape[0]
    flat = x.reshape(batch, math.prod(x.shape[1:]))
    fire = flat > 0
    n_fire = fire.sum(dim=1, keepdim=True)  # [B, 1]
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    rank = torch.arange(flat.shape[1], device=x.device).expand_as(flat)
    # Exact integer arithmetic: floor(k * T / n); clamp avoids 0/0 for all-zero rows.
    step_sorted = (rank * steps) // n_fire.clamp(min=1)
    spike_step = torch.empty_like(step_sorted).scatter_(1, order, step_sorted)
    spikes = one_spike_at(spike_step, fire, steps)
    return spikes.reshape(steps, *x.shape)


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """Index of the first spike along dim 0 of ``spikes`` ``[T, ...]``.

    Args:
        spikes: spike tensor ``[T, ...]`` (bool, or numeric where nonzero
            means a spike).

    Returns:
        float32 tensor of shape ``spikes.shape[1:]`` holding the first spike
        step, or ``+inf`` where the input never spikes.
    """
    if not isinstance(spikes, torch.Tensor):
        raise UserTypeError(f"spikes must be a torch.Tensor, got {type(spikes).__name__}")
    if spikes.dim() < 1:
        raise UserError("spikes must have a leading time dimension [T, ...], got 0-D")
    timesteps = spikes.shape[0]
    if timesteps == 0:
        return torch.full(spikes.shape[1:], math.inf, device=spikes.device)
    shape = (timesteps,) + (1,) * (spikes.dim() - 1)
    t = torch.arange(timesteps, device=spikes.device, dtype=torch.float32).view(shape)
    inf = torch.tensor(math.inf, device=spikes.device)
    return torch.where(spikes != 0, t, inf).amin(dim=0)
