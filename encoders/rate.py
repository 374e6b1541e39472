"""Rate coding: Bernoulli ("Poisson") spike trains.

Each input intensity ``x`` in ``[0, 1]`` becomes an independent spike train in
which every step spikes with probability ``p = x * scale``. This is the usual
discrete-time approximation of a Poisson process: with a rate of ``r`` Hz and a
step of ``dt`` ms the per-step probability is ``r * dt / 1000``.
"""

from __future__ import annotations

import torch

from .validation import check_generator, check_input, check_scalar, check_timesteps

__all__ = ["poisson", "bernoulli"]


def _sample(
    x: torch.Tensor,
    timesteps: int,
    scale: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Bernoulli samples with probability ``x * scale``: bool ``[T, *x.shape]``.

    All ``T`` steps are drawn with a single ``torch.rand`` call, so the result
    depends only on the generator state, not on any Python-level loop.
    """
    # Half-precision inputs are sampled in float32 for a finer probability grid.
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    prob = x.to(dtype) * scale  # new tensor: x is never modified
    u = torch.rand(
        (timesteps, *x.shape), generator=generator, device=x.device, dtype=dtype
    )
    # u is in [0, 1): p = 0 never spikes, p = 1 always spikes.
    return u < prob.unsqueeze(0)


def poisson(
    x: torch.Tensor,
    timesteps: int,
    *,
    max_rate: float | None = None,
    dt: float = 1.0,
    prob_scale: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rate-code intensities as Bernoulli ("Poisson") spike trains.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of simulation steps ``T`` (int >= 1).
        max_rate: firing rate in Hz for ``x = 1``; the per-step probability is
            ``p = x * max_rate * dt / 1000``.
        dt: simulation step in ms; only meaningful together with ``max_rate``.
        prob_scale: per-step probability for ``x = 1`` (``p = x * prob_scale``).
            Defaults to 1.0 when neither ``max_rate`` nor ``prob_scale`` is set.
        generator: optional ``torch.Generator`` (on ``x``'s device) for
            reproducible sampling.

    Returns:
        Bool spike tensor of shape ``[T, *x.shape]`` on ``x.device``.

    Raises:
        ValueError: both ``max_rate`` and ``prob_scale`` given, ``dt`` changed
            without ``max_rate``, or the per-step probability scale exceeds 1
            (e.g. ``max_rate=2000`` Hz with ``dt=1`` ms).
    """
    if max_rate is not None and prob_scale is not None:
        raise ValueError(
            "give at most one of max_rate (Hz, with dt in ms) and prob_scale "
            f"(probability per step), got max_rate={max_rate!r} and "
            f"prob_scale={prob_scale!r}"
        )
    dt_value = check_scalar(dt, "dt", minimum=0.0, strict=True)
    if max_rate is not None:
        rate = check_scalar(max_rate, "max_rate", minimum=0.0)
        scale = rate * dt_value / 1000.0
        if scale > 1.0:
            raise ValueError(
                f"max_rate * dt / 1000 = {rate:g} Hz * {dt_value:g} ms / 1000 = "
                f"{scale:g} is the spike probability per step for x = 1 and must "
                f"be <= 1; lower max_rate to at most {1000.0 / dt_value:g} Hz or "
                f"use a smaller dt"
            )
    else:
        if dt_value != 1.0:
            raise ValueError(
                f"dt={dt_value:g} only has an effect together with max_rate; pass "
                f"max_rate (Hz) or drop dt and use prob_scale"
            )
        scale = 1.0 if prob_scale is None else check_scalar(prob_scale, "prob_scale")
        if scale < 0.0 or scale > 1.0:
            raise ValueError(
                f"prob_scale is the spike probability per step for x = 1 and must "
                f"be in [0, 1], got {scale:g}"
            )
    check_input(x)
    steps = check_timesteps(timesteps)
    check_generator(generator, device=x.device)
    return _sample(x, steps, scale, generator)


def bernoulli(
    x: torch.Tensor,
    timesteps: int,
    *,
    prob_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bernoulli spike trains with explicit probability per step ``p = x * prob_scale``.

    The setting of Lee et al. (2020) for MNIST is ``prob_scale=0.5``.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        timesteps: number of steps ``T`` (int >= 1).
        prob_scale: spike probability per step for ``x = 1``, in ``[0, 1]``.
        generator: optional ``torch.Generator`` for reproducible sampling.

    Returns:
        Bool spike tensor of shape ``[T, *x.shape]`` on ``x.device``.
    """
    return poisson(x, timesteps, prob_scale=prob_scale, generator=generator)
