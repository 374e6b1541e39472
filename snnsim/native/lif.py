"""Native CPU kernels of the multi-step IF/LIF of :class:`snnsim.core.autograd.MultiStepNeuron`.

One fused C pass over ``[T, N]`` (N = all neurons of all samples) for the forward
recurrence and one for the adjoint (BPTT) recurrence, with the surrogate derivative
computed inline, instead of a Python loop of small torch ops per time step. Compiled on
first use with the system C compiler (the helpers of :mod:`snnsim.native.build`:
cached in ``$SNNSIM_CACHE_DIR`` or ``~/.cache/snnsim``), called through ctypes; column
ranges run in parallel on torch's OpenMP threads.

The forward pass runs the same float32 operations in the same order as the torch code
(no FMA contraction, no fast-math), so spikes and potentials are bit-identical; the
backward pass agrees with the torch code to float32 rounding. Used for contiguous
float32 CPU tensors, no refractory period and the surrogates Rectangular, FastSigmoid
and ArcTan; anything else (Lee's pseudo-derivative, float64, CUDA), a missing compiler,
or ``SNNSIM_NATIVE=0`` in the environment (read at each call) keeps the torch path.
Float32 CUDA tensors take the same passes as Triton kernels (:mod:`snnsim.native.lif_gpu`)
where Triton imports.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from snnsim.core.dynamics import NeuronParams, per_neuron
from snnsim.core.layout import like_layout, step_dense
from snnsim.core.surrogate import ArcTan, FastSigmoid, Rectangular, Surrogate
from snnsim.native import memory
from snnsim.native.build import build_library, c_source, library_status, load_once, native_disabled, ptr, threads_for

_I64, _F32, _INT, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_int, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
_gpu: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}  # the lif_gpu module
_SURROGATES = {Rectangular: 0, FastSigmoid: 1, ArcTan: 2}
_RESETS = {"zero": 0, "subtract": 1, "none": 2}


def _compile() -> ctypes.CDLL:
    dll = build_library(c_source("lif.c"), "lif")  # read at the first build, not at import
    dims = [_I64, _I64, _I64, _I64]
    dll.lif_fwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _INT, _INT]
    dll.lif_bwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, _F32, _INT, _INT, _INT, _INT,
                                _F32, _F32, _INT]
    dll.lif_sim_par.argtypes = [_PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _INT, _INT]
    dll.lif_fwd_par.restype = dll.lif_bwd_par.restype = dll.lif_sim_par.restype = None
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


def simulate_usable(current: torch.Tensor, p: NeuronParams) -> bool:
    """Whether a fused kernel can run these arguments (float32, on the CPU with the C kernels or
    on a CUDA device with Triton's; scalar parameters, no refractory period, kernels not
    switched off): the condition of :func:`lif_simulate`."""
    if (native_disabled() or p.refrac or per_neuron(p) or p.reset not in _RESETS or current.dtype != torch.float32
            or current.dim() < 1 or current.numel() == 0):
        return False
    if current.device.type == "cuda":
        return gpu_status() == "loaded"
    return current.device.type == "cpu" and _library() is not None


def native_usable(current: torch.Tensor, p: NeuronParams, surrogate: Surrogate) -> bool:
    """Whether :class:`MultiStepNeuron` can run the C kernels: :func:`simulate_usable` and a
    surrogate the backward kernel knows."""
    return type(surrogate) in _SURROGATES and simulate_usable(current, p)


def lif_simulate(current: torch.Tensor, p: NeuronParams, record_voltage: bool = False,
                 ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The no-autograd step loop in one C pass: (spikes bool ``[T, B, ...]``, potentials after
    reset like ``current`` or None). Bit-identical to :func:`snnsim.core.dynamics.neuron_multistep`
    from rest (same float operations in the same order)."""
    x = current.detach().contiguous()
    spikes = memory.empty_like(x, torch.bool)
    volts = memory.empty_like(x) if record_voltage else None
    t, n = x.shape[0], x[0].numel()
    leak, thresh, v_reset = float(p.leak), float(p.thresh), float(p.v_reset)
    if x.is_cuda:
        _gpu["lib"].forward(x, leak, thresh, v_reset, _RESETS[p.reset], bool(p.spiking), None, volts, None,
                               spikes.view(torch.uint8))
        return spikes, volts
    _library().lif_sim_par(ptr(x), spikes.data_ptr(), ptr(volts), t, n, 0, n, leak, int(leak != 1.0), thresh,
                           v_reset, _RESETS[p.reset], int(bool(p.spiking)), threads_for(n))
    return spikes, volts


def _steps_in_place(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself where each time step is one dense block (contiguous, or channels-last on the
    CPU: :func:`snnsim.core.layout.step_dense`), else a contiguous copy: the kernels run over
    ``[T, N]`` in memory order, the same for every tensor of a call as they share the strides."""
    return x if x.device.type == "cpu" and step_dense(x) else x.contiguous()


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    """An empty float32 tensor with ``x``'s shape and strides (huge-page backed when contiguous)."""
    return memory.empty_like(x) if x.is_contiguous() else torch.empty_like(x, dtype=torch.float32)


def lif_forward(current: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(spikes float 0/1, potentials after reset, pre-reset potentials), each like ``current``
    (channels-last stays channels-last on the CPU).

    The potentials are the pre-reset tensor itself for reset "none" or a non-spiking neuron."""
    x = _steps_in_place(current.detach())
    pre = _empty_like(x)
    separate = p.spiking and p.reset != "none"
    volts = _empty_like(x) if separate else pre
    spikes = _empty_like(x)
    t, n = x.shape[0], x[0].numel()
    leak, thresh, v_reset = float(p.leak), float(p.thresh), float(p.v_reset)
    reset, spiking, use_leak = _RESETS[p.reset], int(bool(p.spiking)), int(leak != 1.0)
    if x.is_cuda:
        _gpu["lib"].forward(x, leak, thresh, v_reset, reset, bool(spiking), pre, volts if separate else None,
                               spikes, None)
        return spikes, volts, pre
    lib = _library()
    lib.lif_fwd_par(ptr(x), ptr(pre), ptr(volts), ptr(spikes), t, n, 0, n, leak, use_leak, thresh, v_reset,
                    reset, spiking, threads_for(n))
    return spikes, volts, pre


def lif_backward(pre: torch.Tensor, g_s: Optional[torch.Tensor], g_v: Optional[torch.Tensor], p: NeuronParams,
                 surrogate: Surrogate, detach_reset: bool) -> torch.Tensor:
    """dL/dcurrent from the pre-reset potentials and the gradients of spikes / potentials (None: zero)."""
    gs = None if g_s is None or not p.spiking else like_layout(g_s.to(torch.float32), pre)
    gv = None if g_v is None else like_layout(g_v.to(torch.float32), pre)
    out = _empty_like(pre)
    t, n = pre.shape[0], pre[0].numel()
    kind = _SURROGATES[type(surrogate)]
    if kind == 0:
        width = float(surrogate.width)  # type: ignore[attr-defined]
        p1, p2 = width / 2, 1.0 / width
    elif kind == 1:
        p1, p2 = float(surrogate.slope), 0.0  # type: ignore[attr-defined]
    else:
        alpha = float(surrogate.alpha)  # type: ignore[attr-defined]
        p1, p2 = 3.141592653589793 / 2 * alpha, alpha / 2
    args = (float(p.leak), float(p.thresh), float(p.v_reset), _RESETS[p.reset], int(bool(p.spiking)),
            int(bool(detach_reset)), kind, p1, p2)
    if pre.is_cuda:
        _gpu["lib"].backward(pre, gs, gv, out, *args)
        return out
    lib = _library()
    lib.lif_bwd_par(ptr(pre), ptr(gs), ptr(gv), ptr(out), t, n, 0, n, *args, threads_for(n))
    return out

