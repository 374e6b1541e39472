"""BindsNET node groups whose dynamics come from :mod:`snnsim.core.dynamics`.

``IFNeurons``, ``LIFNeurons`` and ``Integrator`` are ordinary BindsNET ``Nodes``: add
them to a ``bindsnet.network.Network`` and run it with ``Network.run`` (one
``forward`` call per step), or hand the same network to the fast engine, which calls
``multi_step`` once per layer for all time steps.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import torch
from bindsnet.network.nodes import Input, Nodes

from snnsim.core import autograd as native_lif
from snnsim.core import schema
from snnsim.core.autograd import multistep_neuron
from snnsim.core.dynamics import (
    RESETS,
    NeuronParams,
    NeuronState,
    Param,
    check_params,
    filled,
    neuron_multistep,
    neuron_step,
    resume_current,
    synaptic_filter,
)
from snnsim.core.registry import Registry
from snnsim.core.surrogate import FastSigmoid, Surrogate
from snnsim.errors import UserError


def neuron_param(name: str, value: Any, shape: tuple[int, ...]) -> Param:
    """A neuron parameter as snnsim keeps it: a float, or (for differing per-neuron values:
    nested lists, arrays or tensors) a float64 tensor of the layer's ``shape``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        t = torch.as_tensor(value.tolist() if hasattr(value, "tolist") else value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise UserError(f"{name} must be a number or per-neuron numbers, got {value!r:.60}") from err
    if t.dim() == 0:
        return float(t)
    if tuple(t.shape) != tuple(shape):
        raise UserError(f"per-neuron {name} has shape {list(t.shape)}, the layer's shape is {list(shape)}")
    return float(t.flatten()[0]) if bool((t == t.flatten()[0]).all()) else t


def param_json(value: Param) -> Any:
    """A neuron parameter for a JSON spec: the number, or nested lists of per-neuron values."""
    return value.tolist() if isinstance(value, torch.Tensor) else value


class SpikingNodes(Nodes):
    """A population of IF/LIF neurons (see :mod:`snnsim.core.dynamics` for the update).

    Args:
        n: number of neurons (or give ``shape``).
        shape: e.g. ``(C, H, W)`` for a convolutional layer.
        thresh: firing threshold (fires at ``v >= thresh``).
        leak: per-step decay factor of the potential, in (0, 1]; 1 for IF.
        reset: "zero" (to ``v_reset``), "subtract" (v -= thresh) or "none".
        v_reset: potential after a reset to zero, and the initial potential.
        refrac: refractory period in steps (input ignored; ``refrac >= T`` makes the
            neuron fire at most once).
        spiking: False makes a non-spiking integrator (a read-out layer).
        syn_leak: per-step decay of a synaptic current that filters the input before the
            potential reads it (current-based neurons, :class:`CubaLIFNeurons`); None: none.

    ``thresh``, ``leak`` and ``v_reset`` may also be per-neuron values (nested lists,
    arrays or tensors shaped like the layer); uniform values are kept as one number.
    """

    kind = "spiking"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Iterable[int]] = None,
        *,
        thresh: Any = 1.0,
        leak: Any = 1.0,
        reset: str = "zero",
        v_reset: Any = 0.0,
        refrac: int = 0,
        spiking: bool = True,
        syn_leak: Any = None,
        traces: bool = False,
        **kwargs: Any,
    ) -> None:
        if shape is not None:
            shape = [int(d) for d in shape]
        super().__init__(n=n, shape=shape, traces=traces, **kwargs)
        shape_ = tuple(self.shape)
        self.params = check_params(
            NeuronParams(
                neuron_param("thresh", thresh, shape_),
                neuron_param("leak", leak, shape_),
                reset,
                neuron_param("v_reset", v_reset, shape_),
                int(refrac),
                bool(spiking),
                None if syn_leak is None else neuron_param("syn_leak", syn_leak, shape_),
            )
        )
        self.register_buffer("v", torch.FloatTensor())
        self.i: Optional[torch.Tensor] = None  # synaptic current [B, *shape] (syn_leak set)
        self.refrac_count: Optional[torch.Tensor] = None
        #: backward-pass settings used when the layer runs differentiably (set by learning rules)
        self.surrogate: Surrogate = FastSigmoid()
        self.detach_reset = False

    # --- BindsNET single-step interface -------------------------------------------
    def forward(self, x: torch.Tensor) -> None:
        """One simulation step; ``x``: input current ``[B, *shape]``."""
        if self.v.shape != x.shape:
            self.set_batch_size(x.shape[0])
        s, state = neuron_step(x, NeuronState(self.v, self.refrac_count, self.i), self.params)
        self.v, self.refrac_count, self.i = state.v, state.refrac_count, state.i
        self.s = s
        super().forward(x)

    def reset_state_variables(self) -> None:
        super().reset_state_variables()
        if self.v.numel():
            self.v.copy_(filled(self.v, self.params.v_reset))
        if self.refrac_count is not None:
            self.refrac_count.zero_()
        if self.i is not None:
            self.i.zero_()

    def set_batch_size(self, batch_size: int) -> None:
        super().set_batch_size(batch_size=batch_size)
        self.v = filled(torch.empty((batch_size, *self.shape), device=self.v.device), self.params.v_reset)
        self.refrac_count = torch.zeros_like(self.v) if self.params.refrac > 0 else None
        self.i = torch.zeros_like(self.v) if self.params.syn_leak is not None else None

    # --- multi-step interface (fast engine) -----------------------------------------
    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False, v0: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """All steps at once. ``current``: ``[T, B, *shape]``.

        Returns (spikes bool ``[T, B, *shape]``, potentials ``[T, B, *shape]`` if
        ``record_voltage``, else None). When autograd is on and ``current`` requires grad, runs
        the custom autograd function instead (:mod:`snnsim.core.autograd`): spikes are then
        float 0/1. A synaptic current (``syn_leak``) runs first over all
        steps (:func:`~snnsim.core.dynamics.synaptic_filter`), then the LIF step reads it.
        ``v0``: the potential before step 0 ``[B, *shape]`` (default: rest, ``v_reset``), see
        :func:`~snnsim.core.dynamics.resume_current`; not for refractory or current-based layers.
        """
        current, p = synaptic_filter(current, self.params)
        if v0 is not None:
            if p is not self.params or p.refrac:
                raise UserError("a carried potential v0 needs a layer without refrac and syn_leak")
            current = resume_current(current, v0, p)
        if torch.is_grad_enabled() and current.requires_grad:
            return multistep_neuron(current, p, self.surrogate, self.detach_reset, want_volts=record_voltage)
        if native_lif.simulate_usable(current, p):  # the step loop in one C pass, same arithmetic
            return native_lif.simulate(current, p, record_voltage)
        spikes, volts, _ = neuron_multistep(current, p, record_voltage=record_voltage)
        return spikes, volts

    # --- carried state (checkpointed segments, :mod:`snnsim.engine.segments`) -----------
    def segment_refusal(self) -> Optional[str]:
        """Why a run of this layer cannot be cut into segments that hand their state on (the
        end of a one-line message: "layer 'x' (Class) <reason>"), or None where it can.

        The segment protocol is this method and :meth:`segment_run`; a subclass whose state is
        more than the potential overrides both (e.g. ``snnsim.methods.fastsnn``'s nodes). A
        subclass that overrides :meth:`multi_step` but not :meth:`segment_run` is refused."""
        cls = type(self)
        if cls.multi_step is not SpikingNodes.multi_step and cls.segment_run is SpikingNodes.segment_run:
            return "overrides multi_step without the segment protocol (segment_run), so its carried state is unknown"
        p = self.params
        if p.refrac:
            return "has a refractory period, a count that segments do not carry"
        if p.syn_leak is not None:
            return "has a synaptic current, state that segments do not carry"
        if p.spiking and not self.surrogate.temporal:
            return (
                f"has the surrogate {type(self.surrogate).__name__}, which reads whole spike trains (its "
                "derivative at a step depends on all T steps); segmented BPTT needs per-step surrogates"
            )
        return None

    def segment_run(
        self, current: torch.Tensor, carry: Optional[tuple[torch.Tensor, ...]], record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], tuple[torch.Tensor, ...]]:
        """:meth:`multi_step` over one segment ``current`` ``[K, B, *shape]``, resuming from
        ``carry`` (None: rest), the state the previous segment returned. Returns (spikes,
        potentials ``[K, B, *shape]`` or None, the state after the last step: tensors
        ``[B, *shape]``, differentiable where the run is). Here the state is ``(v,)``, the
        potential after the reset (:func:`~snnsim.core.dynamics.resume_current`)."""
        s, v = self.multi_step(current, record_voltage=True, v0=None if carry is None else carry[0])
        # clone: a view of step -1 would keep the segment's whole [K, B, ...] potentials alive
        return s, (v if record_voltage else None), (v[-1].clone(),)

    def config(self) -> dict[str, Any]:
        """JSON-ready description used by :mod:`snnsim.core.spec` to rebuild the layer."""
        p = self.params
        return {
            "type": self.kind,
            "shape": list(self.shape),
            "thresh": param_json(p.thresh),
            "leak": param_json(p.leak),
            "reset": p.reset,
            "v_reset": param_json(p.v_reset),
            "refrac": p.refrac,
        }

    def extra_repr(self) -> str:
        p = self.params
        syn = "" if p.syn_leak is None else f", syn_leak={p.syn_leak}"
        return f"shape={tuple(self.shape)}, thresh={p.thresh}, leak={p.leak}{syn}, reset={p.reset!r}"


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
    (see :func:`snnsim.core.dynamics.leak_from_tau` to get it from a time constant)."""

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
        return {
            "type": self.kind,
            "shape": list(self.shape),
            "leak": param_json(self.params.leak),
            "v_reset": param_json(self.params.v_reset),
        }


class CubaLIFNeurons(SpikingNodes):
    """Current-based LIF neurons (NIR's CubaLIF): the input charges a synaptic current
    ``i = syn_leak * i + x``, which the LIF step integrates: ``v = leak * v + i``, fires at
    ``v >= thresh``. ``syn_leak``/``leak``: per-step decays of current and potential."""

    kind = "cuba_lif"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Sequence[int]] = None,
        *,
        syn_leak: Any = 0.9,
        leak: Any = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(n=n, shape=shape, leak=leak, syn_leak=syn_leak, **kwargs)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "syn_leak": param_json(self.params.syn_leak)}


class CubaLI(Integrator):
    """Current-based leaky integrator (NIR's CubaLI): :class:`CubaLIFNeurons` without spikes."""

    kind = "cuba_li"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Sequence[int]] = None,
        *,
        syn_leak: Any = 0.9,
        leak: Any = 0.9,
        **kwargs: Any,
    ) -> None:
        super().__init__(n=n, shape=shape, leak=leak, syn_leak=syn_leak, **kwargs)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "syn_leak": param_json(self.params.syn_leak)}


class ThresholdNeurons(SpikingNodes):
    """Memoryless Heaviside neurons (NIR's Threshold): ``v = x``, spike where ``v >= thresh``
    (leak 0, no reset); the potential recorded is the input of the step."""

    kind = "threshold"

    def __init__(self, n: Optional[int] = None, shape: Optional[Sequence[int]] = None, **kwargs: Any) -> None:
        for fixed in ("leak", "reset", "refrac", "spiking"):
            kwargs.pop(fixed, None)
        super().__init__(n=n, shape=shape, leak=0.0, reset="none", **kwargs)

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "shape": list(self.shape), "thresh": param_json(self.params.thresh)}


NODE_TYPES: Registry = Registry("node")
#: the JSON parameters of each node type (besides ``name``, ``type`` and ``shape``), as JSON
#: Schema fragments: the one declaration that :mod:`snnsim.core.spec` validates specs against
NODE_PARAMS: Registry = Registry("node")


def register_node(kind: str, cls: type, params: dict[str, dict[str, Any]], *, replace: bool = False) -> None:
    """Make a node class available to specs under ``"type": kind`` (see ``snnsim.methods``).

    The class must accept ``shape=...`` plus its JSON parameters, and provide ``config()``.
    ``params`` declares those parameters (name -> JSON Schema, see :mod:`snnsim.core.schema`);
    a spec with any other key for this type is refused. A kind already registered to
    another class is refused unless ``replace=True`` (as :func:`snnsim.core.ops.register_op`).
    """
    if kind in NODE_TYPES.keys() and NODE_TYPES[kind] is not cls and not replace:
        raise ValueError(f"node type {kind!r} is already registered to {NODE_TYPES[kind].__name__}; pass replace=True")
    NODE_TYPES[kind] = cls
    NODE_PARAMS[kind] = dict(params)


def per_neuron_schema(number: dict[str, Any], depth: int = 4) -> dict[str, Any]:
    """``number``, or nested lists (up to ``depth`` levels) of such numbers: per-neuron values."""
    if depth == 0:
        return number
    return {"anyOf": [number, {"type": "array", "minItems": 1, "items": per_neuron_schema(number, depth - 1)}]}


#: parameters of the IF/LIF family (:class:`SpikingNodes`)
SPIKING_PARAMS = {
    "thresh": per_neuron_schema(schema.number(exclusive_minimum=0)),
    "leak": per_neuron_schema(schema.number(exclusive_minimum=0, maximum=1)),
    "reset": schema.one_of(RESETS),
    "v_reset": per_neuron_schema(schema.number()),
    "refrac": schema.integer(0),
}
register_node("input", Input, {})
register_node("if", IFNeurons, {**SPIKING_PARAMS, "leak": {"const": 1.0}})
register_node("lif", LIFNeurons, SPIKING_PARAMS)
register_node("integrator", Integrator, {"leak": SPIKING_PARAMS["leak"], "v_reset": SPIKING_PARAMS["v_reset"]})
register_node("cuba_lif", CubaLIFNeurons, {**SPIKING_PARAMS, "syn_leak": SPIKING_PARAMS["leak"]})
register_node(
    "cuba_li",
    CubaLI,
    {"leak": SPIKING_PARAMS["leak"], "syn_leak": SPIKING_PARAMS["leak"], "v_reset": SPIKING_PARAMS["v_reset"]},
)
register_node("threshold", ThresholdNeurons, {"thresh": SPIKING_PARAMS["thresh"]})


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
        f"{NODE_TYPES.known()} (snnsim node classes, bindsnet Input and the bindsnet.* node groups)"
    )
