"""Encoders: turn analog data into input for a spiking network.

All encoders take ``x`` of shape ``[B, ...]`` (floating point; values in
``[0, 1]`` except for ``constant_current``) and a number of steps ``T``, and
return a time-major tensor ``[T, B, ...]`` on ``x.device``. Spike encoders
return ``torch.bool``; ``constant_current`` returns float32. Inputs are never
modified in place, and sampling is reproducible with a seeded
``torch.Generator``. One exception to the shape rule: ``rows`` (sequential MNIST) turns
images ``[B, C, H, W]`` into one row per step, float32 ``[H, B, C * W]``; ``events`` passes
binned event frames ``[B, T, ...]`` through as ``[T, B, ...]``.

Example::

    import torch
    from encoders import get_encoder, poisson

    images = torch.rand(8, 1, 28, 28)                    # [B, C, H, W] in [0, 1]
    g = torch.Generator().manual_seed(0)
    spikes = poisson(images, 100, max_rate=100.0, generator=g)  # bool [100, 8, 1, 28, 28]

    encode = get_encoder("bernoulli", prob_scale=0.5)    # Lee et al. (2020)
    spikes = encode(images, 25)                          # bool [25, 8, 1, 28, 28]
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import torch

from encoders.current import constant_current
from encoders.events import events
from encoders.rate import bernoulli, poisson
from encoders.sequence import rows
from encoders.temporal import first_spike_times, latency, rank_order
from snnsim.core.registry import Registry
from snnsim.errors import UserError, UserTypeError

__all__ = [
    "poisson",
    "bernoulli",
    "constant_current",
    "latency",
    "rank_order",
    "first_spike_times",
    "log_latency",
    "rows",
    "events",
    "ENCODERS",
    "Encoder",
    "get_encoder",
    "register_encoder",
]

#: An encoder with its parameters bound: ``f(x, timesteps) -> [T, *x.shape]``.
Encoder = Callable[[torch.Tensor, int], torch.Tensor]

#: Encoders by name; each is called as ``fn(x, timesteps, **params)``. Method-specific
#: encoders (``log_latency``: :mod:`snnsim.methods.fastsnn.encoding`) register when first named.
ENCODERS: Registry = Registry("encoder")


def register_encoder(name: str, fn: Callable[..., torch.Tensor], *, replace: bool = False) -> None:
    """Make ``fn(x, timesteps, **params)`` available as encoder ``name`` (refuses a clash
    unless ``replace=True``)."""
    if name in ENCODERS.keys() and ENCODERS[name] is not fn and not replace:
        raise ValueError(f"encoder {name!r} is already registered to {ENCODERS[name].__name__}; pass replace=True")
    ENCODERS[name] = fn


for _name, _fn in (
    ("poisson", poisson),
    ("bernoulli", bernoulli),
    ("current", constant_current),
    ("latency", latency),
    ("rank_order", rank_order),
    ("rows", rows),
    ("events", events),
):
    register_encoder(_name, _fn)


def __getattr__(name: str) -> Callable[..., torch.Tensor]:
    """Method-specific encoders (``encoders.log_latency``) load on first use."""
    if name in ENCODERS.known():
        return ENCODERS[name]
    raise AttributeError(f"module 'encoders' has no attribute {name!r}")


def get_encoder(name: str, **params: object) -> Encoder:
    """Look up an encoder by name and bind its keyword parameters.

    Args:
        name: one of the keys of :data:`ENCODERS`.
        **params: keyword-only parameters of that encoder (e.g. ``max_rate``).

    Returns:
        A callable ``f(x, timesteps)`` returning ``[T, *x.shape]``.

    Raises:
        ValueError: ``name`` is not a known encoder.
        TypeError: a parameter is not accepted by the encoder.
    """
    if not isinstance(name, str) or name not in ENCODERS:
        known = ", ".join(ENCODERS.known())
        raise UserError(f"unknown encoder {name!r}; known encoders: {known}")
    fn = ENCODERS[name]
    accepted = [p.name for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise UserTypeError(
            f"encoder {name!r} got unknown parameter(s) {', '.join(map(repr, unknown))}; accepted parameters: {allowed}"
        )
    return functools.partial(fn, **params)
