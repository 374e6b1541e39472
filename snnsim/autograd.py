"""Multi-step IF/LIF as one custom autograd function (forward recurrence + hand-written BPTT).

One autograd node per layer instead of several per time step: the forward pass runs the
recurrence of :mod:`snnsim.dynamics` over ``T`` and keeps only the pre-reset potentials
(float) and the spikes (bool); the backward pass runs the adjoint recurrence in reverse.

With ``h[t] = leak * v[t-1] + x[t]`` (pre-reset potential), ``s[t] = H(h[t] - thresh)``
and ``sg[t] = surrogate'(h[t] - thresh)``::

    reset "zero":     v[t] = h[t] (1 - s[t]) + v_reset s[t]
    reset "subtract": v[t] = h[t] - thresh s[t]

    dL/dh[t] = (dL/ds[t] + dL/dv[t] * dv/ds) * sg[t] + dL/dv[t] * dv/dh
    dL/dv[t-1] += leak * dL/dh[t],   dL/dx[t] = dL/dh[t]

``detach_reset=True`` drops the ``dv/ds`` term (the reset is treated as a constant).
For Lee et al.'s pseudo-derivative (``surrogate.temporal == False``) the gradient is
rate-based: ``dL/dx[t] = dL/ds[t] * pseudo`` per neuron, with no recurrence.
"""
from __future__ import annotations

from typing import Optional

import torch

from .dynamics import NeuronParams
from .surrogate import LeePseudo, Surrogate, lee_pseudo_derivative


class MultiStepNeuron(torch.autograd.Function):
    """``apply(current [T, B, ...], params, surrogate, detach_reset) -> (spikes, potentials)``.

    Both outputs are float ``[T, B, ...]`` (spikes are 0/1); potentials are after reset.
    """

    @staticmethod
    def forward(ctx, current: torch.Tensor, p: NeuronParams, surrogate: Surrogate,  # type: ignore[override]
                detach_reset: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if p.refrac:
            raise ValueError("differentiable simulation does not support refractory periods (refrac > 0)")
        t_steps = current.shape[0]
        v = torch.full_like(current[0], p.v_reset)
        pre = torch.empty_like(current)
        volts = torch.empty_like(current)
        spikes = torch.zeros_like(current, dtype=torch.bool)
        for t in range(t_steps):
            h = v * p.leak + current[t] if p.leak != 1.0 else v + current[t]
            pre[t] = h
            if p.spiking:
                s = h >= p.thresh
                spikes[t] = s
                if p.reset == "zero":
                    h = torch.where(s, torch.full_like(h, p.v_reset), h)
                elif p.reset == "subtract":
                    h = h - s * p.thresh
            v = h
            volts[t] = v
        ctx.save_for_backward(pre, spikes)
        ctx.params, ctx.surrogate, ctx.detach_reset = p, surrogate, detach_reset
        return spikes.to(current.dtype), volts

    @staticmethod
    def backward(ctx, g_s: Optional[torch.Tensor], g_v: Optional[torch.Tensor]):  # type: ignore[override]
        pre, spikes = ctx.saved_tensors
        p: NeuronParams = ctx.params
        sur: Surrogate = ctx.surrogate
        if g_s is None:
            g_s = torch.zeros_like(pre)
        if g_v is None:
            g_v = torch.zeros_like(pre)
        if p.spiking and isinstance(sur, LeePseudo):
            pseudo = lee_pseudo_derivative(spikes, p.leak, p.thresh).to(pre.dtype)
            return g_s * pseudo, None, None, None
        if p.spiking:
            sg = sur.derivative(pre - p.thresh)
            s = spikes.to(pre.dtype)
            if p.reset == "zero":
                a = 1.0 - s
                if not ctx.detach_reset:
                    a = a + (p.v_reset - pre) * sg
            elif p.reset == "subtract":
                a = torch.ones_like(pre) if ctx.detach_reset else 1.0 - p.thresh * sg
            else:
                a = torch.ones_like(pre)
            base = g_s * sg + g_v * a
        else:
            a = None
            base = g_v
        grad = torch.empty_like(pre)
        carry = None
        for t in range(pre.shape[0] - 1, -1, -1):
            gh = base[t] if carry is None else base[t] + carry * (a[t] if a is not None else 1.0)
            grad[t] = gh
            carry = gh * p.leak if p.leak != 1.0 else gh
        return grad, None, None, None


def multistep_neuron(
    current: torch.Tensor, p: NeuronParams, surrogate: Surrogate, detach_reset: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable multi-step neuron: (spikes float ``[T, B, ...]``, potentials ``[T, B, ...]``)."""
    return MultiStepNeuron.apply(current, p, surrogate, detach_reset)
