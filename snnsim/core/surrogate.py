"""Surrogate spike derivatives: small strategy objects used in the backward pass.

The forward pass always fires ``s = H(h - thresh)``; a surrogate says what
``ds/dh`` is in the backward pass. Each strategy maps ``u = h - thresh`` (the distance
of the pre-reset potential ``h`` from threshold) to a derivative.

- ``Rectangular(width=1)``: ``(1/width) * 1[|u| < width/2]`` (STBP, Wu et al. 2018;
  centred at the threshold).
- ``FastSigmoid(slope=100)``: ``1 / (slope * |u| + 1)^2`` (SuperSpike; FastSNN).
- ``ArcTan(alpha=2)``: ``(alpha/2) / (1 + (pi/2 * alpha * u)^2)``.
- ``LeePseudo()``: Lee et al. (2020): per neuron, ``(1/thresh) * (1 + eps)`` with
  ``eps = ln(leak) * LF / gamma``, ``gamma`` = the neuron's spike count and
  ``LF = sum_k leak^(T - t_k)`` over its spike steps ``t_k`` (1-based); 0 for a neuron
  that never fired. The gradient is not propagated through the membrane recurrence
  (the leak is treated as identity), so each step's input gets the same
  rate-based derivative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch


@dataclass(frozen=True)
class Surrogate:
    """Base class: ``derivative(u)`` with ``u = h - thresh``; ``temporal`` = BPTT through v."""

    temporal = True

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"name": SURROGATE_NAMES[type(self)], **self.__dict__}

    def kernel(self) -> Optional[tuple[int, float, float]]:
        """The native backward kernel's form of this derivative: ``(kind, p1, p2)`` as csrc/lif.c
        reads them (:func:`snnsim.native.lif.lif_backward`), or None where no kernel computes it."""
        return None


@dataclass(frozen=True)
class Rectangular(Surrogate):
    width: float = 1.0

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width}")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return (u.abs() < self.width / 2).to(u.dtype) / self.width

    def kernel(self) -> tuple[int, float, float]:
        """Kind 0: ``p2 * 1[|u| < p1]`` with half-width ``p1 = width / 2`` and height ``p2 = 1 / width``."""
        return 0, float(self.width) / 2, 1.0 / float(self.width)


def fast_sigmoid(u: torch.Tensor, slope: float) -> torch.Tensor:
    """The fast-sigmoid (SuperSpike) derivative ``1 / (slope |u| + 1)^2``, ``u = v - thresh``
    (any shape). The one implementation: :class:`FastSigmoid` and :mod:`snnsim.methods.fastsnn.layer` call it."""
    return (u.abs() * slope + 1.0).pow(-2)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    slope: float = 100.0

    def __post_init__(self) -> None:
        if not self.slope > 0:
            raise ValueError(f"slope must be > 0, got {self.slope}")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return fast_sigmoid(u, self.slope)

    def kernel(self) -> tuple[int, float, float]:
        """Kind 1: ``1 / (p1 |u| + 1)^2`` with ``p1 = slope``."""
        return 1, float(self.slope), 0.0


@dataclass(frozen=True)
class ArcTan(Surrogate):
    alpha: float = 2.0

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * u) ** 2)

    def kernel(self) -> tuple[int, float, float]:
        """Kind 2: ``p2 / (1 + (p1 u)^2)`` with ``p1 = pi / 2 * alpha`` and ``p2 = alpha / 2``."""
        return 2, 3.141592653589793 / 2 * float(self.alpha), float(self.alpha) / 2


@dataclass(frozen=True)
class LeePseudo(Surrogate):
    temporal = False

    def derivative(self, u: torch.Tensor) -> torch.Tensor:  # pragma: no cover - not per step
        raise TypeError("LeePseudo is computed from whole spike trains: use lee_pseudo_derivative")

    def kernel(self) -> tuple[int, float, float]:
        """Kind 3 (``LEE``): :func:`lee_pseudo_derivative` of each neuron's spike train, computed in the
        forward kernel (lif_fwd_lee_par); no parameters."""
        return 3, 0.0, 0.0


def lee_pseudo_derivative(spikes: torch.Tensor, leak: float, thresh: float) -> torch.Tensor:
    """Lee et al. (2020) pseudo-derivative per neuron from spikes ``[T, B, ...]``: ``[B, ...]``."""
    t = spikes.shape[0]
    s = spikes.to(torch.float64)
    gamma = s.sum(0)
    base = torch.full((), 1.0 / thresh, dtype=torch.float64)
    if leak == 1.0:
        out = torch.where(gamma > 0, base, torch.zeros_like(gamma))
        return out.to(torch.float32)
    steps = torch.arange(1, t + 1, dtype=torch.float64, device=spikes.device)
    weights = leak ** (t - steps)  # leak^(T - t_k)
    lf = (s * weights.view(-1, *([1] * (s.dim() - 1)))).sum(0)
    eps = math.log(leak) * lf / gamma.clamp(min=1)
    out = torch.where(gamma > 0, base * (1 + eps), torch.zeros_like(gamma))
    return out.to(torch.float32)


class _SurrogateSpike(torch.autograd.Function):
    """``H(v - thresh)`` as float 0/1 whose backward is ``surrogate.derivative(v - thresh)``."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, thresh: Any, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(v)
        ctx.thresh, ctx.surrogate = thresh, surrogate
        return (v >= thresh).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(v - ctx.thresh), None, None


def surrogate_spike(v: torch.Tensor, thresh: Any, surrogate: Surrogate) -> torch.Tensor:
    """Differentiable spikes of one step: float ``v >= thresh`` ``[B, ...]`` with the surrogate
    gradient (``thresh``: a number or a tensor broadcasting to ``v``). Temporal surrogates only."""
    if not surrogate.temporal:
        raise TypeError(f"{type(surrogate).__name__} is computed from whole spike trains, not per step")
    return _SurrogateSpike.apply(v, thresh, surrogate)


SURROGATES: dict[str, type] = {
    "rectangular": Rectangular,
    "fast_sigmoid": FastSigmoid,
    "arctan": ArcTan,
    "lee": LeePseudo,
}
SURROGATE_NAMES = {cls: name for name, cls in SURROGATES.items()}


def get_surrogate(spec: Union[str, Surrogate, dict[str, Any]]) -> Surrogate:
    """A surrogate from a name ("fast_sigmoid"), a dict ``{"name": ..., **params}`` or an instance."""
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or spec.get("name") not in SURROGATES:
        raise ValueError(f"unknown surrogate {spec!r}; known: {sorted(SURROGATES)}")
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        return SURROGATES[spec["name"]](**params)
    except TypeError as err:
        raise ValueError(f"bad parameters for surrogate {spec['name']!r}: {err}") from None
