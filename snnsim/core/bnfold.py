"""Folding an inference-mode BatchNorm: the one implementation used by conversion, tdBN and TTFS.

In eval mode a BatchNorm (or a tdBN, whose ``gamma`` is multiplied by ``scale = alpha *
V_th``) is an affine map per channel ``bn(y) = g * y + c`` with
``g = scale * gamma / sqrt(running_var + eps)`` and ``c = beta - g * running_mean``
(``gamma = 1``, ``beta = 0`` without affine parameters). Folded into the Linear/Conv2d
before it, ``bn(W x + b) = W' x + b'`` with ``W' = g * W`` (per output unit / channel) and
``b' = g * b + c`` (``b = 0`` without bias). Computed in float64.

This module imports only torch, so :mod:`snnsim.methods.stbp.tdbn` (loaded by :mod:`snnsim.core.spec`) and
:mod:`snnsim.methods.conversion` can both use it without an import cycle.
"""

from __future__ import annotations

import copy
from typing import Union

import torch
from torch import nn

Weighted = Union[nn.Linear, nn.Conv2d]


def bn_affine(bn: nn.modules.batchnorm._BatchNorm, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``bn(x) = g * x + c`` per channel: (g ``[C]``, c ``[C]``) in float64.

    ``scale`` multiplies ``gamma`` (tdBN's ``alpha * V_th``). Raises ValueError without
    running statistics.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            f"{type(bn).__name__} has no running statistics (track_running_stats=False): it cannot be folded"
        )
    n = bn.num_features
    mean = bn.running_mean.detach().double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones(n, dtype=torch.float64)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros(n, dtype=torch.float64)
    gamma = gamma.to(mean.device) * scale
    g = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    return g, beta.to(g.device) - g * mean


def out_units(layer: nn.Module) -> int:
    """Output units (Linear) or channels (Conv2d) of ``layer``; TypeError for other kinds."""
    if isinstance(layer, nn.Linear):
        return int(layer.out_features)
    if isinstance(layer, nn.Conv2d):
        return int(layer.out_channels)
    raise TypeError(f"can fold a BatchNorm into nn.Linear or nn.Conv2d only, got {type(layer).__name__}")


def fold_bn(layer: Weighted, bn: nn.modules.batchnorm._BatchNorm, scale: float = 1.0) -> Weighted:
    """A copy of ``layer`` equal to ``bn(layer(x))`` in eval mode (see the module docstring)."""
    n_out = out_units(layer)
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
        raise TypeError(f"expected a BatchNorm/tdBN module, got {type(bn).__name__}")
    if bn.num_features != n_out:
        raise ValueError(f"the BatchNorm has {bn.num_features} channels but the layer before it has {n_out}")
    g, c = bn_affine(bn, scale)
    with torch.no_grad():
        w = layer.weight.detach().double()
        b = layer.bias.detach().double().to(g.device) if layer.bias is not None else torch.zeros_like(g)
        folded = copy.deepcopy(layer)
        if folded.bias is None:
            folded.bias = nn.Parameter(torch.zeros(n_out, dtype=layer.weight.dtype, device=layer.weight.device))
        folded.weight.copy_((w * g.view(-1, *([1] * (w.dim() - 1)))).to(layer.weight.dtype))
        folded.bias.copy_((g * b + c).to(layer.weight.dtype))
    return folded
