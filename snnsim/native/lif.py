"""Native CPU kernels of the multi-step IF/LIF of :class:`snnsim.core.autograd.MultiStepNeuron`.

The kernels take plain numbers and tensors (this package imports nothing from :mod:`snnsim.core`):
the neuron's ``leak``, ``thresh``, ``v_reset``, ``reset`` name and ``spiking`` flag, and for the
backward pass a surrogate kernel ``(kind, p1, p2)`` that each surrogate states itself
(:meth:`snnsim.core.surrogate.Surrogate.kernel`). :mod:`snnsim.core.autograd` decides when to call them.

One fused C pass over ``[T, N]`` (N = all neurons of all samples) for the forward
recurrence and one for the adjoint (BPTT) recurrence, with the surrogate derivative
computed inline, instead of a Python loop of small torch ops per time step. Compiled on
first use with the system C compiler (the helpers of :mod:`snnsim.native.build`:
cached in ``$SNNSIM_CACHE_DIR`` or ``~/.cache/snnsim``), called through ctypes; column
ranges run in parallel on torch's OpenMP threads.

The forward pass runs the same float32 operations in the same order as the torch code
(no FMA contraction, no fast-math), so spikes and potentials are bit-identical; the
backward pass agrees with the torch code to float32 rounding. Used for contiguous
float32 CPU tensors, no refractory period and the surrogate kernel kinds 0, 1, 2 (Rectangular,
FastSigmoid, ArcTan) and ``LEE`` = 3 (Lee's pseudo-derivative: the forward pass also sums each
neuron's spikes and leak-weighted spike times in float64 and keeps the pseudo-derivative
``[N]`` instead of the ``[T, N]`` pre-reset potentials; the backward pass is
``dL/ds * pseudo``); anything else (float64, CUDA), a missing compiler, or
``SNNSIM_NATIVE=0`` in the environment (read at each call) keeps the torch path.
Float32 CUDA tensors take the same passes as Triton kernels (:mod:`snnsim.native.lif_gpu`)
where Triton imports.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, Optional

import torch

from snnsim.native import memory
from snnsim.native.build import build_library, c_source, library_status, load_once, native_disabled, ptr, threads_for
from snnsim.native.strides import like_layout, step_dense

_I64, _F32, _F64, _INT, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_double, ctypes.c_int, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
_gpu: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}  # the lif_gpu module
LEE = 3  #: kernel kind of Lee's pseudo-derivative (lif_fwd_lee_par / lee_bwd_par)
#: the surrogate kinds of the backward kernel (``kind`` in csrc/lif.c; LEE: lee_bwd_par)
KERNEL_KINDS: frozenset[int] = frozenset({0, 1, 2, LEE})
_RESETS = {"zero": 0, "subtract": 1, "none": 2}


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("lif.c"), "lif")  # read at the first build, not at import
    dims = [_I64, _I64, _I64, _I64]
    dll.lif_fwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _INT, _INT]
    dll.lif_bwd_par.argtypes = [
        _PTR,
        _PTR,
        _PTR,
        _PTR,
        *dims,
        _F32,
        _F32,
        _F32,
        _INT,
        _INT,
        _INT,
        _INT,
        _F32,
        _F32,
        _INT,
    ]
    dll.lif_sim_par.argtypes = [_PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _INT, _INT]
    dll.lif_fwd_lee_par.argtypes = [_PTR, _PTR, _PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _F64, _F64, _INT]
    dll.lee_bwd_par.argtypes = [_PTR, _PTR, _PTR, *dims, _INT]
    dll.lif_fwd_par.restype = dll.lif_bwd_par.restype = dll.lif_sim_par.restype = None
    dll.lif_fwd_lee_par.restype = dll.lee_bwd_par.restype = None
    return dll


def _library() -> Optional[ctypes.CDLL]:
    return load_once(_native, _compile)


def native_status() -> str:
    """``"loaded"`` when the C kernels can be used, else why not (the torch path then)."""
    return library_status(_native, _compile)


def _load_gpu() -> Any:
    """Import the Triton kernels and run one tiny forward pass on the GPU (RuntimeError if either fails)."""
    try:
        from snnsim.native import lif_gpu

        x = torch.full((2, 3), 0.6, device="cuda")
        spikes = torch.empty(x.shape, dtype=torch.uint8, device="cuda")
        lif_gpu.forward(x, 1.0, 1.0, 0.0, 0, True, None, None, None, spikes)
    except Exception as err:  # noqa: BLE001 - no Triton, or one that fails to compile or run here
        raise RuntimeError(f"Triton kernels ({type(err).__name__}: {err})") from err
    if spikes.tolist() != [[0, 0, 0], [1, 1, 1]]:
        raise RuntimeError(f"Triton kernels: the smoke test gave {spikes.tolist()}")
    return lif_gpu


def gpu_status() -> str:
    """``"loaded"`` when the Triton kernels for CUDA tensors can be used, else why not. The first
    call imports Triton and runs one tiny forward pass on the GPU; any failure keeps the torch path."""
    return library_status(_gpu, _load_gpu)


def simulate_usable(current: torch.Tensor, reset: str) -> bool:
    """Whether a fused kernel can run ``current`` (float32, on the CPU with the C kernels or on a
    CUDA device with Triton's; a known ``reset``; kernels not switched off). The caller checks
    that the parameters are scalars and that there is no refractory period."""
    if (
        native_disabled()
        or reset not in _RESETS
        or current.dtype != torch.float32
        or current.dim() < 1
        or current.numel() == 0
    ):
        return False
    if current.device.type == "cuda":
        return gpu_status() == "loaded"
    return current.device.type == "cpu" and _library() is not None


def backward_usable(current: torch.Tensor, reset: str, kind: Optional[int]) -> bool:
    """:func:`simulate_usable` and a surrogate kernel ``kind`` the backward kernel knows."""
    return kind in KERNEL_KINDS and simulate_usable(current, reset)


def lif_simulate(
    current: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: str,
    spiking: bool,
    record_voltage: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The no-autograd step loop in one C pass: (spikes bool ``[T, B, ...]``, potentials after
    reset like ``current`` or None). Bit-identical to :func:`snnsim.core.dynamics.neuron_multistep`
    from rest (same float operations in the same order)."""
    x = current.detach().contiguous()
    spikes = memory.empty_like(x, torch.bool)
    volts = memory.empty_like(x) if record_voltage else None
    t, n = x.shape[0], x[0].numel()
    leak, thresh, v_reset = float(leak), float(thresh), float(v_reset)
    if x.is_cuda:
        _gpu["lib"].forward(
            x, leak, thresh, v_reset, _RESETS[reset], bool(spiking), None, volts, None, spikes.view(torch.uint8)
        )
        return spikes, volts
    _library().lif_sim_par(
        ptr(x),
        spikes.data_ptr(),
        ptr(volts),
        t,
        n,
        0,
        n,
        leak,
        int(leak != 1.0),
        thresh,
        v_reset,
        _RESETS[reset],
        int(bool(spiking)),
        threads_for(n),
    )
    return spikes, volts


def _steps_in_place(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself where each time step is one dense block (contiguous, or channels-last on the
    CPU: :func:`snnsim.native.strides.step_dense`), else a contiguous copy: the kernels run over
    ``[T, N]`` in memory order, the same for every tensor of a call as they share the strides."""
    return x if x.device.type == "cpu" and step_dense(x) else x.contiguous()


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    """An empty float32 tensor with ``x``'s shape and strides, huge-page backed (:func:`memory.empty`)
    when ``x`` is contiguous or a permutation of a contiguous tensor (e.g. channels-last)."""
    if x.is_contiguous():
        return memory.empty_like(x, torch.float32)
    order = sorted(range(x.dim()), key=lambda i: (-x.stride(i), i))  # outermost dimension first
    out = memory.empty([x.shape[i] for i in order], torch.float32, x.device).permute(
        *[order.index(i) for i in range(x.dim())]
    )
    return out if out.stride() == x.stride() else torch.empty_like(x, dtype=torch.float32)


def _lee_forward(
    x: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spikes and potentials after reset ``[T, B, ...]`` and the pseudo-derivative ``[B, ...]``
    (:func:`snnsim.core.surrogate.lee_pseudo_derivative` of the spikes, float32)."""
    spikes, volts = memory.empty_like(x), memory.empty_like(x)
    pseudo = torch.empty(x.shape[1:], dtype=torch.float32, device=x.device)
    t, n = x.shape[0], x[0].numel()
    leak, thresh = float(leak), float(thresh)
    steps = torch.arange(1, t + 1, dtype=torch.float64, device=x.device)
    lpow = (leak ** (t - steps)).contiguous()  # the float64 weights of the torch path
    inv_th, log_leak = 1.0 / thresh, (math.log(leak) if leak != 1.0 else 0.0)
    if x.is_cuda:
        _gpu["lib"].forward_lee(
            x, leak, thresh, float(v_reset), _RESETS[reset], volts, spikes, pseudo, lpow, inv_th, log_leak
        )
        return spikes, volts, pseudo
    _library().lif_fwd_lee_par(
        ptr(x),
        ptr(volts),
        ptr(spikes),
        ptr(pseudo),
        ptr(lpow),
        t,
        n,
        0,
        n,
        leak,
        int(leak != 1.0),
        thresh,
        float(v_reset),
        _RESETS[reset],
        inv_th,
        log_leak,
        threads_for(n),
    )
    return spikes, volts, pseudo


def _lee_backward(pseudo: torch.Tensor, g_s: Optional[torch.Tensor], g_v: Optional[torch.Tensor]) -> torch.Tensor:
    """``dL/dcurrent [T, B, ...] = dL/ds * pseudo`` (``dL/dv`` does not enter, as in the torch path)."""
    if g_s is None:
        assert g_v is not None  # autograd does not call backward without any gradient
        return torch.zeros_like(g_v, dtype=torch.float32)
    gs = g_s.to(torch.float32).contiguous()
    out = memory.empty_like(gs)
    t, n = gs.shape[0], gs[0].numel()
    if gs.is_cuda:
        _gpu["lib"].backward_lee(gs, pseudo, out)
        return out
    _library().lee_bwd_par(ptr(gs), ptr(pseudo), ptr(out), t, n, 0, n, threads_for(n))
    return out


def lif_forward(
    current: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: str,
    spiking: bool,
    kind: Optional[int] = None,
    want_volts: bool = True,
) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """(spikes float 0/1, potentials after reset, saved), the first two like ``current``; saved is
    what :func:`lif_backward` takes: the pre-reset potentials, or for Lee's pseudo-derivative
    (surrogate kernel ``kind == LEE``) at a spiking layer the pseudo-derivative per neuron ``[B, ...]``.

    Channels-last stays channels-last on the CPU (except for LEE). The potentials are the
    pre-reset tensor itself for reset "none" or a non-spiking neuron; None unless ``want_volts``
    (then the CPU kernel does not write them)."""
    if kind == LEE and spiking:
        spikes, volts, pseudo = _lee_forward(current.detach().contiguous(), leak, thresh, v_reset, reset)
        return spikes, (volts if want_volts else None), pseudo
    x = _steps_in_place(current.detach())
    pre = _empty_like(x)
    separate = spiking and reset != "none"
    volts = (_empty_like(x) if want_volts or x.is_cuda else None) if separate else pre
    spikes = _empty_like(x)
    t, n = x.shape[0], x[0].numel()
    leak, thresh, v_reset = float(leak), float(thresh), float(v_reset)
    reset_id, spiking_i, use_leak = _RESETS[reset], int(bool(spiking)), int(leak != 1.0)
    if x.is_cuda:
        _gpu["lib"].forward(
            x, leak, thresh, v_reset, reset_id, bool(spiking_i), pre, volts if separate else None, spikes, None
        )
        return spikes, (volts if want_volts else None), pre
    lib = _library()
    lib.lif_fwd_par(
        ptr(x),
        ptr(pre),
        ptr(volts),
        ptr(spikes),
        t,
        n,
        0,
        n,
        leak,
        use_leak,
        thresh,
        v_reset,
        reset_id,
        spiking_i,
        threads_for(n),
    )
    return spikes, (volts if want_volts else None), pre


def lif_backward(
    pre: torch.Tensor,
    g_s: Optional[torch.Tensor],
    g_v: Optional[torch.Tensor],
    leak: float,
    thresh: float,
    v_reset: float,
    reset: str,
    spiking: bool,
    detach_reset: bool,
    kernel: tuple[int, float, float],
) -> torch.Tensor:
    """dL/dcurrent from what :func:`lif_forward` saved (``pre``) and the gradients of spikes / potentials
    (None: zero); ``kernel`` = (surrogate kind, p1, p2) as :meth:`snnsim.core.surrogate.Surrogate.kernel`
    states it (kind LEE at a non-spiking layer: the surrogate does not enter)."""
    kind, p1, p2 = kernel
    if kind == LEE and spiking:
        return _lee_backward(pre, g_s, g_v)
    gs = None if g_s is None or not spiking else like_layout(g_s.to(torch.float32), pre)
    gv = None if g_v is None else like_layout(g_v.to(torch.float32), pre)
    out = _empty_like(pre)
    t, n = pre.shape[0], pre[0].numel()
    args = (
        float(leak),
        float(thresh),
        float(v_reset),
        _RESETS[reset],
        int(bool(spiking)),
        int(bool(detach_reset)),
        int(kind),
        float(p1),
        float(p2),
    )
    if pre.is_cuda:
        _gpu["lib"].backward(pre, gs, gv, out, *args)
        return out
    lib = _library()
    lib.lif_bwd_par(ptr(pre), ptr(gs), ptr(gv), ptr(out), t, n, 0, n, *args, threads_for(n))
    return out
