"""Strides of the tensors the native kernels take: which layouts an elementwise kernel over
``[T, N]`` can read in place (contiguous, or channels-last ``[T, B, C, H, W]``; see
:mod:`snnsim.core.layout` for where channels-last tensors come from).
"""

from __future__ import annotations

import torch


def step_dense(x: torch.Tensor) -> bool:
    """Whether ``x`` ``[T, ...]`` stores each time step as one dense block one after the other
    (contiguous, or e.g. ``[T, B, C, H, W]`` channels-last): what an elementwise kernel over
    ``[T, N]`` can read without a copy."""
    if x.dim() < 1 or (x.shape[0] > 1 and x.stride(0) != x[0].numel()):
        return False
    expected = 1  # the sizes, ordered by stride, must tile memory without gaps or overlaps
    for stride, size in sorted((x.stride(i), x.shape[i]) for i in range(x.dim()) if x.shape[i] != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def like_layout(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``x`` (same shape as ``ref``) with ``ref``'s strides: itself where they agree, else a copy."""
    if x.stride() == ref.stride() or x.numel() <= 1:
        return x
    return torch.empty_like(ref, dtype=x.dtype).copy_(x)
