"""Event-driven 2-D convolution of sparse spikes (forward only; a prototype, issue 17 item 4).

``event_conv2d(x, weight, bias, stride, padding)`` equals ``F.conv2d`` (square kernel, one
stride and padding for both axes, no dilation or groups) for an input ``x`` ``[N, C, H, W]``
that is mostly zero: bool spikes, or float (e.g. average-pooled spikes), whose zeros it skips.
Its work grows with the number of nonzero inputs instead of with ``N * C * H * W``:

- on the CPU (float32 weights, bool or float32 input) a small C kernel
  (``snnsim/native/csrc/event_conv.c``) lists the active channels of every input position of a
  sample, then sums for each output position the weight rows ``weight[:, c, ky, kx]`` of the
  active inputs in its window, in registers, order ``ky, kx, c`` ("gather"); for a 1-channel
  input (an input layer), whose windows are mostly empty, each active input instead adds its
  weights into the outputs of its window ("scatter"). Threads split the samples; a sample's
  sums do not depend on the batch or the thread count;
- elsewhere (other dtypes or devices, ``SNNSIM_NATIVE=0`` or ``SNNSIM_EVENT_CONV=0``, no C
  compiler) a torch path scatters the weights of each nonzero input into its output window with
  ``index_add_``, one kernel offset at a time.

The sums run in another order than MKLDNN's, so results agree with ``F.conv2d`` within float
rounding, not bit for bit. No autograd: call it under ``torch.no_grad()`` (simulation).
Connections call it through the density-adaptive choice of :mod:`snnsim.core.connections`
(``CostModel.conv`` in :mod:`snnsim.core.density`); ``benchmarks/event_conv.py`` times it.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch
import torch.nn.functional as F

from snnsim.native import build

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
#: build flags of the kernel: torch's own (AVX2 where torch uses it), plus AVX-512 vectors
#: where torch's CPU capability is AVX-512 (16 output channels per vector instead of 8)
_FLAGS = [*build._CFLAGS, *(["-mavx512f"] if torch.backends.cpu.get_cpu_capability() == "AVX512" else [])]


def _compile() -> ctypes.CDLL:
    dll = build.build_library(build.c_source("event_conv.c"), "event_conv", _FLAGS)
    dll.event_conv2d.argtypes = [_PTR, ctypes.c_int, _PTR, _PTR, _PTR, *([_I64] * 11), ctypes.c_int, ctypes.c_int]
    dll.event_conv2d.restype = ctypes.c_int
    dll.event_conv_width.argtypes, dll.event_conv_width.restype = [], ctypes.c_int
    return dll


def native_status() -> str:
    """``"loaded"`` when the C kernel can be used, else why not (the torch path then)."""
    return build.library_status(_native, _compile, build.native_off("SNNSIM_EVENT_CONV"))


def _native_usable(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> bool:
    return (build.native_off("SNNSIM_EVENT_CONV") is None and x.device.type == "cpu"
            and weight.device.type == "cpu" and weight.dtype == torch.float32
            and x.dtype in (torch.bool, torch.float32) and (bias is None or bias.dtype == torch.float32)
            and build.load_once(_native, _compile) is not None)


def _check(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> tuple[int, int]:
    """(OH, OW), after checking the shapes and parameters."""
    if x.dim() != 4 or weight.dim() != 4 or weight.shape[1] != x.shape[1] or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"event_conv2d: input [N, C, H, W] and square weight [O, C, K, K] expected, "
                         f"got {tuple(x.shape)} and {tuple(weight.shape)}")
    if stride < 1 or padding < 0:
        raise ValueError(f"event_conv2d: stride >= 1 and padding >= 0 expected, got {stride}, {padding}")
    k = weight.shape[2]
    oh, ow = (x.shape[2] + 2 * padding - k) // stride + 1, (x.shape[3] + 2 * padding - k) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"event_conv2d: kernel {k} does not fit input {tuple(x.shape[2:])} with padding {padding}")
    return oh, ow


def weight_table(weight: torch.Tensor, width: int) -> torch.Tensor:
    """``weight`` ``[O, C, K, K]`` -> ``[K * K * C, OP]``: row ``(ky * K + kx) * C + c`` is
    ``weight[:, c, ky, kx]``, zero-padded to ``OP`` (the next multiple of ``width``) columns."""
    o, c, k, _ = weight.shape
    op = -(-o // width) * width
    table = torch.zeros(k * k * c, op, dtype=weight.dtype)
    table[:, :o] = weight.detach().permute(2, 3, 1, 0).reshape(k * k * c, o)
    return table


def scatter_cheaper(x: torch.Tensor) -> bool:
    """Whether the C kernel should scatter rather than gather: for a 1-channel input (an input
    layer) gathering spends most of its time looking at empty windows (measured:
    ``benchmarks/event_conv.py``). Decided by the shape alone, so each sample's sums run in
    the same order in any batch (the engines agree bit for bit where both take this path)."""
    return x.shape[1] == 1


def _native_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], stride: int,
                 padding: int, oh: int, ow: int, scatter: bool) -> torch.Tensor:
    lib = _native["lib"]
    width = lib.event_conv_width()
    table = weight_table(weight, width)
    (n, c, h, w), (o, op, k) = x.shape, (weight.shape[0], table.shape[1], weight.shape[2])
    bias_p = None
    if bias is not None:
        bias_p = torch.zeros(op, dtype=torch.float32)
        bias_p[:o] = bias.detach()
    x = x.contiguous()
    out = torch.empty(n, o, oh, ow, dtype=torch.float32)
    if n and lib.event_conv2d(x.data_ptr(), int(x.dtype == torch.float32), table.data_ptr(), build.ptr(bias_p),
                              out.data_ptr(), n, c, h, w, o, op, k, stride, padding, oh, ow, int(scatter),
                              max(1, min(torch.get_num_threads(), n))):
        raise MemoryError("event_conv2d: could not allocate the work space of a thread")
    return out


def _torch_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], stride: int,
                padding: int, oh: int, ow: int) -> torch.Tensor:
    """The torch path: for each kernel offset (ky, kx), add ``value * weight[:, c, ky, kx]`` of
    every nonzero input (n, c, y, x) to output ``(n, (y + P - ky) / S, (x + P - kx) / S)``
    where that is a whole position in range. Output built channels-last, returned ``[N, O, OH, OW]``."""
    n, (o, k) = x.shape[0], (weight.shape[0], weight.shape[2])
    dtype = weight.dtype
    out = torch.zeros(n * oh * ow, o, dtype=dtype, device=weight.device)
    nz = x.nonzero(as_tuple=True)
    vals = x[nz].to(dtype).unsqueeze(1) if x.dtype != torch.bool else None
    si, ci, yi, xi = nz
    wt = weight.detach().permute(2, 3, 1, 0)  # [K, K, C, O]
    for ky in range(k):
        ty = yi + (padding - ky)
        for kx in range(k):
            tx = xi + (padding - kx)
            ok = (ty >= 0) & (tx >= 0) & (ty % stride == 0) & (tx % stride == 0)
            ok &= (ty < oh * stride) & (tx < ow * stride)
            rows = wt[ky, kx][ci[ok]]
            if vals is not None:
                rows = rows * vals[ok]
            out.index_add_(0, (si[ok] * oh + ty[ok] // stride) * ow + tx[ok] // stride, rows)
    if bias is not None:
        out += bias.detach()
    return out.view(n, oh, ow, o).permute(0, 3, 1, 2).contiguous()


def event_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
                 stride: int = 1, padding: int = 0, method: str = "auto") -> torch.Tensor:
    """``F.conv2d(x.to(weight.dtype), weight, bias, stride, padding)`` summing only the nonzero
    inputs. ``x``: ``[N, C, H, W]`` bool or float; ``weight``: ``[O, C, K, K]``; returns
    ``[N, O, OH, OW]`` in the weight's dtype (no autograd)."""
    stride, padding = int(stride), int(padding)
    oh, ow = _check(x, weight, stride, padding)
    if method not in ("auto", "gather", "scatter"):
        raise ValueError(f"event_conv2d: method must be auto, gather or scatter, got {method!r}")
    if _native_usable(x, weight, bias):
        scatter = method == "scatter" or (method == "auto" and scatter_cheaper(x))
        return _native_conv(x, weight, bias, stride, padding, oh, ow, scatter)
    return _torch_conv(x, weight, bias, stride, padding, oh, ow)


def _plain(conv: torch.nn.Conv2d) -> bool:
    """Whether ``conv`` is one that :func:`event_conv2d` computes: square kernel, equal strides
    and paddings (integers), no dilation or groups, zero padding."""
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    return (k[0] == k[1] and s[0] == s[1] and not isinstance(p, str) and p[0] == p[1]
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def native_usable(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether the C kernel computes ``conv`` on ``x`` (CPU, float32 weights, bool or float32
    input, a :func:`_plain` conv): the condition for the density-adaptive path of a connection."""
    return x.dim() == 4 and _plain(conv) and _native_usable(x, conv.weight, conv.bias)


def conv_module(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """:func:`event_conv2d` with the parameters of ``conv`` (other convs: ``conv`` itself on the
    float input)."""
    if not _plain(conv):
        return F.conv2d(x.to(conv.weight.dtype), conv.weight, conv.bias, conv.stride, conv.padding,
                        conv.dilation, conv.groups)
    return event_conv2d(x, conv.weight, conv.bias, conv.stride[0], conv.padding[0])
