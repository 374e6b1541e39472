"""FastSNN kernels (Taylor, King & Harper 2022): single-spike LIF layers for all steps at once.

A LIF neuron ``V[t] = beta V[t-1] + I[t]`` (threshold ``thresh``) that fires at most once
needs no reset, so its potential up to the spike is the causal convolution of ``I`` with
``beta^k`` and its only spike is the first threshold crossing of that potential:

    V = decay_conv(I, beta);  z = H(V - thresh);  a = cumsum_t z;  b = cumsum_t a
    spikes = g(b),  g(x) = ReLU(x (1 - x) + 1) x     (1 exactly where b == 1)

:func:`first_crossing_formula` is that formula literally; the kernels find the first
crossing ``t*`` directly. Backward (fast-sigmoid surrogate ``sg = 1 / (slope |V - thresh| + 1)^2``,
``gs = dL/dspikes``), two choices (:data:`GRAD_MODES`):

- ``"trick"`` (the paper's): the exact derivative of the formula. ``g'(0) = 1`` and
  ``g'(b >= 1) = 0``, so ``dL/dz[t] = sum_{t <= u < t*} (u - t + 1) gs[u]`` (two reverse cumsums
  of the gradient of the steps before the spike), ``dL/dV = dL/dz * sg``;
- ``"sequential"`` (default, :data:`DEFAULT_GRAD`): BPTT of the equivalent step-by-step
  single-spike LIF (spike gating detached): ``dL/dV[t] = gs[t] * sg[t]`` for ``t <= t*``, 0
  after the spike.

Why ``sequential`` is the default: the trick's weights ``(u - t + 1)`` reach ``T`` and it ignores
the gradient at the spike itself (``g'(1) = 0``). In the README's mnist10k run (784-200-10,
T = 100, Adam lr 2e-3, 5 epochs) it let hidden neurons fall silent and the loss rise from
epoch 2 for seeds 0 and 2 (held out 54.6% and 51.5%, 0.14 and 0.07 spikes per hidden neuron;
seed 1: 78.9%), while ``sequential`` trained every seed (88.6-89.4%, loss falling each epoch).

Then ``dL/dI[t] = sum_{u >= t} beta^(u-t) dL/dV[u]`` (the anti-causal decay).

Decay convolution methods (:data:`DECAY_METHODS`): ``scan`` (the sequential recurrence in
the same float operations as :mod:`snnsim.core.dynamics`, hence bit-identical to it),
``matmul`` (lower-triangular Toeplitz matrix, float64) and ``fft`` (float64). ``auto``
picks ``scan`` on the CPU (the native scan is one memory-bound pass, faster than matmul/FFT
at every T measured, 8..2048) and ``matmul`` (T <= 1024) or ``fft`` on accelerators, where a
T-step loop is launch-bound. Non-scan methods agree with the recurrence to ~1e-7 relative,
so a spike can differ where V is that close to thresh.

Native kernels: on the CPU, for float32, the scan and the whole single-spike layer (forward:
scan + first crossing in one pass; backward: the reverse pass above in one pass) run as a
small C library compiled on first use with the system C compiler (``cc``, cached in
``$SNNSIM_CACHE_DIR`` or ``~/.cache/snnsim``) and called through ctypes, one thread per
column range (the GIL is released). It performs the same float32 operations in the same
order as the torch code (no FMA contraction). Without a compiler, or with
``SNNSIM_FASTSNN_NATIVE=0``, the pure-torch code runs instead; :func:`native_status` says which.
Tensors are time-major ``[T, B, ...]``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from snnsim.core.surrogate import fast_sigmoid
from snnsim.native.fastsnn import (  # noqa: F401  (native_status, set_native are public here too)
    _native_backward,
    _native_decay,
    _native_forward,
    _native_usable,
    native_status,
    set_native,
)

DECAY_METHODS = ("auto", "scan", "matmul", "fft")
GRAD_MODES = ("trick", "sequential")
#: the gradient form used when none is given (see the module docstring for the measurement)
DEFAULT_GRAD = "sequential"


# --------------------------------------------------------------------------- checks
def _check(current: torch.Tensor, beta: float, name: str = "current") -> None:
    if not isinstance(current, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [T, B, ...], got {type(current).__name__}")
    if current.dim() < 1 or current.shape[0] < 1:
        raise ValueError(f"{name} must have a non-empty time dimension [T, B, ...], got {list(current.shape)}")
    if not current.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {current.dtype}")
    if not (isinstance(beta, (int, float)) and 0.0 < beta <= 1.0):
        raise ValueError(f"beta (leak) must be a per-step decay factor in (0, 1], got {beta!r}")


def _resolve(method: str, x: torch.Tensor) -> str:
    if method not in DECAY_METHODS:
        raise ValueError(f"method must be one of {DECAY_METHODS}, got {method!r}")
    if method != "auto":
        return method
    if x.device.type == "cpu":
        return "scan"
    return "matmul" if x.shape[0] <= 1024 else "fft"


# --------------------------------------------------------------------------- decay convolution
def decay_kernel(
    beta: float, timesteps: int, dtype: torch.dtype = torch.float64, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[beta^0, beta^1, ..., beta^(T-1)]``: the impulse response of the leak, ``[T]``."""
    k = torch.arange(timesteps, dtype=torch.float64, device=device)
    return torch.exp(k * math.log(beta)).to(dtype) if beta != 1.0 else torch.ones(timesteps, dtype=dtype, device=device)


def _scan_torch(x: torch.Tensor, beta: float, reverse: bool = False) -> torch.Tensor:
    """Sequential recurrence, in place on one output buffer: :func:`snnsim.core.dynamics.leaky_integrate`
    over all steps (``v * beta + x``, the same float ops; tests/methods/fastsnn/test_layer.py compares it with
    ``neuron_multistep``), specialised to write into one ``[T, ...]`` buffer."""
    out = torch.empty_like(x)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    prev = None
    for t in steps:
        if prev is None:
            out[t] = x[t]
        else:
            torch.mul(out[prev], beta, out=out[t])
            out[t].add_(x[t])
        prev = t
    return out


def _scan(x: torch.Tensor, beta: float, reverse: bool = False) -> torch.Tensor:
    if _native_usable(x):
        return _native_decay(x, beta, reverse)
    return _scan_torch(x, beta, reverse)


def _toeplitz(beta: float, t: int, device: torch.device) -> torch.Tensor:
    k = decay_kernel(beta, t, torch.float64, device)
    idx = torch.arange(t, device=device)
    diff = idx.view(-1, 1) - idx.view(1, -1)
    return torch.where(diff >= 0, k[diff.clamp(min=0)], torch.zeros((), dtype=torch.float64, device=device))


def _matmul(x: torch.Tensor, beta: float, reverse: bool = False) -> torch.Tensor:
    t = x.shape[0]
    m = _toeplitz(beta, t, x.device)
    if reverse:
        m = m.t()
    return (m @ x.reshape(t, -1).to(torch.float64)).reshape(x.shape).to(x.dtype)


def _fft(x: torch.Tensor, beta: float, reverse: bool = False) -> torch.Tensor:
    t = x.shape[0]
    flat = x.reshape(t, -1).to(torch.float64)
    if reverse:
        flat = flat.flip(0)
    n = 1 << (2 * t - 1).bit_length()
    spec = torch.fft.rfft(flat, n=n, dim=0) * torch.fft.rfft(decay_kernel(beta, t, device=x.device), n=n).unsqueeze(1)
    out = torch.fft.irfft(spec, n=n, dim=0)[:t]
    if reverse:
        out = out.flip(0)
    return out.reshape(x.shape).to(x.dtype)


_METHODS = {"scan": _scan, "matmul": _matmul, "fft": _fft}


def _decay(x: torch.Tensor, beta: float, method: str, reverse: bool = False) -> torch.Tensor:
    return _METHODS[_resolve(method, x)](x.contiguous(), float(beta), reverse)


class _DecayConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float, method: str) -> torch.Tensor:  # type: ignore[override]
        ctx.beta, ctx.method = beta, method
        return _decay(x, beta, method)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return _decay(grad, ctx.beta, ctx.method, reverse=True), None, None


def decay_conv(current: torch.Tensor, beta: float, method: str = "auto") -> torch.Tensor:
    """No-reset LIF potential ``V[t] = sum_{k <= t} beta^(t-k) I[k]`` for all steps at once.

    ``current``: ``[T, B, ...]`` float. Returns ``V`` of the same shape and dtype,
    differentiable wrt ``current`` (the backward pass is the anti-causal decay).
    """
    _check(current, beta)
    if torch.is_grad_enabled() and current.requires_grad:
        return _DecayConv.apply(current, float(beta), method)
    return _decay(current, beta, method)


# --------------------------------------------------------------------------- first crossing
def g_first(x: torch.Tensor) -> torch.Tensor:
    """``g(x) = ReLU(x (1 - x) + 1) x``: 1 at x = 1, 0 at x = 0 and at every integer x >= 2."""
    return torch.relu(x * (1 - x) + 1) * x


def first_crossing_formula(z: torch.Tensor) -> torch.Tensor:
    """The paper's trick, literally: ``g(cumsum_t(cumsum_t(z)))`` for 0/1 ``z`` ``[T, ...]``."""
    return g_first(z.cumsum(0).cumsum(0))


def first_crossing(v: torch.Tensor, thresh: float = 1.0) -> torch.Tensor:
    """Step of the first ``v >= thresh`` per neuron, ``T`` where there is none: int64 ``[...]``."""
    t = v.shape[0]
    dtype = torch.int16 if t < 2**15 else torch.int32
    rank = torch.arange(t, 0, -1, dtype=dtype, device=v.device).view(-1, *([1] * (v.dim() - 1)))
    return t - ((v >= thresh) * rank).amax(0).long()  # the earliest crossing has the largest T - t


def spikes_at(t_first: torch.Tensor, timesteps: int, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """Spike trains ``[T, ...]`` with one spike at ``t_first`` (none where ``t_first >= T``)."""
    out = torch.zeros((timesteps, *t_first.shape), dtype=dtype, device=t_first.device)
    fired = (t_first < timesteps).unsqueeze(0)
    out.scatter_(0, t_first.clamp(max=timesteps - 1).unsqueeze(0), fired.to(dtype))
    return out


def _backward_torch(
    gs: torch.Tensor,
    v: torch.Tensor,
    t_first: torch.Tensor,
    beta: float,
    thresh: float,
    slope: float,
    method: str,
    grad: str,
) -> torch.Tensor:
    """The backward pass in torch: vectorised on accelerators, one fused reverse loop on the
    CPU (per-step work stays in cache; the vectorised form makes ~10 passes over [T, B, ...])."""
    if gs.device.type == "cpu":
        return _backward_loop(gs, v, t_first, beta, thresh, slope, grad)
    steps = torch.arange(gs.shape[0], device=gs.device).view(-1, *([1] * t_first.dim()))
    zero = torch.zeros((), dtype=gs.dtype, device=gs.device)
    if grad == "sequential":
        dz = torch.where(steps <= t_first.unsqueeze(0), gs, zero)
    else:
        gb = torch.where(steps < t_first.unsqueeze(0), gs, zero)
        dz = gb.flip(0).cumsum(0).cumsum(0).flip(0)  # sum_{u >= t} (u - t + 1) gb[u]
    return _decay(dz * fast_sigmoid(v - thresh, slope), beta, method, reverse=True)


def _backward_loop(
    gs: torch.Tensor, v: torch.Tensor, t_first: torch.Tensor, beta: float, thresh: float, slope: float, grad: str
) -> torch.Tensor:
    out = torch.empty_like(gs)
    c1, c2, z, sg = (torch.zeros_like(gs[0]) for _ in range(4))
    for t in range(gs.shape[0] - 1, -1, -1):
        live = t_first >= t if grad == "sequential" else t_first > t
        torch.mul(gs[t], live, out=z)
        if grad == "trick":
            c1.add_(z)
            c2.add_(c1)
            z.copy_(c2)
        # surrogate.fast_sigmoid(v[t] - thresh, slope) in place (same ops; tests/test_fastsnn*.py compare)
        torch.sub(v[t], thresh, out=sg).abs_().mul_(slope).add_(1.0).pow_(-2)
        if t == gs.shape[0] - 1:
            torch.mul(sg, z, out=out[t])
        else:
            torch.mul(out[t + 1], beta, out=out[t]).addcmul_(sg, z)
    return out


class FastLIFFunction(torch.autograd.Function):
    """``apply(current, beta, thresh, slope, method, grad, potential) -> (spikes, V)``:
    spikes float 0/1 ``[T, B, ...]``; ``V`` (no-reset potential, not differentiable) or an
    empty tensor when ``potential`` is False."""

    @staticmethod
    def forward(
        ctx,
        current: torch.Tensor,
        beta: float,
        thresh: float,
        slope: float,  # type: ignore[override]
        method: str,
        grad: str,
        potential: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        current = current.contiguous()
        use_native = _resolve(method, current) == "scan" and _native_usable(current)
        if use_native:  # the backward pass recomputes V from the current
            spikes, v, t_first = _native_forward(current, beta, thresh, torch.float32, potential)
            ctx.save_for_backward(current, t_first)
        else:
            v = _decay(current, beta, method)
            t_first = first_crossing(v, thresh)
            spikes = spikes_at(t_first, v.shape[0], v.dtype)
            ctx.save_for_backward(v, t_first)
        ctx.cfg = (beta, thresh, slope, method, grad, use_native)
        extra = v if potential and v is not None else torch.empty(0, dtype=spikes.dtype)
        ctx.mark_non_differentiable(extra)
        return spikes, extra

    @staticmethod
    def backward(ctx, gs: torch.Tensor, _gv: Optional[torch.Tensor]):  # type: ignore[override]
        saved, t_first = ctx.saved_tensors
        beta, thresh, slope, method, grad, use_native = ctx.cfg
        gs = gs.contiguous()
        if use_native and _native_usable(gs):
            out = _native_backward(gs, saved, t_first, beta, thresh, slope, grad)
        else:
            v = _decay(saved, beta, method) if use_native else saved
            out = _backward_torch(gs, v, t_first.long(), beta, thresh, slope, method, grad)
        return out, None, None, None, None, None, None


def fast_lif(
    current: torch.Tensor,
    beta: float,
    thresh: float = 1.0,
    *,
    slope: float = 100.0,
    method: str = "auto",
    grad: str = DEFAULT_GRAD,
    return_potential: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Single-spike LIF layer for all steps. ``current``: ``[T, B, ...]`` float.

    Returns (spikes, V or None). Spikes are float 0/1 carrying the surrogate gradient
    (``grad``: see :data:`GRAD_MODES`) when autograd records ``current``, else bool.
    ``V``, the no-reset potential (the LIF potential up to the spike), comes detached.
    """
    _check(current, beta)
    if not (isinstance(thresh, (int, float)) and math.isfinite(thresh) and thresh > 0):
        raise ValueError(f"thresh must be a finite number > 0, got {thresh!r}")
    if not (isinstance(slope, (int, float)) and slope > 0):
        raise ValueError(f"slope must be a number > 0, got {slope!r}")
    if grad not in GRAD_MODES:
        raise ValueError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
    if torch.is_grad_enabled() and current.requires_grad:
        spikes, v = FastLIFFunction.apply(
            current, float(beta), float(thresh), float(slope), method, grad, return_potential
        )
        return spikes, (v if return_potential else None)
    current = current.contiguous()
    if _resolve(method, current) == "scan" and _native_usable(current):
        spikes, v, _ = _native_forward(current, float(beta), float(thresh), torch.bool, return_potential)
        return spikes, v
    v = _decay(current, beta, method)
    return spikes_at(first_crossing(v, thresh), v.shape[0]), (v if return_potential else None)


def peak_potential(current: torch.Tensor, beta: float, method: str = "auto") -> torch.Tensor:
    """Running maximum over time of a non-spiking LIF potential, ``[T, B, ...]``
    (its last step is the read-out ``max_t V``); differentiable wrt ``current``."""
    return torch.cummax(decay_conv(current, beta, method), 0).values


# --------------------------------------------------------------------------- segments (carried state)
def _resume(current: torch.Tensor, v0: Optional[torch.Tensor], beta: float) -> torch.Tensor:
    """``current`` ``[K, B, ...]`` whose decay convolution continues from potential ``v0`` ``[B, ...]``:
    ``beta v0`` added to step 0 (the scan's ``V[K-1] beta + I[K]``, the same float sum)."""
    if v0 is None:
        return current
    return torch.cat([(current[0] + v0 * beta).unsqueeze(0), current[1:]])


def peak_segment(
    current: torch.Tensor, beta: float, method: str = "auto", start: Optional[tuple[torch.Tensor, torch.Tensor]] = None
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`peak_potential` of one segment ``current`` ``[K, B, ...]``, continued from ``start`` =
    (potential, running max) after the previous segment (None: from rest). Returns (running max
    ``[K, B, ...]``, (potential, running max) after the last step ``[B, ...]``).

    The same values as the whole run's, and the same gradient: ``cummax`` sends a step's gradient
    to the latest step holding the maximum (ties go to the later step), so where the segment's
    maximum equals the carried one the segment's wins (``torch.where(peak >= peak0)``;
    ``torch.maximum`` would split the gradient between the two)."""
    u = decay_conv(_resume(current, None if start is None else start[0], beta), beta, method)
    peak = torch.cummax(u, 0).values
    if start is not None:
        peak = torch.where(peak >= start[1], peak, start[1])
    return peak, (u[-1].clone(), peak[-1].clone())


def fast_lif_segment(
    current: torch.Tensor,
    beta: float,
    thresh: float = 1.0,
    *,
    slope: float = 100.0,
    method: str = "auto",
    start: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
    return_potential: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """:func:`fast_lif` (``grad="sequential"``) of one segment ``current`` ``[K, B, ...]``, continued
    from ``start`` = (no-reset potential, fired: bool) after the previous segment (None: from
    rest). A neuron that fired before stays silent. Returns (spikes, ``V`` or None, (``V``, fired)
    after the last step ``[B, ...]``); the carried ``V`` is differentiable (the sequential
    derivative at a step is local, so the later segments' gradients reach the earlier steps
    through it alone), the returned ``V`` detached as :func:`fast_lif`'s.

    Not for ``grad="trick"``: its derivative at a step sums the gradients of all later steps up
    to the spike, which a segment does not see. Under autograd the potential is computed twice
    (the spike kernel's and a differentiable decay convolution for the carry)."""
    current = _resume(current, None if start is None else start[0], beta)
    if torch.is_grad_enabled() and current.requires_grad:
        spikes, _ = fast_lif(current, beta, thresh, slope=slope, method=method, grad="sequential")
        v = decay_conv(current, beta, method)
    else:
        spikes, v = fast_lif(current, beta, thresh, slope=slope, method=method, return_potential=True)
    if start is not None:
        spikes = spikes & ~start[1] if spikes.dtype == torch.bool else spikes * (~start[1]).to(spikes.dtype)
    fired = spikes.bool().any(0)
    if start is not None:
        fired = fired | start[1]
    return spikes, (v.detach() if return_potential else None), (v[-1].clone(), fired)
