"""Normalisation factors of ANN-to-SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017).

Per weighted layer l (1-based, in order):

- ``model``: ``s_l = max_i sum_j max(0, W_ij)`` (the largest total positive input weight
  of one neuron; for a conv layer the sum over one output channel's kernel, all input
  channels); ``W_l /= s_l``. Biases are not part of ``s_l``.
- ``data``: ``lambda_l = max(max_ij max(0, W_ij), max activation of layer l over the data)``;
  ``W_l *= lambda_{l-1} / lambda_l`` with ``lambda_0 = 1`` (the paper's recursion).
- ``percentile``: ``lambda_l`` = the p-th percentile of the *positive* activations of
  layer l over the data (Rueckauer et al. 2017), same recursion; no weight term.
- ``none``: all factors 1.

In every case the SNN layer l then represents ``a_l / Lambda_l`` with the cumulative
scale ``Lambda_l`` (``prod_{k<=l} s_k`` for ``model``, ``lambda_l`` for ``data`` and
``percentile``, 1 for ``none``), so weights are multiplied by ``Lambda_{l-1} / Lambda_l``
and biases by ``1 / Lambda_l``. "Activation" is the output of the layer's ReLU (the
raw output for a final layer without ReLU), measured on the ANN with BatchNorm folded.
Degenerate layers (no positive weight / activation) get the factor 1.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from snnsim.errors import UserError
from snnsim.methods.conversion.blocks import Block
from snnsim.names import NORMS  # noqa: E402  (the one list, light for the CLI)


def _factor(value: float) -> float:
    """Guard: a factor must be positive and finite; 0 (nothing positive) becomes 1."""
    if not math.isfinite(value):
        raise UserError(f"normalisation factor is not finite ({value}); check the ANN and the data")
    return value if value > 0 else 1.0


def max_positive_weight(w: torch.Tensor) -> float:
    """``max(0, max_ij W_ij)``."""
    return max(0.0, float(w.detach().max()))


def model_factor(w: torch.Tensor) -> float:
    """``s = max_i sum_j max(0, W_ij)`` over output units/channels ``i`` (dim 0 of ``w``)."""
    return _factor(float(w.detach().clamp(min=0).flatten(1).sum(1).max()))


def percentile(values: torch.Tensor, p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values`` with linear interpolation between
    order statistics (numpy's default); works on tensors of any size."""
    if not 0.0 < p <= 100.0:
        raise UserError(f"percentile must be in (0, 100], got {p}")
    v = values.detach().flatten().double()
    n = v.numel()
    if n == 0:
        raise ValueError("percentile of an empty set of values")
    pos = (n - 1) * p / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    v_lo = float(torch.kthvalue(v, lo + 1).values)
    v_hi = float(torch.kthvalue(v, hi + 1).values) if hi != lo else v_lo
    return v_lo + (v_hi - v_lo) * (pos - lo)


@torch.no_grad()
def activation_stats(
    blocks: Sequence[Block], data: torch.Tensor, *, batch_size: int = 500, keep_positive: bool = False
) -> tuple[list[float], Optional[list[torch.Tensor]]]:
    """Run ``data [N, *input_shape]`` through the blocks in batches.

    Returns (max activation per block, and with ``keep_positive`` the 1-D tensor of
    all positive activations per block, else None).
    """
    maxima = [-math.inf] * len(blocks)
    positives: list[list[torch.Tensor]] = [[] for _ in blocks]
    for start in range(0, data.shape[0], batch_size):
        x = data[start : start + batch_size].float()
        for i, b in enumerate(blocks):
            x = b.forward(x)
            maxima[i] = max(maxima[i], float(x.max()))
            if keep_positive:
                positives[i].append(x[x > 0].flatten())
    pos = [torch.cat(p) if p else torch.zeros(0) for p in positives] if keep_positive else None
    return maxima, pos


def data_factors(blocks: Sequence[Block], maxima: Sequence[float]) -> list[float]:
    """``lambda_l = max(max positive weight, max activation)`` per block."""
    return [_factor(max(max_positive_weight(b.module.weight), a)) for b, a in zip(blocks, maxima)]


def percentile_factors(positives: Sequence[torch.Tensor], p: float) -> list[float]:
    """``lambda_l`` = p-th percentile of each block's positive activations (1 if none)."""
    return [_factor(percentile(v, p)) if v.numel() else 1.0 for v in positives]


def cumulative_scales(norm: str, factors: Sequence[float]) -> list[float]:
    """``Lambda_l`` per layer (see the module docstring)."""
    if norm == "model":
        out, acc = [], 1.0
        for s in factors:
            acc *= s
            out.append(acc)
        return out
    if norm in ("data", "percentile"):
        return [float(f) for f in factors]
    if norm == "none":
        return [1.0] * len(factors)
    raise UserError(f"norm must be one of {NORMS}, got {norm!r}")


def compute_factors(
    norm: str,
    blocks: Sequence[Block],
    data: Optional[torch.Tensor] = None,
    *,
    percentile_p: float = 99.9,
    batch_size: int = 500,
) -> tuple[list[float], list[float]]:
    """(factors, max activations) for ``norm``; max activations are empty without data."""
    if norm == "none":
        return [1.0] * len(blocks), []
    if norm == "model":
        return [model_factor(b.module.weight) for b in blocks], []
    if norm not in NORMS:
        raise UserError(f"norm must be one of {NORMS}, got {norm!r}")
    if data is None:
        raise UserError(f"norm={norm!r} needs data=: a [N, C, H, W] tensor of training inputs")
    maxima, pos = activation_stats(blocks, data, batch_size=batch_size, keep_positive=norm == "percentile")
    if norm == "data":
        return data_factors(blocks, maxima), maxima
    assert pos is not None
    return percentile_factors(pos, percentile_p), maxima
