"""Fold an inference-mode BatchNorm into the Linear/Conv2d before it.

With ``g = gamma / sqrt(running_var + eps)`` the composition ``BN(W x + b)`` equals
``W' x + b'`` with ``W' = g * W`` (per output unit / channel) and
``b' = g * (b - running_mean) + beta`` (``b = 0`` without bias; ``gamma = 1``,
``beta = 0`` without affine parameters). The result always has a bias. The arithmetic
is :func:`snnsim.core.bnfold.fold_bn` (shared with tdBN and TTFS); this adds the user checks.
"""

from __future__ import annotations

from typing import Union

from torch import nn

from snnsim.core.bnfold import fold_bn
from snnsim.errors import UserError, UserTypeError

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
    return fold_bn(layer, bn)
