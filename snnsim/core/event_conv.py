"""Event-driven 2-D convolution of sparse spikes (forward only; a prototype, issue 17 item 4).

``event_conv2d(x, weight, bias, stride, padding)`` equals ``F.conv2d`` (square kernel, one
stride and padding for both axes, no dilation or groups) for an input ``x`` ``[N, C, H, W]``
that is mostly zero: bool spikes, or float (e.g. average-pooled spikes), whose zeros it skips.
Its work grows with the number of nonzero inputs instead of with ``N * C * H * W``:

- on the CPU (float32 weights, bool or float32 input) a small C kernel
  (:mod:`snnsim.native.event_conv`: gather per output window, scatter for 1-channel inputs);
- elsewhere (other dtypes or devices, ``SNNSIM_NATIVE=0`` or ``SNNSIM_EVENT_CONV=0``, no C
  compiler) a torch path scatters the weights of each nonzero input into its output window with
  ``index_add_``, one kernel offset at a time.

The sums run in another order than MKLDNN's, so results agree with ``F.conv2d`` within float
rounding, not bit for bit. No autograd: call it under ``torch.no_grad()`` (simulation).
Training (issue 29): :func:`event_conv_trainable` is the same forward as an autograd function
whose weight gradient also sums over the nonzero inputs only (C kernel), for the 1-channel spikes
of an input layer below :data:`TRAIN_CROSSOVER` and for the multi-channel (pooled) spikes of a
hidden layer below :data:`GRAD_CROSSOVER`, whose input gradient stays a dense transposed conv.
Connections call it through the density-adaptive choice of :mod:`snnsim.core.connections`
(``CostModel.conv`` in :mod:`snnsim.core.density`); ``benchmarks/event_conv.py`` times it.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F

from snnsim.core.layout import channels_last_enabled
from snnsim.native import direct_conv
from snnsim.native import event_conv as native


def _check(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int) -> tuple[int, int]:
    """(OH, OW), after checking the shapes and parameters."""
    if x.dim() != 4 or weight.dim() != 4 or weight.shape[1] != x.shape[1] or weight.shape[2] != weight.shape[3]:
        raise ValueError(
            f"event_conv2d: input [N, C, H, W] and square weight [O, C, K, K] expected, "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}"
        )
    if stride < 1 or padding < 0:
        raise ValueError(f"event_conv2d: stride >= 1 and padding >= 0 expected, got {stride}, {padding}")
    k = weight.shape[2]
    oh, ow = (x.shape[2] + 2 * padding - k) // stride + 1, (x.shape[3] + 2 * padding - k) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"event_conv2d: kernel {k} does not fit input {tuple(x.shape[2:])} with padding {padding}")
    return oh, ow


def _torch_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], stride: int, padding: int, oh: int, ow: int
) -> torch.Tensor:
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


def event_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    stride: int = 1,
    padding: int = 0,
    method: str = "auto",
) -> torch.Tensor:
    """``F.conv2d(x.to(weight.dtype), weight, bias, stride, padding)`` summing only the nonzero
    inputs. ``x``: ``[N, C, H, W]`` bool or float; ``weight``: ``[O, C, K, K]``; returns
    ``[N, O, OH, OW]`` in the weight's dtype (no autograd)."""
    stride, padding = int(stride), int(padding)
    oh, ow = _check(x, weight, stride, padding)
    if method not in ("auto", "gather", "scatter"):
        raise ValueError(f"event_conv2d: method must be auto, gather or scatter, got {method!r}")
    if native.usable(x, weight, bias):
        scatter = method == "scatter" or (method == "auto" and native.scatter_cheaper(x))
        return native.event_conv2d(x, weight, bias, stride, padding, oh, ow, scatter)
    return _torch_conv(x, weight, bias, stride, padding, oh, ow)


def _plain(conv: torch.nn.Conv2d) -> bool:
    """Whether ``conv`` is one that :func:`event_conv2d` computes: square kernel, equal strides
    and paddings (integers), no dilation or groups, zero padding."""
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    return (
        k[0] == k[1]
        and s[0] == s[1]
        and not isinstance(p, str)
        and p[0] == p[1]
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def native_usable(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether the C kernel computes ``conv`` on ``x`` (CPU, float32 weights, bool or float32
    input, a :func:`_plain` conv): the condition for the density-adaptive path of a connection."""
    return x.dim() == 4 and _plain(conv) and native.usable(x, conv.weight, conv.bias)


def conv_module(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """:func:`event_conv2d` with the parameters of ``conv`` (other convs: ``conv`` itself on the
    float input)."""
    if not _plain(conv):
        return F.conv2d(
            x.to(conv.weight.dtype), conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups
        )
    return event_conv2d(x, conv.weight, conv.bias, conv.stride[0], conv.padding[0])


#: fraction of nonzero inputs below which a trainable conv fed by a 1-channel bool input that
#: needs no gradient (an input layer's spikes) takes the event-driven forward and weight gradient.
#: Measured (issue 29, 2-core Xeon, 1 thread, load ~6): LeNet's conv1 (1 -> 20, 5x5, N = 640)
#: forward + weight gradient 42 ms against 176 ms dense at d = 0.05, 66 ms against 170 ms at 0.13;
#: at 0.3 the two are close. ResNet-19's 3-channel stem (3 -> 32, 3x3) was as fast or faster
#: dense at every density: multi-channel inputs stay dense. Re-measured with the channels-last dense
#: conv (2-core AMD EPYC, AVX-512, 1 thread): 34 ms against 72 ms dense at 0.3, 43 against 71 at
#: 0.4, 51 against 75 at 0.5, 60 against 74 at 0.6; hence 0.5 (was 0.3).
TRAIN_CROSSOVER = 0.5


#: (min input channels, min kernel size, crossover): the fraction of nonzero inputs below which a
#: trainable conv whose multi-channel input needs a gradient (the spikes, or average-pooled spikes,
#: of a hidden layer) takes the event-driven forward and weight gradient (the first row that fits;
#: none: dense). The input gradient stays dense (MKLDNN). Measured (2-core AMD EPYC, AVX-512,
#: 1 thread), forward + weight gradient, event-driven against dense: LeNet's conv2 (20 -> 50, 5x5,
#: N = 640) 9 against 52 ms at 0.3% nonzero, 18 against 52 ms at 4.8%, 37 against 52 ms at 17%;
#: ResNet-19 at width 0.25 (3x3, N = 64): 32 channels even at 15% nonzero, 64 and 128 channels
#: 12-15 against 20-22 ms at 15%, 19 against 22 ms at 21%, slower above ~25%. Re-measured after
#: the vectorised listing of active channels (same machine, 2026-12-05), event-driven against
#: dense at 10/15/20/25/30% nonzero: 32 channels at 32x32 13/17/20/23/24 against 23-24 ms; 64 at
#: 16x16 8/11/14/18/22 against 22-23; 128 at 8x8 7/9/13/16/18 against 21-23; LeNet's conv2
#: 28/31/39/57/56 against 52-61 ms.
GRAD_CROSSOVER = ((16, 5, 0.22), (64, 3, 0.28), (16, 3, 0.25))


def _grad_crossover(channels: int, kernel: int) -> float:
    """:data:`GRAD_CROSSOVER` for ``channels`` input channels and a ``kernel`` x ``kernel`` conv (0: dense)."""
    return next((v for c, k, v in GRAD_CROSSOVER if channels >= c and kernel >= k), 0.0)


#: fractions of nonzero inputs at or above which a conv fed by a 1-channel input that needs no
#: gradient (an input layer's spikes) computes its forward pass, and its weight gradient, in the
#: dense direct kernel (:mod:`snnsim.native.direct_conv`) instead of the event-driven one.
#: Measured (2-core AMD EPYC, AVX-512, 1 thread), LeNet's conv1 (1 -> 20, 5x5, N = 640): direct
#: forward 6.7 ms and weight gradient 12-13 ms at any density; event-driven forward 7.5 ms at
#: d = 0.05, 9.1 at 0.1, 10.7 at 0.13, 18-20 at 0.3; its weight gradient 7.8, 9.6, 11.1 and
#: 17-24 ms; MKLDNN's forward alone 12-38 ms.
DIRECT_CROSSOVER = (0.05, 0.16)


class _EventConv(torch.autograd.Function):
    """``F.conv2d(x, weight, bias, stride, padding)``: forward and weight gradient sum over the
    nonzero inputs (:mod:`snnsim.native.event_conv`), or, where ``direct`` (forward, weight
    gradient) says so, over all inputs in the dense direct kernel (:mod:`snnsim.native.direct_conv`,
    inputs that need no gradient); the
    gradient of a float ``x`` that needs one is the dense transposed conv
    (``aten.convolution_backward``, input gradient only)."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: Optional[torch.Tensor],  # type: ignore[override]
        stride: int,
        padding: int,
        direct: tuple[bool, bool] = (False, False),
    ) -> torch.Tensor:
        oh, ow = _check(x, weight, stride, padding)
        ctx.save_for_backward(x, weight)
        ctx.geom, ctx.has_bias, ctx.direct = (weight.shape[2], stride, padding), bias is not None, direct
        if direct[0]:
            return direct_conv.direct_conv2d(x, weight, bias, stride, padding, channels_last=channels_last_enabled())
        return native.event_conv2d(
            x, weight, bias, stride, padding, oh, ow, native.scatter_cheaper(x), channels_last=channels_last_enabled()
        )

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        _, s, p = ctx.geom
        grad_x = None
        if ctx.needs_input_grad[0]:
            mask = (True, False, False)
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, (s, s), (p, p), (1, 1), False, (0, 0), 1, mask
            )[0]
        grad_w = None
        if ctx.needs_input_grad[1]:
            wgrad = direct_conv.direct_conv2d_wgrad if ctx.direct[1] else native.event_conv2d_wgrad
            grad_w = wgrad(x, grad, *ctx.geom)
        grad_b = grad.sum((0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


def _sparse_enough(x: torch.Tensor, crossover: float) -> bool:
    """Whether fewer than ``crossover`` of the entries of ``x`` are nonzero."""
    return crossover > 0 and native.count_nonzero(x) < crossover * x.numel()


def _grad_input_usable(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """The case of a float32 multi-channel ``x`` (hidden spikes, or pooled ones) below
    :data:`GRAD_CROSSOVER` for its channels and kernel size (a 1x1 conv is faster dense)."""
    return (
        x.dtype == torch.float32
        and native_usable(x, conv)
        and _sparse_enough(x, _grad_crossover(x.shape[1], conv.kernel_size[0]))
    )


def trainable_usable(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether :func:`event_conv_trainable` runs ``conv`` on ``x`` ``[N, C, H, W]`` (``SNNSIM_EVENT_CONV_TRAIN``
    not 0, the C kernel usable: :func:`native_usable`): a 1-channel bool input that needs no gradient
    (an input layer) with fewer than :data:`TRAIN_CROSSOVER` of its entries nonzero, or a float32
    multi-channel input (hidden spikes, which may need a gradient) below :data:`GRAD_CROSSOVER`."""
    if x.dim() != 4 or os.environ.get("SNNSIM_EVENT_CONV_TRAIN", "1") == "0":
        return False
    if x.dtype != torch.bool or x.requires_grad or x.shape[1] != 1:
        return _grad_input_usable(x, conv)
    return native_usable(x, conv) and (any(_direct_modes(x, conv)) or _sparse_enough(x, TRAIN_CROSSOVER))


def _direct_modes(x: torch.Tensor, conv: torch.nn.Conv2d) -> tuple[bool, bool]:
    """Whether the dense direct kernel computes (the forward pass, the weight gradient) of ``conv``
    on ``x``: a 1-channel input that needs no gradient, at or above :data:`DIRECT_CROSSOVER` of it
    nonzero, the kernel usable here."""
    if x.dim() != 4 or x.shape[1] != 1 or x.requires_grad or not direct_conv.usable(x, conv.weight, conv.bias):
        return False, False
    active = native.count_nonzero(x) / max(1, x.numel())
    return active >= DIRECT_CROSSOVER[0], active >= DIRECT_CROSSOVER[1]


def direct_forward_usable(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether a conv that needs no gradient (simulation, evaluation) and that the cost model sends to
    the dense path runs on ``x`` in the dense direct kernel instead of MKLDNN: a 1-channel input (an
    input layer's spikes) at or above ``DIRECT_CROSSOVER[0]`` nonzero (LeNet's conv1 at d = 0.3:
    about 7 against 43 ms, 1 thread, AMD EPYC). ``SNNSIM_DIRECT_CONV=0`` turns it off."""
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in conv.parameters()))
    return not needs_grad and x.dim() == 4 and _plain(conv) and _direct_modes(x, conv)[0]


def direct_forward(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """``conv(x.float())`` ``[N, O, OH, OW]`` (contiguous) from the dense direct kernel; see
    :func:`direct_forward_usable`. Each sample is summed on its own: the same bits in any batch."""
    _check(x, conv.weight, conv.stride[0], conv.padding[0])
    with torch.no_grad():
        return direct_conv.direct_conv2d(x, conv.weight, conv.bias, conv.stride[0], conv.padding[0])


def event_conv_trainable(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """``conv(x.float())`` ``[N, O, OH, OW]`` for ``x`` ``[N, C, H, W]`` (bool, or float32 that may need
    a gradient), differentiable with respect to ``x`` (float), ``conv``'s weight and bias; see
    :func:`trainable_usable`."""
    if not native_usable(x, conv):  # no C kernel here: the dense conv of the float input
        return conv(x.to(conv.weight.dtype))
    return _EventConv.apply(x, conv.weight, conv.bias, conv.stride[0], conv.padding[0], _direct_modes(x, conv))
