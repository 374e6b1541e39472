"""GPU kernels (Triton) of the multi-step IF/LIF: one launch for the whole forward recurrence
and one for the adjoint (BPTT) recurrence, instead of several small launches per time step.

The same passes as the C kernels of :mod:`snnsim.native.lif` (``csrc/lif.c``), Lee's
pseudo-derivative included (``forward_lee`` / ``backward_lee``): each program
keeps the potentials of ``BLOCK`` neurons in registers and walks the ``T`` steps. The forward
pass runs the float32 operations of the torch step loop in its order, with multiply-add fusion
switched off (``enable_fp_fusion=False``), so spikes and potentials are bit-identical to the
torch loop on the same GPU; the backward pass agrees with it to float32 rounding.

:mod:`snnsim.native.lif` imports this module for the first float32 CUDA tensor and uses it when
Triton imports (``SNNSIM_NATIVE=0`` keeps the torch loop here too). Without a GPU the kernels
run under Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1`` set before import), which
the tests use.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import triton
import triton.language as tl

_BLOCK, _WARPS = 256, 4


@triton.jit
def _lif_fwd(
    x_ptr,
    pre_ptr,
    volts_ptr,
    sf_ptr,
    s8_ptr,
    lpow_ptr,
    ps_ptr,
    T,
    N,
    leak,
    thresh,
    v_reset,
    USE_LEAK: tl.constexpr,
    RESET: tl.constexpr,
    SPIKING: tl.constexpr,
    PRE: tl.constexpr,
    VOLTS: tl.constexpr,
    SF: tl.constexpr,
    S8: tl.constexpr,
    LEE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.zeros([BLOCK], dtype=tl.float32) + v_reset
    cnt = tl.zeros([BLOCK], dtype=tl.float64)  # LEE: spike count and sum of leak^(T - t_k), float64
    lf = tl.zeros([BLOCK], dtype=tl.float64)
    for t in range(T):
        o = tl.cast(t, tl.int64) * N + offs  # int64: no overflow past 2**31 elements
        x = tl.load(x_ptr + o, mask=mask, other=0.0)
        if USE_LEAK:
            h = v * leak + x  # two roundings: fusion is off at launch
        else:
            h = v + x
        if PRE:
            tl.store(pre_ptr + o, h, mask=mask)
        if SPIKING:
            s = h >= thresh
            if RESET == 0:
                v = tl.where(s, v_reset, h)
            elif RESET == 1:
                v = h - tl.where(s, thresh, 0.0)
            else:
                v = h
        else:
            s = tl.zeros([BLOCK], dtype=tl.int1)
            v = h
        if SF:
            tl.store(sf_ptr + o, s.to(tl.float32), mask=mask)
        if S8:
            tl.store(s8_ptr + o, s.to(tl.uint8), mask=mask)
        if VOLTS:
            tl.store(volts_ptr + o, v, mask=mask)
        if LEE:
            cnt += tl.where(s, 1.0, 0.0).to(tl.float64)
            lf += tl.where(s, tl.load(lpow_ptr + t), 0.0)
    if LEE:  # lpow_ptr[T], [T + 1]: 1 / thresh and log(leak) in float64
        eps = tl.load(lpow_ptr + T + 1) * lf / tl.maximum(cnt, 1.0)
        pseudo = tl.where(cnt > 0.0, (tl.load(lpow_ptr + T) * (1.0 + eps)).to(tl.float32), 0.0)
        tl.store(ps_ptr + offs, pseudo, mask=mask)


@triton.jit
def _lif_bwd(
    pre_ptr,
    gs_ptr,
    gv_ptr,
    gi_ptr,
    T,
    N,
    leak,
    thresh,
    v_reset,
    p1,
    p2,
    RESET: tl.constexpr,
    SPIKING: tl.constexpr,
    DETACH: tl.constexpr,
    SUR: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GV: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    g = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(T):
        o = tl.cast(T - 1 - i, tl.int64) * N + offs
        if HAS_GV:
            gv = tl.load(gv_ptr + o, mask=mask, other=0.0)
        else:
            gv = tl.zeros([BLOCK], dtype=tl.float32)
        if SPIKING:
            h = tl.load(pre_ptr + o, mask=mask, other=0.0)
            u = h - thresh
            if SUR == 0:  # rectangular: p1 = width / 2, p2 = 1 / width
                sg = tl.where(tl.abs(u) < p1, p2, 0.0)
            elif SUR == 1:  # fast sigmoid: p1 = slope
                q = p1 * tl.abs(u) + 1.0
                sg = 1.0 / (q * q)
            else:  # arctan: p1 = pi / 2 * alpha, p2 = alpha / 2
                z = p1 * u
                sg = p2 / (1.0 + z * z)
            if RESET == 0:
                a = tl.where(h >= thresh, 0.0, 1.0)
                if not DETACH:
                    a = a + (v_reset - h) * sg
            elif RESET == 1 and not DETACH:
                a = 1.0 - thresh * sg
            else:
                a = tl.zeros([BLOCK], dtype=tl.float32) + 1.0
            if HAS_GS:  # dL/dh[t] = gs sg + gv a + (a leak) dL/dh[t+1], in the C kernel's order
                y = tl.load(gs_ptr + o, mask=mask, other=0.0) * sg + gv * a
            else:
                y = gv * a
            y = y + g * (a * leak)
        else:  # dL/dh[t] = gv[t] + leak dL/dh[t+1]
            y = gv + leak * g
        g = y
        tl.store(gi_ptr + o, y, mask=mask)


@triton.jit
def _lee_bwd(gs_ptr, ps_ptr, gi_ptr, T, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    pseudo = tl.load(ps_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        o = tl.cast(t, tl.int64) * N + offs
        tl.store(gi_ptr + o, tl.load(gs_ptr + o, mask=mask, other=0.0) * pseudo, mask=mask)


def _launch(kernel: Any, device: torch.device, n: int, *args: Any, **flags: Any) -> None:
    """Launch on the tensors' own GPU (Triton launches on the current one)."""
    grid = (max(1, (n + _BLOCK - 1) // _BLOCK),)
    if device.type == "cuda" and device.index is not None and device.index != torch.cuda.current_device():
        with torch.cuda.device(device):
            kernel[grid](*args, BLOCK=_BLOCK, num_warps=_WARPS, enable_fp_fusion=False, **flags)
        return
    kernel[grid](*args, BLOCK=_BLOCK, num_warps=_WARPS, enable_fp_fusion=False, **flags)


def forward(
    x: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: int,
    spiking: bool,
    pre: Optional[torch.Tensor],
    volts: Optional[torch.Tensor],
    sf: Optional[torch.Tensor],
    s8: Optional[torch.Tensor],
) -> None:
    """One forward pass over contiguous ``x [T, N]``, writing the outputs that are not None
    (pre-reset and after-reset potentials, float and byte spikes, each ``[T, N]``)."""
    t, n = x.shape[0], x[0].numel()
    dummy = x
    _launch(
        _lif_fwd,
        x.device,
        n,
        x,
        pre if pre is not None else dummy,
        volts if volts is not None else dummy,
        sf if sf is not None else dummy,
        s8 if s8 is not None else dummy,
        dummy,
        dummy,
        t,
        n,
        leak,
        thresh,
        v_reset,
        USE_LEAK=leak != 1.0,
        RESET=reset,
        SPIKING=bool(spiking),
        PRE=pre is not None,
        VOLTS=volts is not None,
        SF=sf is not None,
        S8=s8 is not None,
        LEE=False,
    )


def forward_lee(
    x: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: int,
    volts: torch.Tensor,
    sf: torch.Tensor,
    pseudo: torch.Tensor,
    lpow: torch.Tensor,
    inv_th: float,
    log_leak: float,
) -> None:
    """The forward pass of a spiking layer with Lee's pseudo-derivative (as ``lif_fwd_lee_par`` in
    ``csrc/lif.c``): potentials after reset and float spikes ``[T, N]``, pseudo-derivative ``[N]``;
    ``lpow [T]`` float64 = ``leak^(T - 1 - t)``."""
    t, n = x.shape[0], x[0].numel()
    consts = torch.cat([lpow, torch.tensor([inv_th, log_leak], dtype=torch.float64, device=lpow.device)])
    _launch(
        _lif_fwd,
        x.device,
        n,
        x,
        x,
        volts,
        sf,
        x,
        consts,
        pseudo,
        t,
        n,
        leak,
        thresh,
        v_reset,
        USE_LEAK=leak != 1.0,
        RESET=reset,
        SPIKING=True,
        PRE=False,
        VOLTS=True,
        SF=True,
        S8=False,
        LEE=True,
    )


def backward_lee(gs: torch.Tensor, pseudo: torch.Tensor, out: torch.Tensor) -> None:
    """``out [T, N] = gs [T, N] * pseudo [N]`` (the Lee backward pass)."""
    t, n = gs.shape[0], gs[0].numel()
    _launch(_lee_bwd, gs.device, n, gs, pseudo, out, t, n)


def backward(
    pre: torch.Tensor,
    gs: Optional[torch.Tensor],
    gv: Optional[torch.Tensor],
    out: torch.Tensor,
    leak: float,
    thresh: float,
    v_reset: float,
    reset: int,
    spiking: bool,
    detach: bool,
    sur: int,
    p1: float,
    p2: float,
) -> None:
    """The adjoint pass into ``out`` ``[T, N]`` (arguments as ``lif_bwd`` in ``csrc/lif.c``)."""
    t, n = pre.shape[0], pre[0].numel()
    _launch(
        _lif_bwd,
        pre.device,
        n,
        pre,
        gs if gs is not None else pre,
        gv if gv is not None else pre,
        out,
        t,
        n,
        leak,
        thresh,
        v_reset,
        p1,
        p2,
        RESET=reset,
        SPIKING=bool(spiking),
        DETACH=bool(detach),
        SUR=sur,
        HAS_GS=gs is not None,
        HAS_GV=gv is not None,
    )
