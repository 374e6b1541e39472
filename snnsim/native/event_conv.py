"""Native CPU kernel of the event-driven 2-D convolution (:mod:`snnsim.core.event_conv`).

``csrc/event_conv.c`` lists the active channels of every input position of a sample, then sums
for each output position the weight rows ``weight[:, c, ky, kx]`` of the active inputs in its
window, in registers, order ``ky, kx, c`` ("gather"); for a 1-channel input each active input
instead adds its weights into the outputs of its window ("scatter"). Threads split the
samples, so a sample's sums do not depend on the batch or the thread count. Off with
``SNNSIM_NATIVE=0`` or ``SNNSIM_EVENT_CONV=0`` (read at every call), or without a C compiler.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from snnsim.native import build, memory

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
#: build flags of the kernel: torch's own (AVX2 where torch uses it), plus AVX-512 vectors
#: where torch's CPU capability is AVX-512 (16 output channels per vector instead of 8)
_FLAGS = [*build._CFLAGS, *(["-mavx512f"] if torch.backends.cpu.get_cpu_capability() == "AVX512" else [])]


def _compile() -> ctypes.CDLL:
    dll = build.build_library(build.c_source("event_conv.c"), "event_conv", _FLAGS)
    dll.event_conv2d.argtypes = [_PTR, ctypes.c_int, _PTR, _PTR, _PTR, *([_I64] * 11), *([ctypes.c_int] * 4)]
    dll.event_conv2d.restype = ctypes.c_int
    dll.event_conv2d_wgrad.argtypes = [_PTR, ctypes.c_int, _PTR, _PTR, *([_I64] * 11), *([ctypes.c_int] * 3)]
    dll.event_conv2d_wgrad.restype = ctypes.c_int
    dll.event_conv_width.argtypes, dll.event_conv_width.restype = [], ctypes.c_int
    dll.count_nonzero.argtypes, dll.count_nonzero.restype = [_PTR, ctypes.c_int, _I64, ctypes.c_int], _I64
    return dll


def native_status() -> str:
    """``"loaded"`` when the C kernel can be used, else why not (the torch path then)."""
    return build.library_status(_native, _compile, build.native_off("SNNSIM_EVENT_CONV"))


def usable(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> bool:
    return (
        build.native_off("SNNSIM_EVENT_CONV") is None
        and x.device.type == "cpu"
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and x.dtype in (torch.bool, torch.float32)
        and (bias is None or bias.dtype == torch.float32)
        and build.load_once(_native, _compile) is not None
    )


def weight_table(weight: torch.Tensor, width: int) -> torch.Tensor:
    """``weight`` ``[O, C, K, K]`` -> ``[K * K * C, OP]``: row ``(ky * K + kx) * C + c`` is
    ``weight[:, c, ky, kx]``, zero-padded to ``OP`` (the next multiple of ``width``) columns."""
    o, c, k, _ = weight.shape
    op = -(-o // width) * width
    table = torch.zeros(k * k * c, op, dtype=weight.dtype)
    table[:, :o] = weight.detach().permute(2, 3, 1, 0).reshape(k * k * c, o)
    return table


def input_layout(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(``x`` ``[N, C, H, W]`` as the kernels read it, whether it is channels-last): a channels-last
    input (``N, H, W, C`` in memory, ``C > 1``) is read in place, anything else made contiguous."""
    if x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x, True
    return x.contiguous(), False


def count_nonzero(x: torch.Tensor) -> int:
    """``int(torch.count_nonzero(x))`` for a float32 or bool CPU tensor, in one pass of the C kernel
    over its storage where ``x`` is contiguous or channels-last (torch's count runs at about
    1.7 ns per float32 entry on one thread); torch's count elsewhere or before the library loads."""
    lib = _native["lib"]
    dense = x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))
    if lib is None or not dense or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bool):
        return int(torch.count_nonzero(x))
    threads = max(1, min(torch.get_num_threads(), x.numel() >> 18))
    return int(lib.count_nonzero(x.data_ptr(), int(x.dtype == torch.float32), x.numel(), threads))


def scatter_cheaper(x: torch.Tensor) -> bool:
    """Whether the C kernel should scatter rather than gather: for a 1-channel input (an input
    layer) gathering spends most of its time looking at empty windows (measured:
    ``benchmarks/event_conv.py``). Decided by the shape alone, so each sample's sums run in
    the same order in any batch (the engines agree bit for bit where both take this path)."""
    return x.shape[1] == 1


def event_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: int,
    padding: int,
    oh: int,
    ow: int,
    scatter: bool,
    channels_last: bool = False,
) -> torch.Tensor:
    """The C kernel's ``[N, O, OH, OW]`` float32 output (the caller checked the arguments and
    :func:`usable`); ``channels_last``: stored as ``[N, OH, OW, O]`` (``torch.channels_last``)."""
    lib = _native["lib"]
    width = lib.event_conv_width()
    table = weight_table(weight, width)
    (n, c, h, w), (o, op, k) = x.shape, (weight.shape[0], table.shape[1], weight.shape[2])
    bias_p = None
    if bias is not None:
        bias_p = torch.zeros(op, dtype=torch.float32)
        bias_p[:o] = bias.detach()
    x, x_cl = input_layout(x)
    out = memory.empty((n, oh, ow, o)).permute(0, 3, 1, 2) if channels_last else memory.empty((n, o, oh, ow))
    if n and lib.event_conv2d(
        x.data_ptr(),
        int(x.dtype == torch.float32),
        table.data_ptr(),
        build.ptr(bias_p),
        out.data_ptr(),
        n,
        c,
        h,
        w,
        o,
        op,
        k,
        stride,
        padding,
        oh,
        ow,
        int(scatter),
        int(channels_last),
        int(x_cl),
        max(1, min(torch.get_num_threads(), n)),
    ):
        raise MemoryError("event_conv2d: could not allocate the work space of a thread")
    return out


def event_conv2d_wgrad(x: torch.Tensor, grad: torch.Tensor, k: int, stride: int, padding: int) -> torch.Tensor:
    """The weight gradient ``[O, C, K, K]`` of :func:`event_conv2d` from its input ``x``
    ``[N, C, H, W]`` (bool or float32) and the gradient of its output ``grad`` ``[N, O, OH, OW]``,
    summed over the nonzero inputs only (the caller checked :func:`usable`)."""
    lib = _native["lib"]
    width = lib.event_conv_width()
    (n, c, h, w), (o, oh, ow) = x.shape, grad.shape[1:]
    op = -(-o // width) * width
    grad = grad.to(torch.float32)
    g_cl = grad.is_contiguous(memory_format=torch.channels_last) and not grad.is_contiguous()
    (x, x_cl), grad = input_layout(x), grad if g_cl else grad.contiguous()
    table = torch.empty(k * k * c, op, dtype=torch.float32)
    if lib.event_conv2d_wgrad(
        x.data_ptr(),
        int(x.dtype == torch.float32),
        grad.data_ptr(),
        table.data_ptr(),
        n,
        c,
        h,
        w,
        o,
        op,
        k,
        stride,
        padding,
        oh,
        ow,
        int(g_cl),
        int(x_cl),
        max(1, min(torch.get_num_threads(), n)),
    ):
        raise MemoryError("event_conv2d_wgrad: could not allocate the work space of a thread")
    return table[:, :o].reshape(k, k, c, o).permute(3, 2, 0, 1).contiguous()
