"""Pure neuron dynamics shared by both engines.

One discrete-time step of an integrate-and-fire neuron with optional leak, as a pure
function ``neuron_step(x, state, params) -> (spikes, state)``, and its multi-step
version over a ``[T, B, ...]`` input current. The BindsNET node classes
(:mod:`snnsim.nodes`) call ``neuron_step`` once per simulation step; the fast engine
calls ``neuron_multistep`` once per layer. Both run the same floating-point
operations in the same order, which is what makes the two engines agree spike for
spike.

The update at step t (``x[t]`` is the input current, ``v`` the membrane potential)::

    v    = leak * v + x[t]            (input ignored while refractory)
    s[t] = v >= thresh                (never, for a non-spiking integrator)
    v    = v_reset where s[t]         (reset "zero")
    v    = v - thresh where s[t]      (reset "subtract")

``leak = 1`` gives the IF neuron; ``leak = exp(-dt / tau)`` a LIF neuron whose leak is
applied before integration (equivalently: after the reset of the previous step).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch

RESETS = ("zero", "subtract", "none")


class NeuronParams(NamedTuple):
    """Parameters of an IF/LIF population (all scalars, dimensionless unless noted)."""

    thresh: float = 1.0
    leak: float = 1.0  # per-step decay factor of v in (0, 1]; 1 = no leak (IF)
    reset: str = "zero"  # "zero" (to v_reset), "subtract" (v -= thresh) or "none"
    v_reset: float = 0.0
    refrac: int = 0  # steps after a spike during which input is ignored
    spiking: bool = True  # False: a non-spiking integrator (read-out layers)


class NeuronState(NamedTuple):
    """Per-neuron state, each ``[B, ...]``."""

    v: torch.Tensor
    refrac_count: Optional[torch.Tensor] = None


def check_params(p: NeuronParams) -> NeuronParams:
    """Validate ``p`` and return it; raises ValueError naming the bad field."""
    if not (isinstance(p.thresh, (int, float)) and math.isfinite(p.thresh) and p.thresh > 0):
        raise ValueError(f"thresh must be a finite number > 0, got {p.thresh!r}")
    if not (isinstance(p.leak, (int, float)) and 0.0 < p.leak <= 1.0):
        raise ValueError(f"leak must be a per-step decay factor in (0, 1], got {p.leak!r}")
    if p.reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {p.reset!r}")
    if not (isinstance(p.refrac, int) and not isinstance(p.refrac, bool) and p.refrac >= 0):
        raise ValueError(f"refrac must be an int >= 0 (steps), got {p.refrac!r}")
    if not (isinstance(p.v_reset, (int, float)) and math.isfinite(p.v_reset)):
        raise ValueError(f"v_reset must be a finite number, got {p.v_reset!r}")
    return p


def leak_from_tau(tau: float, dt: float = 1.0) -> float:
    """Per-step decay factor ``exp(-dt / tau)`` for a membrane time constant (same unit as dt)."""
    if tau <= 0 or dt <= 0:
        raise ValueError(f"tau and dt must be > 0, got tau={tau}, dt={dt}")
    return math.exp(-dt / tau)


def initial_state(like: torch.Tensor, p: NeuronParams) -> NeuronState:
    """Resting state (v = v_reset, not refractory) shaped like ``like`` ``[B, ...]``."""
    v = torch.full_like(like, float(p.v_reset), dtype=torch.float32 if not like.is_floating_point() else like.dtype)
    count = torch.zeros_like(v) if p.refrac > 0 else None
    return NeuronState(v, count)


def neuron_step(
    x: torch.Tensor, state: NeuronState, p: NeuronParams
) -> tuple[torch.Tensor, NeuronState]:
    """One step. ``x``: input current ``[B, ...]``. Returns (spikes bool ``[B, ...]``, new state).

    Does not modify ``x`` or the tensors of ``state`` in place.
    """
    v, count = state.v, state.refrac_count
    if count is not None:
        x = x * (count <= 0)
        count = count - 1
    v = v * p.leak + x if p.leak != 1.0 else v + x
    if not p.spiking:
        return torch.zeros_like(v, dtype=torch.bool), NeuronState(v, count)
    s = v >= p.thresh
    if p.reset == "zero":
        v = torch.where(s, torch.full_like(v, p.v_reset), v)
    elif p.reset == "subtract":
        v = v - s * p.thresh
    if count is not None:
        count = torch.where(s, torch.full_like(count, float(p.refrac)), count)
    return s, NeuronState(v, count)


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
