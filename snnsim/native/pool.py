"""Native CPU kernels of non-overlapping 2-D average pooling (issue 29): the input gradient, and
the forward pass of bool spikes.

torch's ``avg_pool2d_backward`` zero-fills the input gradient and then adds each output's share
into its window; where the windows do not overlap (kernel = stride, no padding) every input
element receives exactly one share, so ``csrc/pool.c`` writes each one once: one pass over the
input gradient instead of two, into a huge-page backed buffer (:mod:`snnsim.native.memory`). The
same division as torch's, so the values are identical. Contiguous or channels-last float32 CPU
tensors; ``SNNSIM_NATIVE=0`` or ``SNNSIM_FUSED_POOL=0`` (read at every call), or no C compiler,
keep torch's path. The caller (:mod:`snnsim.core.pooling`) checks the pooling's parameters.

The forward kernel pools bool spikes (simulation: a spiking layer's output) straight into float
averages, with no float copy of the spikes first; the counts are exact, so the values equal
torch's ``avg_pool2d`` of the float spikes.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch

from snnsim.native import build, memory

_I64 = ctypes.c_int64
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}


def _compile() -> ctypes.CDLL:
    dll = build.build_library(build.c_source("pool.c"), "pool")
    dll.avgpool_bwd.argtypes = [ctypes.c_void_p, ctypes.c_void_p, *([_I64] * 7), ctypes.c_int]
    dll.avgpool_bwd.restype = None
    dll.avgpool_fwd_u8.argtypes = [ctypes.c_void_p, ctypes.c_void_p, *([_I64] * 7), ctypes.c_int]
    dll.avgpool_fwd_u8.restype = None
    return dll


def native_status() -> str:
    """``"loaded"`` when the C kernel can be used, else why not (torch's path then)."""
    return build.library_status(_native, _compile, build.native_off("SNNSIM_FUSED_POOL"))


def _channels_last(x: torch.Tensor) -> bool:
    return x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _takes(x: torch.Tensor, dtype: torch.dtype) -> bool:
    """``x`` is a 4-D CPU tensor of ``dtype``, contiguous or channels-last, and the kernels are built."""
    return (
        x.dim() == 4
        and x.dtype == dtype
        and x.device.type == "cpu"
        and (x.is_contiguous() or _channels_last(x))
        and native_status() == "loaded"
    )


def usable(x: torch.Tensor) -> bool:
    """Whether the kernel computes the input gradient for ``x`` ``[N, C, H, W]``: float32 on the CPU,
    contiguous or channels-last, the kernel switched on and built."""
    return _takes(x, torch.float32)


def avgpool_backward(grad: torch.Tensor, like: torch.Tensor, k: int) -> torch.Tensor:
    """The input gradient ``[N, C, H, W]`` (``like``'s shape and layout) of ``avg_pool2d(x, k, k)``
    from the output gradient ``grad`` ``[N, C, OH, OW]`` (the caller checked :func:`usable` on ``like``)."""
    n, c, h, w = like.shape
    oh, ow = grad.shape[2:]
    if _channels_last(like):
        g = grad.to(torch.float32).contiguous(memory_format=torch.channels_last)
        out = memory.empty((n, h, w, c)).permute(0, 3, 1, 2)
        rows, inner = n, c
    else:
        g, out = grad.to(torch.float32).contiguous(), memory.empty((n, c, h, w))
        rows, inner = n * c, 1
    threads = build.threads_for(rows, 64)
    _native["lib"].avgpool_bwd(g.data_ptr(), out.data_ptr(), rows, h, w, inner, oh, ow, int(k), threads)
    return out


def spikes_usable(x: torch.Tensor) -> bool:
    """Whether :func:`avgpool_spikes` takes ``x``: bool ``[N, C, H, W]`` on the CPU, contiguous or
    channels-last, the kernel switched on and built."""
    return _takes(x, torch.bool)


def avgpool_spikes(x: torch.Tensor, k: int) -> torch.Tensor:
    """``avg_pool2d(x.float(), k, k)`` ``[N, C, OH, OW]`` float32 for bool spikes ``x`` ``[N, C, H, W]``
    (the caller checked :func:`spikes_usable`), in ``x``'s layout, without the float copy of ``x``;
    bit-identical to torch's (exact counts divided by ``k * k``)."""
    n, c, h, w = x.shape
    oh, ow = h // k, w // k
    if _channels_last(x):
        out = memory.empty((n, oh, ow, c)).permute(0, 3, 1, 2)
        rows, inner = n, c
    else:
        out = memory.empty((n, c, oh, ow))
        rows, inner = n * c, 1
    if out.numel():
        threads = build.threads_for(rows, 64)
        _native["lib"].avgpool_fwd_u8(x.data_ptr(), out.data_ptr(), rows, h, w, inner, oh, ow, int(k), threads)
    return out
