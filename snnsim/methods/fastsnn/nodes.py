"""FastSNN node types (Taylor, King & Harper 2022).

- ``"fastlif"`` (:class:`FastLIFNeurons`): a single-spike LIF layer. ``V[t] = leak V[t-1] + I[t]``
  (leak = beta = exp(-dt / tau), tau = 10 steps by default), a spike at the first step with
  ``V >= thresh``, then silent for the rest of the run. The fast engine computes all steps
  at once (:func:`snnsim.methods.fastsnn.layer.fast_lif`: decay convolution + first crossing, surrogate
  gradient ``1 / (slope |V - thresh| + 1)^2``); BindsNET's ``Network.run`` steps it with the
  same float operations, so both engines give identical spikes. The spikes equal those of
  ``LIFNeurons(leak, thresh, reset="zero", refrac >= T)``. Potential: the recorded ``v`` is
  the no-reset potential (it keeps integrating after the spike, which has no effect);
  the reference LIF instead stays at 0 after its spike.
- ``"peak_integrator"`` (:class:`PeakIntegrator`): non-spiking LIF read-out (tau = 20 steps by
  default) whose recorded potential is the running maximum ``max_{k <= t} V[k]``, so the
  last step holds the FastSNN read-out ``max_t V`` and voltage read-outs (argmax of the
  final potential) classify by it.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
from bindsnet.network.nodes import Nodes

from snnsim.core import schema
from snnsim.core.dynamics import leaky_integrate
from snnsim.core.nodes import SPIKING_PARAMS, Integrator, SpikingNodes, register_node
from snnsim.methods.fastsnn.layer import (
    DECAY_METHODS,
    DEFAULT_GRAD,
    GRAD_MODES,
    fast_lif,
    fast_lif_segment,
    peak_potential,
    peak_segment,
)

_FIXED = {"reset": "none", "v_reset": 0.0, "refrac": 0, "spiking": True}


def _check_method(method: str) -> str:
    if method not in DECAY_METHODS:
        raise ValueError(f"method must be one of {DECAY_METHODS}, got {method!r}")
    return method


class FastLIFNeurons(SpikingNodes):
    """Single-spike LIF neurons (FastSNN). ``leak``: per-step decay beta; ``slope``: of the
    fast-sigmoid surrogate; ``method``: decay convolution; ``grad``: "sequential" (default)
    or "trick" (the paper's derivative) (see :mod:`snnsim.methods.fastsnn.layer`)."""

    kind = "fastlif"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Sequence[int]] = None,
        *,
        leak: float = math.exp(-1 / 10),
        thresh: float = 1.0,
        slope: float = 100.0,
        method: str = "auto",
        grad: str = DEFAULT_GRAD,
        **kwargs: Any,
    ) -> None:
        if grad not in GRAD_MODES:
            raise ValueError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
        for key, fixed in _FIXED.items():
            if key in kwargs and kwargs.pop(key) != fixed:
                raise ValueError(
                    f"fastlif neurons have {key}={fixed!r} (single spike, no reset); "
                    f"use 'lif' with refrac for other settings"
                )
        if not (isinstance(slope, (int, float)) and slope > 0):
            raise ValueError(f"slope must be a number > 0, got {slope!r}")
        super().__init__(n=n, shape=shape, leak=leak, thresh=thresh, reset="none", **kwargs)
        self.slope = float(slope)
        self.method, self.grad = _check_method(method), grad
        self.fired: Optional[torch.Tensor] = None

    # --- BindsNET single step ---------------------------------------------------------
    def forward(self, x: torch.Tensor) -> None:
        """One step; ``x``: input current ``[B, *shape]``."""
        if self.v.shape != x.shape:
            self.set_batch_size(x.shape[0])
        p = self.params
        v = leaky_integrate(self.v, x, p.leak)
        s = (v >= p.thresh) & ~self.fired
        self.v, self.fired, self.s = v, self.fired | s, s
        Nodes.forward(self, x)

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size)
        self.fired = torch.zeros(batch_size, *self.shape, dtype=torch.bool, device=self.v.device)

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        if self.fired is not None:
            self.fired.zero_()

    # --- all steps at once ------------------------------------------------------------
    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``current`` ``[T, B, *shape]`` -> (spikes, no-reset potentials or None); spikes are
        float 0/1 with surrogate gradients when autograd records ``current``, else bool."""
        p = self.params
        return fast_lif(
            current,
            p.leak,
            p.thresh,
            slope=self.slope,
            method=self.method,
            grad=self.grad,
            return_potential=record_voltage,
        )

    # --- segment protocol (snnsim.engine.segments) -----------------------------------
    def segment_refusal(self) -> Optional[str]:
        """Carried exactly with ``grad="sequential"`` only (see :func:`.layer.fast_lif_segment`)."""
        if self.grad == "sequential":
            return None
        return (
            f"has grad={self.grad!r}: the single-spike trick's derivative at a step sums the gradients of all "
            "later steps up to the spike, which a segment does not see; use grad='sequential' "
            "(--set grad=sequential) or run whole"
        )

    def segment_run(
        self, current: torch.Tensor, carry: Optional[tuple[torch.Tensor, ...]], record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], tuple[torch.Tensor, ...]]:
        """One segment from ``carry`` = (no-reset potential, fired: bool) ``[B, *shape]`` (None: rest)."""
        p = self.params
        start = None if carry is None else (carry[0], carry[1])
        return fast_lif_segment(
            current,
            p.leak,
            p.thresh,
            slope=self.slope,
            method=self.method,
            start=start,
            return_potential=record_voltage,
        )

    def config(self) -> dict[str, Any]:
        p = self.params
        return {
            "type": self.kind,
            "shape": list(self.shape),
            "thresh": p.thresh,
            "leak": p.leak,
            "slope": self.slope,
            "method": self.method,
            "grad": self.grad,
        }

    def extra_repr(self) -> str:
        return f"shape={tuple(self.shape)}, thresh={self.params.thresh}, leak={self.params.leak}, single spike"


class PeakIntegrator(Integrator):
    """Non-spiking LIF read-out whose ``v`` is the running maximum of its potential ``u``."""

    kind = "peak_integrator"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Sequence[int]] = None,
        *,
        leak: float = math.exp(-1 / 20),
        method: str = "auto",
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("v_reset", 0.0) != 0.0:
            raise ValueError("peak_integrator starts from v = 0 (v_reset must be 0)")
        super().__init__(n=n, shape=shape, leak=leak, **kwargs)
        self.method = _check_method(method)
        self.u: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> None:
        if self.v.shape != x.shape:
            self.set_batch_size(x.shape[0])
        leak = self.params.leak
        self.u = leaky_integrate(self.u, x, leak)
        self.v = torch.maximum(self.v, self.u)
        self.s = torch.zeros_like(self.s)
        Nodes.forward(self, x)

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size)
        self.u = torch.zeros_like(self.v)
        self.v = torch.full_like(self.v, -math.inf)

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        self.v.fill_(-math.inf)
        if self.u is not None:
            self.u.zero_()

    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``current`` ``[T, B, *shape]`` -> (no spikes, running max of the potential)."""
        grad = torch.is_grad_enabled() and current.requires_grad
        spikes = torch.zeros(current.shape, dtype=current.dtype if grad else torch.bool, device=current.device)
        if not (grad or record_voltage):
            return spikes, None
        return spikes, peak_potential(current, self.params.leak, self.method)

    # --- segment protocol (snnsim.engine.segments) -----------------------------------
    def segment_refusal(self) -> Optional[str]:
        return None  # state: the potential u and its running max, both carried

    def segment_run(
        self, current: torch.Tensor, carry: Optional[tuple[torch.Tensor, ...]], record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], tuple[torch.Tensor, ...]]:
        """One segment from ``carry`` = (potential u, running max v) ``[B, *shape]`` (None: rest);
        the same values and gradients as :meth:`multi_step` (:func:`.layer.peak_segment`)."""
        grad = torch.is_grad_enabled() and current.requires_grad
        spikes = torch.zeros(current.shape, dtype=current.dtype if grad else torch.bool, device=current.device)
        peak, state = peak_segment(
            current, self.params.leak, self.method, None if carry is None else (carry[0], carry[1])
        )
        return spikes, (peak if record_voltage else None), state

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "shape": list(self.shape), "leak": self.params.leak, "method": self.method}


_METHOD = schema.one_of(DECAY_METHODS)
register_node(
    FastLIFNeurons.kind,
    FastLIFNeurons,
    {
        "thresh": SPIKING_PARAMS["thresh"],
        "leak": SPIKING_PARAMS["leak"],
        "slope": schema.number(exclusive_minimum=0),
        "method": _METHOD,
        "grad": schema.one_of(GRAD_MODES),
        **{k: {"const": v} for k, v in _FIXED.items()},
    },
)
register_node(
    PeakIntegrator.kind, PeakIntegrator, {"leak": SPIKING_PARAMS["leak"], "method": _METHOD, "v_reset": {"const": 0.0}}
)
