"""Native CPU kernels of FastSNN: a small C library compiled on first use.

The scan and the whole single-spike layer (forward: scan + first crossing in one pass;
backward: the reverse pass of :mod:`snnsim.methods.fastsnn.layer` in one pass) for float32 CPU tensors,
compiled with the system C compiler (``cc``; cached in ``$SNNSIM_CACHE_DIR`` or
``~/.cache/snnsim``) and called through ctypes; column ranges run in parallel on torch's
OpenMP threads (``csrc/parallel.h``). Same float32 operations in the same order as the torch code (no FMA
contraction), so spikes are identical. Without a compiler, or with
``SNNSIM_NATIVE=0`` (all native kernels) or ``SNNSIM_FASTSNN_NATIVE=0`` (these only; both
read at every call, also after the library was loaded), :mod:`snnsim.methods.fastsnn.layer` runs its
pure-torch code instead.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from snnsim.native import memory
from snnsim.native.build import build_library, c_source, library_status, load_once, native_off, ptr, threads_for

# --------------------------------------------------------------------------- native kernels
# Arrays are row-major [T, N] (N = all neurons of all samples); each call handles the
# columns [j0, j1) in blocks, so a block's state stays in cache while t advances. The
# forward pass keeps no potential: the backward pass recomputes it per block.
_I64, _F32, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet", "off": False}


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("fastsnn.c"), "fastsnn")  # read at the first build, not at import
    dims = [_I64, _I64, _I64, _I64]
    dll.decay_par.argtypes = [_PTR, _PTR, *dims, _F32, ctypes.c_int, ctypes.c_int]
    dll.lif1_fwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, ctypes.c_int]
    dll.lif1_bwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, _F32, ctypes.c_int, ctypes.c_int]
    dll.decay_par.restype = dll.lif1_fwd_par.restype = None
    dll.lif1_bwd_par.restype = ctypes.c_int
    return dll


def _switched_off() -> Optional[str]:
    """Why the FastSNN kernels are off now: ``SNNSIM_NATIVE=0``, ``SNNSIM_FASTSNN_NATIVE=0``
    (both read at every call, and they win over :func:`set_native`) or ``set_native(False)``."""
    return native_off("SNNSIM_FASTSNN_NATIVE") or ("switched off by set_native(False)" if _native["off"] else None)


def _library() -> Optional[ctypes.CDLL]:
    return None if _switched_off() is not None else load_once(_native, _compile)


def native_status() -> str:
    """``"loaded"`` when the C kernels are in use, else why not (pure torch then)."""
    return library_status(_native, _compile, _switched_off())


def set_native(enabled: bool) -> None:
    """Switch the C kernels on (compiling them if needed) or off, e.g. to compare backends.
    ``SNNSIM_NATIVE=0`` / ``SNNSIM_FASTSNN_NATIVE=0`` in the environment keep them off."""
    _native["off"] = not enabled
    if enabled and _native["lib"] is None:  # retry a failed build
        _native.update(tried=False, reason="not loaded yet")
        _library()


def _native_usable(x: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() >= 1
        and x.numel() > 0
        and _library() is not None
    )


def _native_decay(x: torch.Tensor, beta: float, reverse: bool) -> torch.Tensor:
    x = x.contiguous()
    out = memory.empty_like(x)
    t, n = x.shape[0], x[0].numel()
    lib = _library()
    lib.decay_par(ptr(x), ptr(out), t, n, 0, n, beta, int(reverse), threads_for(n))
    return out


def _native_forward(
    x: torch.Tensor, beta: float, thresh: float, spike_dtype: torch.dtype, potential: bool
) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """(spikes of ``spike_dtype`` (float32 or bool), V or None, first-spike steps int32)."""
    x = x.contiguous()
    s = memory.empty_like(x, spike_dtype)
    v = memory.empty_like(x) if potential else None
    sf, sb = (s, None) if spike_dtype == torch.float32 else (None, s)
    t_first = torch.empty(x.shape[1:], dtype=torch.int32)
    t, n = x.shape[0], x[0].numel()
    lib = _library()
    lib.lif1_fwd_par(ptr(x), ptr(v), ptr(sf), ptr(sb), ptr(t_first), t, n, 0, n, beta, thresh, threads_for(n))
    return s, v, t_first


def _native_backward(
    gs: torch.Tensor, x: torch.Tensor, t_first: torch.Tensor, beta: float, thresh: float, slope: float, grad: str
) -> torch.Tensor:
    gs, x = gs.contiguous(), x.contiguous()
    out = memory.empty_like(gs)
    t, n = gs.shape[0], gs[0].numel()
    tf = t_first.to(torch.int32).contiguous()
    lib = _library()
    seq = int(grad == "sequential")
    if lib.lif1_bwd_par(ptr(gs), ptr(x), ptr(tf), ptr(out), t, n, 0, n, beta, thresh, slope, seq, threads_for(n)):
        raise MemoryError(f"fastsnn backward: could not allocate {t} x 64 floats of work space")
    return out
