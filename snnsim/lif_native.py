"""Native CPU kernels of the multi-step IF/LIF of :class:`snnsim.autograd.MultiStepNeuron`.

One fused C pass over ``[T, N]`` (N = all neurons of all samples) for the forward
recurrence and one for the adjoint (BPTT) recurrence, with the surrogate derivative
computed inline, instead of a Python loop of small torch ops per time step. Compiled on
first use with the system C compiler (the helpers of :mod:`snnsim.fastsnn_native`:
cached in ``$SNNSIM_CACHE_DIR`` or ``~/.cache/snnsim``), called through ctypes; column
ranges run in parallel on torch's OpenMP threads.

The forward pass runs the same float32 operations in the same order as the torch code
(no FMA contraction, no fast-math), so spikes and potentials are bit-identical; the
backward pass agrees with the torch code to float32 rounding. Used for contiguous
float32 CPU tensors, no refractory period and the surrogates Rectangular, FastSigmoid
and ArcTan; anything else (Lee's pseudo-derivative, float64, CUDA), a missing compiler,
or ``SNNSIM_NATIVE=0`` in the environment (read at each call) keeps the torch path.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional

import torch

from .dynamics import NeuronParams, per_neuron
from .fastsnn_native import _ptr, build_library, library_status, load_once, native_disabled, threads_for
from .surrogate import ArcTan, FastSigmoid, Rectangular, Surrogate

_C_SOURCE = r"""
#include <stdint.h>
#include <math.h>
#include <string.h>
#define BLK 512
typedef int64_t i64;

/* reset: 0 zero, 1 subtract, 2 none. pre: pre-reset potentials; volts: after reset
   (not written when reset is none or the neuron does not spike: then volts == pre). */
void lif_fwd(const float* x, float* pre, float* volts, float* sf, i64 T, i64 N, i64 j0, i64 j1,
             float leak, int use_leak, float thresh, float v_reset, int reset, int spiking) {
    float v[BLK];
    uint32_t tbits;
    memcpy(&tbits, &thresh, 4);
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) v[j] = v_reset;
        for (i64 t = 0; t < T; ++t) {
            const float* xr = x + t * N + b;
            float* hr = pre + t * N + b;
            float* vr = volts + t * N + b;
            float* sr = sf + t * N + b;
            if (use_leak) {
                for (i64 j = 0; j < w; ++j) { float h = v[j] * leak; h = h + xr[j]; hr[j] = h; v[j] = h; }
            } else {
                for (i64 j = 0; j < w; ++j) { float h = v[j] + xr[j]; hr[j] = h; v[j] = h; }
            }
            if (!spiking) {
                for (i64 j = 0; j < w; ++j) sr[j] = 0.0f;
            } else if (reset == 0) {
                for (i64 j = 0; j < w; ++j) {
                    float h = v[j]; int s = h >= thresh;
                    float y = s ? v_reset : h;
                    sr[j] = s ? 1.0f : 0.0f; v[j] = y; vr[j] = y;
                }
            } else if (reset == 1) {
                for (i64 j = 0; j < w; ++j) {
                    /* d = (float)s * thresh, as a bit mask: thresh or +0 (thresh > 0, finite) */
                    float h = v[j]; uint32_t m = 0u - (uint32_t)(h >= thresh), d;
                    d = m & tbits;
                    float df, y;
                    memcpy(&df, &d, 4);
                    y = h - df;
                    sr[j] = (float)(m & 1u); v[j] = y; vr[j] = y;
                }
            } else {
                for (i64 j = 0; j < w; ++j) sr[j] = (v[j] >= thresh) ? 1.0f : 0.0f;
            }
        }
    }
}

/* sur: 0 rectangular (p1 = width), 1 fast sigmoid (p1 = slope), 2 arctan (p1 = alpha).
   gs, gv: gradients of spikes / potentials, either may be NULL (zero). */
void lif_bwd(const float* pre, const float* gs, const float* gv, float* gi, i64 T, i64 N, i64 j0,
             i64 j1, float leak, float thresh, float v_reset, int reset, int spiking, int detach,
             int sur, float p1, float p2) {
    float g[BLK], sg[BLK], a[BLK];
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) g[j] = 0.0f;
        for (i64 t = T - 1; t >= 0; --t) {
            const float* hr = pre + t * N + b;
            const float* gsr = gs ? gs + t * N + b : 0;
            const float* gvr = gv ? gv + t * N + b : 0;
            float* o = gi + t * N + b;
            if (!spiking) {  /* dL/dh[t] = gv[t] + leak dL/dh[t+1] */
                if (gvr) for (i64 j = 0; j < w; ++j) { float y = gvr[j] + leak * g[j]; g[j] = y; o[j] = y; }
                else for (i64 j = 0; j < w; ++j) { float y = leak * g[j]; g[j] = y; o[j] = y; }
                continue;
            }
            if (sur == 0) {         /* p1 = width / 2, p2 = 1 / width */
                for (i64 j = 0; j < w; ++j) { float u = hr[j] - thresh; sg[j] = (fabsf(u) < p1) ? p2 : 0.0f; }
            } else if (sur == 1) {  /* p1 = slope */
                for (i64 j = 0; j < w; ++j) {
                    float u = hr[j] - thresh; float q = p1 * fabsf(u); q = q + 1.0f; sg[j] = 1.0f / (q * q);
                }
            } else {                /* p1 = pi / 2 * alpha, p2 = alpha / 2 */
                for (i64 j = 0; j < w; ++j) {
                    float u = hr[j] - thresh; float z = p1 * u; z = z * z; sg[j] = p2 / (1.0f + z);
                }
            }
            if (reset == 0) {
                if (detach) for (i64 j = 0; j < w; ++j) a[j] = (hr[j] >= thresh) ? 0.0f : 1.0f;
                else for (i64 j = 0; j < w; ++j) {
                    float h = hr[j]; float c = (h >= thresh) ? 0.0f : 1.0f;
                    float d = v_reset - h; d = d * sg[j]; a[j] = c + d;
                }
            } else if (reset == 1 && !detach) {
                for (i64 j = 0; j < w; ++j) { float d = thresh * sg[j]; a[j] = 1.0f - d; }
            } else {
                for (i64 j = 0; j < w; ++j) a[j] = 1.0f;
            }
            /* dL/dh[t] = gs sg + gv a + (a leak) dL/dh[t+1] */
            if (gsr && gvr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gsr[j] * sg[j]; y = y + gvr[j] * a[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else if (gsr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gsr[j] * sg[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else if (gvr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gvr[j] * a[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else {
                for (i64 j = 0; j < w; ++j) { float y = g[j] * (a[j] * leak); g[j] = y; o[j] = y; }
            }
        }
    }
}

void lif_fwd_par(const float* x, float* pre, float* volts, float* sf, i64 T, i64 N, i64 j0, i64 j1, float leak,
                 int use_leak, float thresh, float v_reset, int reset, int spiking, int threads) {
    PAR_RANGES(j0, j1, threads, lif_fwd(x, pre, volts, sf, T, N, a, b, leak, use_leak, thresh, v_reset, reset, spiking));
}

void lif_bwd_par(const float* pre, const float* gs, const float* gv, float* gi, i64 T, i64 N, i64 j0, i64 j1,
                 float leak, float thresh, float v_reset, int reset, int spiking, int detach, int sur, float p1,
                 float p2, int threads) {
    PAR_RANGES(j0, j1, threads, lif_bwd(pre, gs, gv, gi, T, N, a, b, leak, thresh, v_reset, reset, spiking, detach,
                                        sur, p1, p2));
}
"""
_I64, _F32, _INT, _PTR = ctypes.c_int64, ctypes.c_float, ctypes.c_int, ctypes.c_void_p
_native: dict[str, Any] = {"lib": None, "tried": False, "reason": "not loaded yet"}
_SURROGATES = {Rectangular: 0, FastSigmoid: 1, ArcTan: 2}
_RESETS = {"zero": 0, "subtract": 1, "none": 2}


def _compile() -> ctypes.CDLL:
    dll = build_library(_C_SOURCE, "lif")
    dims = [_I64, _I64, _I64, _I64]
    dll.lif_fwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _INT, _F32, _F32, _INT, _INT, _INT]
    dll.lif_bwd_par.argtypes = [_PTR, _PTR, _PTR, _PTR, *dims, _F32, _F32, _F32, _INT, _INT, _INT, _INT,
                                _F32, _F32, _INT]
    dll.lif_fwd_par.restype = dll.lif_bwd_par.restype = None
    return dll


def _library() -> Optional[ctypes.CDLL]:
    return load_once(_native, _compile)


def native_status() -> str:
    """``"loaded"`` when the C kernels can be used, else why not (the torch path then)."""
    return library_status(_native, _compile)


def native_usable(current: torch.Tensor, p: NeuronParams, surrogate: Surrogate) -> bool:
    """Whether :class:`MultiStepNeuron` can run the C kernels for these arguments."""
    return (not native_disabled() and type(surrogate) in _SURROGATES
            and not p.refrac and not per_neuron(p) and p.reset in _RESETS and current.device.type == "cpu"
            and current.dtype == torch.float32 and current.dim() >= 1 and current.numel() > 0
            and _library() is not None)


def lif_forward(current: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(spikes float 0/1, potentials after reset, pre-reset potentials), each like ``current``.

    The potentials are the pre-reset tensor itself for reset "none" or a non-spiking neuron."""
    x = current.detach().contiguous()
    pre = torch.empty_like(x)
    separate = p.spiking and p.reset != "none"
    volts = torch.empty_like(x) if separate else pre
    spikes = torch.empty_like(x)
    t, n = x.shape[0], x[0].numel()
    lib = _library()
    leak, thresh, v_reset = float(p.leak), float(p.thresh), float(p.v_reset)
    reset, spiking, use_leak = _RESETS[p.reset], int(bool(p.spiking)), int(leak != 1.0)
    lib.lif_fwd_par(_ptr(x), _ptr(pre), _ptr(volts), _ptr(spikes), t, n, 0, n, leak, use_leak, thresh, v_reset,
                    reset, spiking, threads_for(n))
    return spikes, volts, pre


def lif_backward(pre: torch.Tensor, g_s: Optional[torch.Tensor], g_v: Optional[torch.Tensor], p: NeuronParams,
                 surrogate: Surrogate, detach_reset: bool) -> torch.Tensor:
    """dL/dcurrent from the pre-reset potentials and the gradients of spikes / potentials (None: zero)."""
    gs = None if g_s is None or not p.spiking else g_s.to(torch.float32).contiguous()
    gv = None if g_v is None else g_v.to(torch.float32).contiguous()
    out = torch.empty_like(pre)
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
    lib = _library()
    args = (float(p.leak), float(p.thresh), float(p.v_reset), _RESETS[p.reset], int(bool(p.spiking)),
            int(bool(detach_reset)), kind, p1, p2)
    lib.lif_bwd_par(_ptr(pre), _ptr(gs), _ptr(gv), _ptr(out), t, n, 0, n, *args, threads_for(n))
    return out

