"""Pure neuron dynamics shared by both engines.

One discrete-time step of an integrate-and-fire neuron with optional leak, as a pure
function ``neuron_step(x, state, params) -> (spikes, state)``, and its multi-step
version over a ``[T, B, ...]`` input current. The BindsNET node classes
(:mod:`snnsim.core.nodes`) call ``neuron_step`` once per simulation step; the fast engine
calls ``neuron_multistep`` once per layer. Both run the same floating-point
operations in the same order, which is what makes the two engines agree spike for
spike.

The update at step t (``x[t]`` is the input current, ``v`` the membrane potential)::

    v    = leak * v + x[t]            (input ignored while refractory)
    s[t] = v >= thresh                (never, for a non-spiking integrator)
    v    = v_reset where s[t]         (reset "zero")
    v    = v - thresh where s[t]      (reset "subtract")

``leak = 1`` gives the IF neuron; ``leak = exp(-dt / tau)`` a LIF neuron whose leak is
applied before integration (equivalently: after the reset of the previous step);
``leak = 0`` a memoryless Heaviside neuron (NIR's ``Threshold``: ``v = x[t]``).

Current-based neurons (CubaLIF/CubaLI, ``syn_leak`` set) pass the input through a synaptic
current first, a linear pre-filter that no spike changes; the LIF step above then reads it::

    i    = syn_leak * i + x[t]        (:func:`synaptic_step`)
    x[t] = i

``thresh``, ``leak`` and ``v_reset`` are numbers or per-neuron tensors shaped like the
layer (``[*shape]``, broadcast over the batch); a per-neuron tensor is cast to the
potential's dtype and device where it is used, so it rounds exactly as the number would.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

import torch

from snnsim.core.surrogate import Surrogate, surrogate_spike

RESETS = ("zero", "subtract", "none")
#: a neuron parameter: one number for the layer, or a tensor shaped like the layer
Param = Union[float, torch.Tensor]


class NeuronParams(NamedTuple):
    """Parameters of an IF/LIF population (dimensionless unless noted); ``thresh``,
    ``leak`` and ``v_reset`` may be per-neuron tensors shaped like the layer."""

    thresh: Param = 1.0
    leak: Param = 1.0  # per-step decay factor of v in (0, 1]; 1 = no leak (IF)
    reset: str = "zero"  # "zero" (to v_reset), "subtract" (v -= thresh) or "none"
    v_reset: Param = 0.0
    refrac: int = 0  # steps after a spike during which input is ignored
    spiking: bool = True  # False: a non-spiking integrator (read-out layers)
    syn_leak: Optional[Param] = None  # per-step decay of the synaptic current (CubaLIF) in (0, 1]; None: none


class NeuronState(NamedTuple):
    """Per-neuron state, each ``[B, ...]``."""

    v: torch.Tensor
    refrac_count: Optional[torch.Tensor] = None
    i: Optional[torch.Tensor] = None  # synaptic current (current-based neurons only)


def per_neuron(p: NeuronParams) -> bool:
    """True when any of ``thresh``, ``leak``, ``v_reset`` is a per-neuron tensor."""
    return any(isinstance(x, torch.Tensor) for x in (p.thresh, p.leak, p.v_reset, p.syn_leak))


def _all(value: Param, ok) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and value.numel() > 0 and bool(ok(value).all())
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(ok(torch.tensor(float(value))))


def check_params(p: NeuronParams) -> NeuronParams:
    """Validate ``p`` and return it; raises ValueError naming the bad field."""
    if not _all(p.thresh, lambda t: torch.isfinite(t) & (t > 0)):
        raise ValueError(f"thresh must be a finite number > 0 (or a tensor of them), got {p.thresh!r}")
    if not _all(p.leak, lambda t: (t >= 0) & (t <= 1)):
        raise ValueError(f"leak must be a per-step decay factor in [0, 1] (or a tensor of them), got {p.leak!r}")
    if p.syn_leak is not None and not _all(p.syn_leak, lambda t: (t > 0) & (t <= 1)):
        raise ValueError(
            f"syn_leak must be a per-step decay factor in (0, 1] (or a tensor of them), got {p.syn_leak!r}"
        )
    if p.reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {p.reset!r}")
    if not (isinstance(p.refrac, int) and not isinstance(p.refrac, bool) and p.refrac >= 0):
        raise ValueError(f"refrac must be an int >= 0 (steps), got {p.refrac!r}")
    if not _all(p.v_reset, torch.isfinite):
        raise ValueError(f"v_reset must be a finite number (or a tensor of them), got {p.v_reset!r}")
    return p


def as_operand(value: Param, like: torch.Tensor) -> Param:
    """``value`` ready to combine with ``like``: a number as is, a tensor cast to its dtype/device."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype=like.dtype, device=like.device)
    return value


def has_leak(leak: Param) -> bool:
    """False only for the IF neuron (leak exactly 1 everywhere)."""
    return bool((leak != 1.0).any()) if isinstance(leak, torch.Tensor) else leak != 1.0


def filled(like: torch.Tensor, value: Param) -> torch.Tensor:
    """A new tensor like ``like`` ``[B, ...]`` holding ``value`` (number or per-neuron tensor)."""
    if isinstance(value, torch.Tensor):
        return as_operand(value, like).expand_as(like).clone()
    return torch.full_like(like, float(value))


def leak_from_tau(tau: float, dt: float = 1.0) -> float:
    """Per-step decay factor ``exp(-dt / tau)`` for a membrane time constant (same unit as dt)."""
    if tau <= 0 or dt <= 0:
        raise ValueError(f"tau and dt must be > 0, got tau={tau}, dt={dt}")
    return math.exp(-dt / tau)


def initial_state(like: torch.Tensor, p: NeuronParams) -> NeuronState:
    """Resting state (v = v_reset, not refractory) shaped like ``like`` ``[B, ...]``."""
    v = filled(like if like.is_floating_point() else like.to(torch.float32), p.v_reset)
    count = torch.zeros_like(v) if p.refrac > 0 else None
    return NeuronState(v, count, torch.zeros_like(v) if p.syn_leak is not None else None)


def synaptic_step(i: torch.Tensor, x: torch.Tensor, syn_leak: Param) -> torch.Tensor:
    """The synaptic current after one step: ``syn_leak * i + x`` (``[B, ...]``)."""
    return i * as_operand(syn_leak, i) + x


def synaptic_filter(current: torch.Tensor, p: NeuronParams) -> tuple[torch.Tensor, NeuronParams]:
    """Run the synaptic current of a current-based population over ``current`` ``[T, B, ...]``
    from rest: (the current the LIF step reads ``[T, B, ...]``, ``p`` without ``syn_leak``).
    The same float operations as :func:`neuron_step`'s; differentiable. Identity when
    ``p.syn_leak`` is None."""
    if p.syn_leak is None:
        return current, p
    i = torch.zeros_like(current[0], dtype=current.dtype if current.is_floating_point() else torch.float32)
    out = []
    for t in range(current.shape[0]):
        i = synaptic_step(i, current[t], p.syn_leak)
        out.append(i)
    return torch.stack(out), p._replace(syn_leak=None)


def resume_current(current: torch.Tensor, v0: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """``current`` ``[T, B, ...]`` that makes a run from rest continue from potential ``v0``
    ``[B, ...]``: ``leak * (v0 - v_reset)`` added to step 0, so that ``h[0] = leak * v0 + x[0]``.

    Carries a population's state into a run (the fast engine's checkpointed segments): every
    all-steps form (the autograd loop, the C kernels, :func:`neuron_multistep`) then resumes
    without a state argument, and gradients reach ``v0`` (``dL/dv0 = leak dL/dh[0]``). Bit-exact
    for ``v_reset = 0`` (``0 + (x + leak v0)`` is ``leak v0 + x``); otherwise within rounding.
    Not for refractory or current-based populations (their state is more than ``v``)."""
    leak = as_operand(p.leak, v0)
    lift = (
        v0 * leak
        if not isinstance(p.v_reset, torch.Tensor) and p.v_reset == 0.0
        else (v0 - as_operand(p.v_reset, v0)) * leak
    )
    return torch.cat([(current[0] + lift).unsqueeze(0), current[1:]])


def leaky_integrate(v: torch.Tensor, x: torch.Tensor, leak: Param) -> torch.Tensor:
    """The integration of one step, ``leak * v + x`` (``v + x`` for the IF neuron), ``[B, ...]``.

    The one LIF update: :func:`neuron_step` and the single-step ``forward`` of the FastSNN
    nodes call it; the specialised all-steps forms (:mod:`snnsim.core.autograd`'s preallocated
    loop, :func:`snnsim.methods.fastsnn.layer.decay_conv`'s scan, the C kernels) run the same float
    operations and are tested against :func:`neuron_step` (tests/core/test_autograd.py,
    tests/methods/fastsnn/test_layer.py, tests/native/test_lif.py).
    """
    return v * as_operand(leak, v) + x if has_leak(leak) else v + x


def neuron_step(
    x: torch.Tensor,
    state: NeuronState,
    p: NeuronParams,
    surrogate: Optional[Surrogate] = None,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, NeuronState]:
    """One step. ``x``: input current ``[B, ...]``. Returns (spikes bool ``[B, ...]``, new state).

    With ``surrogate`` (a temporal one) the step is differentiable, the same values: spikes
    are float 0/1 with the surrogate gradient and the reset is written arithmetically
    (``v (1 - s) + v_reset s``, ``v - thresh s``) so that BPTT passes through it, as in
    :mod:`snnsim.core.autograd`; ``detach_reset`` treats the reset as a constant.
    Does not modify ``x`` or the tensors of ``state`` in place.
    """
    v, count, i = state.v, state.refrac_count, state.i
    if p.syn_leak is not None:
        i = synaptic_step(i if i is not None else torch.zeros_like(v), x, p.syn_leak)
        x = i
    if count is not None:
        x = x * (count <= 0)
        count = count - 1
    v = leaky_integrate(v, x, p.leak)
    if not p.spiking:
        return torch.zeros_like(v, dtype=torch.bool if surrogate is None else v.dtype), NeuronState(v, count, i)
    thresh = as_operand(p.thresh, v)
    fired = s = r = v >= thresh
    if surrogate is not None:
        s = surrogate_spike(v, thresh, surrogate)
        r = s.detach() if detach_reset else s
    if p.reset == "zero":
        v = torch.where(r, filled(v, p.v_reset), v) if surrogate is None else v * (1 - r) + r * as_operand(p.v_reset, v)
    elif p.reset == "subtract":
        v = v - r * thresh
    if count is not None:
        count = torch.where(fired, torch.full_like(count, float(p.refrac)), count)
    return s, NeuronState(v, count, i)


def neuron_multistep(
    current: torch.Tensor,
    p: NeuronParams,
    state: Optional[NeuronState] = None,
    record_voltage: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor], NeuronState]:
    """Run ``neuron_step`` over all steps of ``current`` ``[T, B, ...]``.

    Returns (spikes bool ``[T, B, ...]``, voltages after reset ``[T, B, ...]`` or None, final state).
    """
    if state is None:
        state = initial_state(current[0], p)
    spikes = torch.empty(current.shape, dtype=torch.bool, device=current.device)
    volts = torch.empty_like(current, dtype=state.v.dtype) if record_voltage else None
    for t in range(current.shape[0]):
        s, state = neuron_step(current[t], state, p)
        spikes[t] = s
        if volts is not None:
            volts[t] = state.v
    return spikes, volts, state
