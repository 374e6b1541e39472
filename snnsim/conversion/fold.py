"""Fold an inference-mode BatchNorm into the Linear/Conv2d before it.

With ``g = gamma / sqrt(running_var + eps)`` the composition ``BN(W x + b)`` equals
``W' x + b'`` with ``W' = g * W`` (per output unit / channel) and
``b' = g * (b - running_mean) + beta`` (``b = 0`` without bias; ``gamma = 1``,
``beta = 0`` without affine parameters). The result always has a bias.
"""
from __future__ import annotations

import copy
from typing import Union

import torch
from torch import nn
from ..errors import UserError, UserTypeError

Weighted = Union[nn.Linear, nn.Conv2d]


def fold_batchnorm(layer: Weighted, bn: Union[nn.BatchNorm1d, nn.BatchNorm2d]) -> Weighted:
    """A new layer equal to ``bn(layer(x))`` in eval mode; inputs are not modified.

    Raises ValueError when the kinds do not match (BatchNorm1d after Linear,
    BatchNorm2d after Conv2d), the sizes differ, or there are no running statistics.
    """
    if isinstance(layer, nn.Linear):
        if type(bn) is not nn.BatchNorm1d:
            raise UserError(f"a Linear layer can only be folded with BatchNorm1d, got {type(bn).__name__}")
        n_out = layer.out_features
    elif isinstance(layer, nn.Conv2d):
        if type(bn) is not nn.BatchNorm2d:
            raise UserError(f"a Conv2d layer can only be folded with BatchNorm2d, got {type(bn).__name__}")
        n_out = layer.out_channels
    else:
        raise UserTypeError(f"can fold BatchNorm into nn.Linear or nn.Conv2d only, got {type(layer).__name__}")
    if bn.num_features != n_out:
        raise UserError(f"BatchNorm has {bn.num_features} features but the layer before it has {n_out} outputs")
    if bn.running_mean is None or bn.running_var is None:
        raise UserError("BatchNorm without running statistics (track_running_stats=False) cannot be folded")
    with torch.no_grad():
        w = layer.weight.detach().double()
        b = layer.bias.detach().double() if layer.bias is not None else torch.zeros(n_out, dtype=torch.float64)
        gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones(n_out, dtype=torch.float64)
        beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros(n_out, dtype=torch.float64)
        g = gamma / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        new_w = w * g.view(-1, *([1] * (w.dim() - 1)))
        new_b = g * (b - bn.running_mean.detach().double()) + beta
        folded = copy.deepcopy(layer)
        if folded.bias is None:
            folded.bias = nn.Parameter(torch.zeros(n_out, dtype=layer.weight.dtype, device=layer.weight.device))
        folded.weight.copy_(new_w.to(layer.weight.dtype))
        folded.bias.copy_(new_b.to(layer.weight.dtype))
    return folded
