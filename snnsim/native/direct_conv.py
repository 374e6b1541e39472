"""Native CPU kernel of the dense direct 2-D convolution for inputs with few channels.

``csrc/direct_conv.c`` computes a conv whose input has few channels (an input layer's spikes:
LeNet's 1 -> 20 5x5 conv, ResNet-19's 3-channel stem) straight from a zero-bordered float copy
of each sample, several output positions at a time with the weights in vectors, and its weight
gradient with groups of weight rows held in registers. MKLDNN runs such convs far below peak,
and the event-driven kernel (:mod:`snnsim.native.event_conv`) loses to it once a few tenths of
the inputs are active. Threads split the samples, so a sample's sums do not depend on the batch
or the thread count. Off with ``SNNSIM_NATIVE=0`` or ``SNNSIM_DIRECT_CONV=0``, or without a C
compiler.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from snnsim.native import build, memory
from snnsim.native.event_conv import input_layout, weight_table

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
#: torch's flags plus AVX-512 vectors where torch uses them; sums contract into fused multiply-adds
#: where the ISA has them (AVX-512): this kernel is compared with MKLDNN within rounding anyway
_FLAGS = [
    *(f for f in build._CFLAGS if f != "-ffp-contract=off"),
    "-ffp-contract=fast",
    *(["-mavx512f"] if torch.backends.cpu.get_cpu_capability() == "AVX512" else []),
]
#: the largest number of weight rows ``K * K * C`` the kernel takes (beyond it: MKLDNN or events)
MAX_ROWS = 75


def _compile() -> ctypes.CDLL:
    dll = build.build_library(build.c_source("direct_conv.c"), "direct_conv", _FLAGS)
    dll.direct_conv2d.argtypes = [_PTR, ctypes.c_int, _PTR, _PTR, _PTR, *([_I64] * 11), *([ctypes.c_int] * 3)]
    dll.direct_conv2d.restype = ctypes.c_int
    dll.direct_conv2d_wgrad.argtypes = [_PTR, ctypes.c_int, _PTR, _PTR, *([_I64] * 11), *([ctypes.c_int] * 3)]
    dll.direct_conv2d_wgrad.restype = ctypes.c_int
    dll.direct_conv_width.argtypes, dll.direct_conv_width.restype = [], ctypes.c_int
    return dll


def native_status() -> str:
    """``"loaded"`` when the C kernel can be used, else why not."""
    return build.library_status(_native, _compile, build.native_off("SNNSIM_DIRECT_CONV"))


def usable(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> bool:
    """Whether the kernel computes a conv of ``weight`` ``[O, C, K, K]`` on ``x``: CPU, float32
    weights, bool or float32 input, at most :data:`MAX_ROWS` weight rows, the library loaded."""
    return (
        build.native_off("SNNSIM_DIRECT_CONV") is None
        and x.device.type == "cpu"
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and x.dtype in (torch.bool, torch.float32)
        and (bias is None or bias.dtype == torch.float32)
        and weight[0].numel() <= MAX_ROWS
        and build.load_once(_native, _compile) is not None
    )


def _geometry(x: torch.Tensor, k: int, stride: int, padding: int) -> tuple[int, int]:
    h, w = x.shape[2:]
    return (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1


def direct_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: int,
    padding: int,
    channels_last: bool = False,
) -> torch.Tensor:
    """``F.conv2d(x.float(), weight, bias, stride, padding)`` ``[N, O, OH, OW]`` float32 from the C
    kernel (the caller checked :func:`usable` and the geometry); ``channels_last``: stored as
    ``[N, OH, OW, O]``. Sums in another order than MKLDNN's: equal within float rounding."""
    lib = _native["lib"]
    table = weight_table(weight, lib.direct_conv_width())
    (n, c, h, w), (o, op, k) = x.shape, (weight.shape[0], table.shape[1], weight.shape[2])
    oh, ow = _geometry(x, k, stride, padding)
    bias_p = None
    if bias is not None:
        bias_p = torch.zeros(op, dtype=torch.float32)
        bias_p[:o] = bias.detach()
    x, x_cl = input_layout(x)
    out = memory.empty((n, oh, ow, o)).permute(0, 3, 1, 2) if channels_last else memory.empty((n, o, oh, ow))
    args = (n, c, h, w, o, op, k, stride, padding, oh, ow, int(channels_last), int(x_cl))
    threads = max(1, min(torch.get_num_threads(), n))
    if n and lib.direct_conv2d(
        x.data_ptr(), int(x.dtype == torch.float32), table.data_ptr(), build.ptr(bias_p), out.data_ptr(), *args, threads
    ):
        raise MemoryError("direct_conv2d: could not allocate the work space of a thread")
    return out


def direct_conv2d_wgrad(x: torch.Tensor, grad: torch.Tensor, k: int, stride: int, padding: int) -> torch.Tensor:
    """The weight gradient ``[O, C, K, K]`` of :func:`direct_conv2d` from its input ``x``
    ``[N, C, H, W]`` and the gradient of its output ``grad`` ``[N, O, OH, OW]`` (either layout)."""
    lib = _native["lib"]
    width = lib.direct_conv_width()
    (n, c, h, w), (o, oh, ow) = x.shape, grad.shape[1:]
    op = -(-o // width) * width
    grad = grad.to(torch.float32)
    g_cl = grad.is_contiguous(memory_format=torch.channels_last) and not grad.is_contiguous()
    (x, x_cl), grad = input_layout(x), grad if g_cl else grad.contiguous()
    table = torch.empty(k * k * c, op, dtype=torch.float32)
    args = (n, c, h, w, o, op, k, stride, padding, oh, ow, int(g_cl), int(x_cl))
    threads = max(1, min(torch.get_num_threads(), n))
    if lib.direct_conv2d_wgrad(
        x.data_ptr(), int(x.dtype == torch.float32), grad.data_ptr(), table.data_ptr(), *args, threads
    ):
        raise MemoryError("direct_conv2d_wgrad: could not allocate the work space of a thread")
    return table[:, :o].reshape(k, k, c, o).permute(3, 2, 0, 1).contiguous()
