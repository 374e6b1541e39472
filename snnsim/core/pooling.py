"""Average pooling of spikes on the training path with a one-pass input gradient (issue 29).

A connection's ``avgpool2d`` op with non-overlapping windows (kernel = stride, no padding, floor
mode), on a float32 CPU input that needs a gradient (hidden spikes while training), runs as
:class:`_AvgPool`: the forward pass is torch's ``avg_pool2d``; the backward pass writes each
input element's share once (:mod:`snnsim.native.pool`) instead of zero-filling the input gradient
and adding into it, as torch's ``avg_pool2d_backward`` does. The values are identical (the same
division). ``SNNSIM_FUSED_POOL=0`` (or ``SNNSIM_NATIVE=0``) in the environment turns it off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snnsim.native import pool as native


def _pair(v: object) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(u) for u in v)  # type: ignore[union-attr]


def _non_overlapping(module: nn.Module) -> bool:
    """Whether ``module`` is an ``nn.AvgPool2d`` with square non-overlapping windows (kernel =
    stride), no padding, floor mode and no divisor override: the pooling the kernels compute."""
    if type(module) is not nn.AvgPool2d:
        return False
    k, s = _pair(module.kernel_size), _pair(module.stride)
    return (
        k[0] == k[1] == s[0] == s[1]
        and _pair(module.padding) == (0, 0)
        and not module.ceil_mode
        and module.divisor_override is None
    )


def usable(x: torch.Tensor, module: nn.Module) -> bool:
    """Whether :func:`avg_pool` computes ``module(x)`` for ``x`` ``[N, C, H, W]``: an ``nn.AvgPool2d``
    with square non-overlapping windows (kernel = stride), no padding, floor mode, no divisor
    override; ``x`` needs a gradient and the kernel is usable (:func:`snnsim.native.pool.usable`)."""
    if not x.requires_grad or not torch.is_grad_enabled():
        return False
    return _non_overlapping(module) and native.usable(x)


class _AvgPool(torch.autograd.Function):
    """``avg_pool2d(x, k, k)`` with the one-pass input gradient of :mod:`snnsim.native.pool`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int) -> torch.Tensor:  # type: ignore[override]
        ctx.k, ctx.like = k, torch.empty_like(x, device="meta")  # the shape and strides only
        return F.avg_pool2d(x, k, k)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return native.avgpool_backward(grad, ctx.like, ctx.k), None


def avg_pool(x: torch.Tensor, module: nn.AvgPool2d) -> torch.Tensor:
    """``module(x)`` ``[N, C, OH, OW]`` for ``x`` ``[N, C, H, W]``, differentiable; see :func:`usable`."""
    return _AvgPool.apply(x, _pair(module.kernel_size)[0])


def spikes_usable(x: torch.Tensor, module: nn.Module) -> bool:
    """Whether :func:`avg_pool_spikes` computes ``module(x.float())`` for bool spikes ``x``
    ``[N, C, H, W]`` (simulation): the same pooling parameters as :func:`usable`, the kernel usable
    (:func:`snnsim.native.pool.spikes_usable`)."""
    return x.dtype == torch.bool and _non_overlapping(module) and native.spikes_usable(x)


def avg_pool_spikes(x: torch.Tensor, module: nn.AvgPool2d) -> torch.Tensor:
    """``module(x.float())`` ``[N, C, OH, OW]`` float32 for bool ``x``; see :func:`spikes_usable`."""
    return native.avgpool_spikes(x, _pair(module.kernel_size)[0])
