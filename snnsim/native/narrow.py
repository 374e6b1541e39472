"""Native CPU kernels of a dense linear layer with few output features (a classifier's output
layer), and the autograd function that uses them.

``csrc/narrow.c`` computes ``x @ W.T + b``, the input gradient ``g @ W`` and the weight gradient
``g.T @ x`` for ``W`` ``[M, K]`` with ``M <= MAX_OUT``. For such shapes MKL's sgemm spends its
time packing the ``[N, K]`` input (the output layer of LIF 784-800-10 at T = 25, batch 128:
2.4-3.4 ms for the forward pass against about 1.3 ms here, AMD EPYC, 1 thread). Each output row is
summed on its own, in an order that does not depend on the batch or the thread count, so the
fast engine's ``[T * B, K]`` call and the step-by-step engine's ``[B, K]`` calls give the same
bits; against MKL the sums agree within float rounding. Off with ``SNNSIM_NATIVE=0`` or
``SNNSIM_NARROW_LINEAR=0``, or without a C compiler.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch
from torch import nn

from snnsim.native import build, memory

_I64, _PTR, _INT = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
#: torch's flags plus AVX-512 vectors where torch uses them; products contract into fused
#: multiply-adds where the ISA has them (compared with MKL within rounding anyway)
_FLAGS = [
    *(f for f in build._CFLAGS if f != "-ffp-contract=off"),
    "-ffp-contract=fast",
    *(["-mavx512f"] if torch.backends.cpu.get_cpu_capability() == "AVX512" else []),
    *(["-mfma"] if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") else []),
]
#: the most output features the kernels take
MAX_OUT = 32
#: smaller inputs (``N * K`` entries) go through torch: the call would cost more than it saves
MIN_ENTRIES = 1 << 16


def _compile() -> ctypes.CDLL:
    dll = build.build_library(build.c_source("narrow.c"), "narrow", _FLAGS)
    dll.narrow_fwd.argtypes = [_PTR, _PTR, _PTR, _PTR, _I64, _I64, _I64, _INT]
    dll.narrow_gin.argtypes = [_PTR, _PTR, _PTR, _I64, _I64, _I64, _INT]
    dll.narrow_gw.argtypes = [_PTR, _PTR, _PTR, _I64, _I64, _I64, _INT]
    dll.narrow_fwd.restype = dll.narrow_gin.restype = dll.narrow_gw.restype = None
    return dll


def native_status() -> str:
    """``"loaded"`` when the C kernels can be used, else why not."""
    return build.library_status(_native, _compile, build.native_off("SNNSIM_NARROW_LINEAR"))


def usable(x: torch.Tensor, linear: nn.Linear) -> bool:
    """Whether :func:`narrow_linear` computes ``linear(x)`` for ``x`` ``[N, K]``: float32 on the CPU,
    at most :data:`MAX_OUT` output features, at least :data:`MIN_ENTRIES` input entries, the
    library loaded."""
    w, b = linear.weight, linear.bias
    return (
        x.dim() == 2
        and x.dtype == torch.float32
        and w.dtype == torch.float32
        and (b is None or b.dtype == torch.float32)
        and x.device.type == "cpu"
        and w.device.type == "cpu"
        and 0 < w.shape[0] <= MAX_OUT
        and x.shape[0] * x.shape[1] >= MIN_ENTRIES
        and build.native_off("SNNSIM_NARROW_LINEAR") is None
        and build.load_once(_native, _compile) is not None
    )


def _threads(n: int) -> int:
    return build.threads_for(n, grain=64)


def forward(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``x @ weight.T + bias``: ``[N, K]``, ``[M, K]``, ``[M]`` or None -> ``[N, M]``."""
    x, w = x.detach().contiguous(), weight.detach().contiguous()
    b = None if bias is None else bias.detach().contiguous()
    out = torch.empty(x.shape[0], w.shape[0], dtype=torch.float32)
    _native["lib"].narrow_fwd(
        x.data_ptr(), w.data_ptr(), build.ptr(b), out.data_ptr(), *x.shape, w.shape[0], _threads(x.shape[0])
    )
    return out


def grad_input(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``grad @ weight``: ``[N, M]``, ``[M, K]`` -> ``[N, K]`` (pooled: :func:`memory.empty`)."""
    g, w = grad.contiguous(), weight.detach().contiguous()
    out = memory.empty((g.shape[0], w.shape[1]))
    _native["lib"].narrow_gin(
        g.data_ptr(), w.data_ptr(), out.data_ptr(), g.shape[0], w.shape[1], w.shape[0], _threads(g.shape[0])
    )
    return out


def grad_weight(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad.T @ x``: ``[N, M]``, ``[N, K]`` -> ``[M, K]``."""
    g, x = grad.contiguous(), x.contiguous()
    out = torch.empty(g.shape[1], x.shape[1], dtype=torch.float32)
    _native["lib"].narrow_gw(
        g.data_ptr(), x.data_ptr(), out.data_ptr(), *x.shape, g.shape[1], build.threads_for(x.shape[1], grain=64)
    )
    return out


class _NarrowLinear(torch.autograd.Function):
    """``x @ W.T + b`` with the native kernels in both directions."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return forward(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad = grad.to(torch.float32)
        gx = grad_input(grad, weight) if ctx.needs_input_grad[0] else None
        gw = grad_weight(grad, x) if ctx.needs_input_grad[1] else None
        gb = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


def narrow_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` for ``x`` ``[N, K]`` by the native kernels (the caller checked :func:`usable`);
    differentiable in ``x``, the weight and the bias."""
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in linear.parameters())):
        return _NarrowLinear.apply(x, linear.weight, linear.bias)
    return forward(x, linear.weight, linear.bias)
