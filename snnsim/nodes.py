"""BindsNET node groups whose dynamics come from :mod:`snnsim.dynamics`.

``IFNeurons``, ``LIFNeurons`` and ``Integrator`` are ordinary BindsNET ``Nodes``: add
them to a ``bindsnet.network.Network`` and run it with ``Network.run`` (one
``forward`` call per step), or hand the same network to the fast engine, which calls
``multi_step`` once per layer for all time steps.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import torch
from bindsnet.network.nodes import Input, Nodes

from . import schema
from .autograd import multistep_neuron
from .dynamics import RESETS, NeuronParams, NeuronState, check_params, neuron_multistep, neuron_step
from .surrogate import FastSigmoid, Surrogate


class SpikingNodes(Nodes):
    """A population of IF/LIF neurons (see :mod:`snnsim.dynamics` for the update).

    Args:
        n: number of neurons (or give ``shape``).
        shape: e.g. ``(C, H, W)`` for a convolutional layer.
        thresh: firing threshold.
        leak: per-step decay factor of the potential, in (0, 1]; 1 for IF.
        reset: "zero" (to ``v_reset``), "subtract" (v -= thresh) or "none".
        v_reset: potential after a reset to zero, and the resting potential.
        refrac: refractory period in steps (input ignored; ``refrac >= T`` makes the
            neuron fire at most once).
        spiking: False makes a non-spiking integrator (a read-out layer).
    """

    kind = "spiking"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Iterable[int]] = None,
        *,
        thresh: float = 1.0,
        leak: float = 1.0,
        reset: str = "zero",
        v_reset: float = 0.0,
        refrac: int = 0,
        spiking: bool = True,
        traces: bool = False,
        **kwargs: Any,
    ) -> None:
        if shape is not None:
            shape = [int(d) for d in shape]
        super().__init__(n=n, shape=shape, traces=traces, **kwargs)
        self.params = check_params(
            NeuronParams(float(thresh), float(leak), reset, float(v_reset), int(refrac), bool(spiking))
        )
        self.register_buffer("v", torch.FloatTensor())
        self.refrac_count: Optional[torch.Tensor] = None
        #: backward-pass settings used when the layer runs differentiably (set by learning rules)
        self.surrogate: Surrogate = FastSigmoid()
        self.detach_reset = False

    # --- BindsNET single-step interface -------------------------------------------
    def forward(self, x: torch.Tensor) -> None:
        """One simulation step; ``x``: input current ``[B, *shape]``."""
        if self.v.shape != x.shape:
            self.set_batch_size(x.shape[0])
        s, state = neuron_step(x, NeuronState(self.v, self.refrac_count), self.params)
        self.v, self.refrac_count = state.v, state.refrac_count
        self.s = s
        super().forward(x)

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        self.v.fill_(self.params.v_reset)
        if self.refrac_count is not None:
            self.refrac_count.zero_()

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size=batch_size)
        self.v = torch.full((batch_size, *self.shape), self.params.v_reset, device=self.v.device)
        self.refrac_count = torch.zeros_like(self.v) if self.params.refrac > 0 else None

    # --- multi-step interface (fast engine) -----------------------------------------
    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """All steps at once. ``current``: ``[T, B, *shape]``.

        Returns (spikes bool ``[T, B, *shape]``, potentials ``[T, B, *shape]`` or None).
        When autograd is on and ``current`` requires grad, runs the custom autograd
        function instead (:mod:`snnsim.autograd`): spikes are then float 0/1 and the
        potentials are always returned.
        """
        if torch.is_grad_enabled() and current.requires_grad:
            return multistep_neuron(current, self.params, self.surrogate, self.detach_reset)
        spikes, volts, _ = neuron_multistep(current, self.params, record_voltage=record_voltage)
        return spikes, volts

    def config(self) -> dict[str, Any]:
        """JSON-ready description used by :mod:`snnsim.spec` to rebuild the layer."""
        p = self.params
        return {
            "type": self.kind,
            "shape": list(self.shape),
            "thresh": p.thresh,
            "leak": p.leak,
            "reset": p.reset,
            "v_reset": p.v_reset,
            "refrac": p.refrac,
        }

    def extra_repr(self) -> str:
        p = self.params
        return f"shape={tuple(self.shape)}, thresh={p.thresh}, leak={p.leak}, reset={p.reset!r}"


class IFNeurons(SpikingNodes):
    """Integrate-and-fire neurons (no leak). Default threshold 1, reset to zero."""

    kind = "if"

    def __init__(self, n: Optional[int] = None, shape: Optional[Sequence[int]] = None, **kwargs: Any) -> None:
        leak = kwargs.pop("leak", 1.0)
        if leak != 1.0:
            raise ValueError(f"IFNeurons have no leak (leak=1); got leak={leak}. Use LIFNeurons.")
        super().__init__(n=n, shape=shape, leak=1.0, **kwargs)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.pop("leak")
        return cfg


class LIFNeurons(SpikingNodes):
    """Leaky integrate-and-fire neurons; ``leak`` is the per-step decay factor
    (see :func:`snnsim.dynamics.leak_from_tau` to get it from a time constant)."""

    kind = "lif"

    def __init__(
        self, n: Optional[int] = None, shape: Optional[Sequence[int]] = None, *, leak: float = 0.99, **kwargs: Any
    ) -> None:
        super().__init__(n=n, shape=shape, leak=leak, **kwargs)


class Integrator(SpikingNodes):
    """Non-spiking (leaky) integrator: accumulates its input current; read out its ``v``."""

    kind = "integrator"

    def __init__(
        self, n: Optional[int] = None, shape: Optional[Sequence[int]] = None, *, leak: float = 1.0, **kwargs: Any
    ) -> None:
        kwargs.pop("spiking", None)
        kwargs.pop("reset", None)
        super().__init__(n=n, shape=shape, leak=leak, reset="none", spiking=False, **kwargs)

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "shape": list(self.shape), "leak": self.params.leak,
                "v_reset": self.params.v_reset}


NODE_TYPES: dict[str, type] = {}
#: the JSON parameters of each node type (besides ``name``, ``type`` and ``shape``), as JSON
#: Schema fragments: the one declaration that :mod:`snnsim.spec` validates specs against
NODE_PARAMS: dict[str, dict[str, dict[str, Any]]] = {}


def register_node(kind: str, cls: type, params: dict[str, dict[str, Any]]) -> None:
    """Make a node class available to specs under ``"type": kind`` (see ``snnsim.extensions``).

    The class must accept ``shape=...`` plus its JSON parameters, and provide ``config()``.
    ``params`` declares those parameters (name -> JSON Schema, see :mod:`snnsim.schema`);
    a spec with any other key for this type is refused.
    """
    if kind in NODE_TYPES and NODE_TYPES[kind] is not cls:
        raise ValueError(f"node type {kind!r} is already registered to {NODE_TYPES[kind].__name__}")
    NODE_TYPES[kind] = cls
    NODE_PARAMS[kind] = dict(params)


#: parameters of the IF/LIF family (:class:`SpikingNodes`)
SPIKING_PARAMS = {
    "thresh": schema.number(exclusive_minimum=0), "leak": schema.number(exclusive_minimum=0, maximum=1),
    "reset": schema.one_of(RESETS), "v_reset": schema.number(), "refrac": schema.integer(0),
}
register_node("input", Input, {})
register_node("if", IFNeurons, {**SPIKING_PARAMS, "leak": {"const": 1.0}})
register_node("lif", LIFNeurons, SPIKING_PARAMS)
register_node("integrator", Integrator, {"leak": SPIKING_PARAMS["leak"], "v_reset": schema.number()})


def layer_kind(layer: Nodes) -> str:
    """What a layer's activity means for a read-out: "input" (BindsNET ``Input``),
    "integrator" (a non-spiking snnsim layer, e.g. :class:`Integrator` and its subclasses:
    read its potential) or "spiking" (any other layer, BindsNET's own node types included:
    read its spikes)."""
    if isinstance(layer, Input):
        return "input"
    if isinstance(layer, SpikingNodes) and not layer.params.spiking:
        return "integrator"
    return "spiking"


def node_config(layer: Nodes) -> dict[str, Any]:
    """Config of any supported layer (BindsNET ``Input`` included)."""
    if isinstance(layer, SpikingNodes) or (hasattr(layer, "config") and type(layer) in NODE_TYPES.values()):
        return layer.config()
    if type(layer) is Input:
        return {"type": "input", "shape": list(layer.shape)}
    raise TypeError(
        f"cannot describe layer of type {type(layer).__name__}; supported: "
        f"{sorted(NODE_TYPES)} (snnsim node classes and bindsnet Input)"
    )
