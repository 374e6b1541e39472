"""Multi-step IF/LIF as one custom autograd function (forward recurrence + hand-written BPTT).

One autograd node per layer instead of several per time step: the forward pass runs the
recurrence of :mod:`snnsim.core.dynamics` over ``T`` and keeps only the pre-reset potentials
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

The forward loop is a specialised form of :func:`snnsim.core.dynamics.neuron_step` (the same
float operations into preallocated ``[T, ...]`` buffers, for speed); tests/core/test_autograd.py
checks its values and gradients against ``neuron_step`` with the same surrogate.
"""

from __future__ import annotations

from typing import Optional

import torch

from snnsim.core.dynamics import NeuronParams, per_neuron
from snnsim.core.surrogate import LeePseudo, Surrogate, lee_pseudo_derivative
from snnsim.errors import UserError
from snnsim.native import lif as lif_native


def _scalars(p: NeuronParams) -> tuple[float, float, float, str, bool]:
    """The plain numbers the native kernels take: (leak, thresh, v_reset, reset, spiking)."""
    return float(p.leak), float(p.thresh), float(p.v_reset), p.reset, bool(p.spiking)


def simulate_usable(current: torch.Tensor, p: NeuronParams) -> bool:
    """Whether the no-autograd step loop of ``current`` ``[T, B, ...]`` can run as one fused kernel
    (:func:`snnsim.native.lif.lif_simulate`): scalar parameters, no refractory period, float32."""
    return not p.refrac and not per_neuron(p) and lif_native.simulate_usable(current, p.reset)


def native_usable(current: torch.Tensor, p: NeuronParams, surrogate: Surrogate) -> bool:
    """:func:`simulate_usable` and a surrogate with a native backward kernel (:meth:`Surrogate.kernel`)."""
    kernel = surrogate.kernel()
    return (
        kernel is not None and lif_native.backward_usable(current, p.reset, kernel[0]) and simulate_usable(current, p)
    )


def simulate(
    current: torch.Tensor,
    p: NeuronParams,
    record_voltage: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(spikes bool ``[T, B, ...]``, potentials or None) of the fused kernel; see :func:`simulate_usable`."""
    return lif_native.lif_simulate(current, *_scalars(p), record_voltage=record_voltage)


class MultiStepNeuron(torch.autograd.Function):
    """``apply(current [T, B, ...], params, surrogate, detach_reset, want_volts) -> (spikes, potentials)``.

    Both outputs are float ``[T, B, ...]`` (spikes are 0/1); potentials are after reset, None
    unless ``want_volts`` (the native kernel then does not write them: a pass over memory less).
    """

    @staticmethod
    def forward(
        ctx,
        current: torch.Tensor,
        p: NeuronParams,
        surrogate: Surrogate,  # type: ignore[override]
        detach_reset: bool,
        want_volts: bool = True,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if p.refrac:
            raise ValueError("differentiable simulation does not support refractory periods (refrac > 0)")
        if per_neuron(p):
            raise UserError(
                "differentiable simulation (training) does not support per-neuron thresh/leak/v_reset "
                "yet; simulate without gradients (torch.no_grad()) or use one value per layer"
            )
        ctx.params, ctx.surrogate, ctx.detach_reset = p, surrogate, detach_reset
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None, not a zero tensor
        ctx.native = native_usable(current, p, surrogate)
        if ctx.native:  # fused C kernels (snnsim.native.lif): the same float32 operations
            spikes_f, volts, pre = lif_native.lif_forward(
                current, *_scalars(p), surrogate.kernel()[0], want_volts=want_volts
            )  # Lee: pre = pseudo [B, ...]
            ctx.save_for_backward(pre)
            return spikes_f, volts
        t_steps = current.shape[0]
        pre = torch.empty_like(current)
        volts = torch.empty_like(current) if p.spiking and p.reset != "none" else pre
        spikes = torch.zeros_like(current, dtype=torch.bool)
        v = torch.full_like(current[0], p.v_reset)
        v_reset = torch.full_like(current[0], p.v_reset)
        drop = torch.empty_like(current[0])
        # the same float operations as snnsim.core.dynamics.neuron_step, written into
        # preallocated [T, ...] buffers (no per-step allocations)
        for t in range(t_steps):
            h = pre[t]
            if p.leak != 1.0:
                torch.mul(v, p.leak, out=h)
                h.add_(current[t])
            else:
                torch.add(v, current[t], out=h)
            if p.spiking:
                torch.ge(h, p.thresh, out=spikes[t])
                if p.reset == "zero":
                    torch.where(spikes[t], v_reset, h, out=volts[t])
                elif p.reset == "subtract":
                    torch.mul(spikes[t], p.thresh, out=drop)
                    torch.sub(h, drop, out=volts[t])
            v = volts[t]
        ctx.save_for_backward(pre, spikes)
        return spikes.to(current.dtype), (volts if want_volts else None)

    @staticmethod
    def backward(ctx, g_s: Optional[torch.Tensor], g_v: Optional[torch.Tensor]):  # type: ignore[override]
        p: NeuronParams = ctx.params
        sur: Surrogate = ctx.surrogate
        if g_s is None and g_v is None:
            return None, None, None, None, None
        if ctx.native:
            (pre,) = ctx.saved_tensors
            grad = lif_native.lif_backward(pre, g_s, g_v, *_scalars(p), ctx.detach_reset, sur.kernel())
            return grad, None, None, None, None
        pre, spikes = ctx.saved_tensors
        if g_s is None:
            g_s = torch.zeros_like(pre)
        if g_v is None:
            g_v = torch.zeros_like(pre)
        if p.spiking and isinstance(sur, LeePseudo):
            pseudo = lee_pseudo_derivative(spikes, p.leak, p.thresh).to(pre.dtype)
            return g_s * pseudo, None, None, None, None
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
        # dL/dh[t] = base[t] + a[t] * leak * dL/dh[t+1]: one fused op per step
        grad = torch.empty_like(pre)
        grad[-1] = base[-1]
        if a is None:
            for t in range(pre.shape[0] - 2, -1, -1):
                torch.add(base[t], grad[t + 1], alpha=p.leak, out=grad[t])
        else:
            a_leak = a * p.leak if p.leak != 1.0 else a
            for t in range(pre.shape[0] - 2, -1, -1):
                torch.addcmul(base[t], grad[t + 1], a_leak[t], out=grad[t])
        return grad, None, None, None, None


def multistep_neuron(
    current: torch.Tensor, p: NeuronParams, surrogate: Surrogate, detach_reset: bool = False, want_volts: bool = True
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Differentiable multi-step neuron: (spikes float ``[T, B, ...]``, potentials ``[T, B, ...]`` or
    None unless ``want_volts``)."""
    return MultiStepNeuron.apply(current, p, surrogate, detach_reset, want_volts)
