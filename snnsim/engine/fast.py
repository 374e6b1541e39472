"""Engine ``fast``: layer-wise multi-step simulation of a BindsNET Network.

For each layer outside a cycle, the input currents of all ``T`` steps are computed at once
(one matmul/conv per connection over ``[T * B, ...]``), then the neuron recurrence runs
over ``T``. The layers of a cycle (recurrent, lateral or backward connections, see
:mod:`snnsim.engine.graph`) step through time together, with their inputs from outside
the cycle still computed for all steps at once. Timing convention: that of BindsNET's
``Network.run(..., one_step=True)``: a spike emitted at step t reaches every later layer at
step t (no per-layer delay), and the layer itself and earlier layers at step t + 1.
Layers: snnsim nodes, bindsnet ``Input`` and stock node groups (:mod:`.stock`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Optional

import torch
from bindsnet.network import Network
from bindsnet.network.nodes import Input

from snnsim.core.connections import ModuleConnection, cached_weight_tables
from snnsim.core.dynamics import NeuronState, initial_state, neuron_step
from snnsim.core.nodes import SpikingNodes
from snnsim.engine.graph import Stage, plan_network
from snnsim.engine.record import Record, layer_kinds
from snnsim.engine.stock import StockLayer, check_supported, compute_multi
from snnsim.errors import UserError


def _compute_multi(conn: Any, s: torch.Tensor) -> torch.Tensor:
    """``[T, B, *source]`` spikes -> ``[T, B, *target]`` current, any supported connection."""
    return conn.compute_multi(s) if isinstance(conn, ModuleConnection) else compute_multi(conn, s)


def _compute_step(conn: Any, s: torch.Tensor) -> torch.Tensor:
    """``[B, *source]`` spikes -> ``[B, *target]`` current (differentiable for snnsim connections)."""
    return conn.compute_step(s) if isinstance(conn, ModuleConnection) else conn.compute(s)


def _previous(s: torch.Tensor) -> torch.Tensor:
    """Spikes delayed by one step: ``[T, B, ...]`` with zeros (the reset state) at step 0."""
    return torch.cat([torch.zeros_like(s[:1]), s[:-1]])


def _add(total: Optional[torch.Tensor], c: torch.Tensor) -> torch.Tensor:
    return c if total is None else total + c


class _Run:
    """One fast run: spikes/potentials of the layers done so far."""

    def __init__(
        self,
        network: Network,
        inputs: dict[str, torch.Tensor],
        want_v: set[str],
        carry: Optional[dict[str, Any]] = None,
    ) -> None:
        self.net, self.inputs, self.want_v, self.carry = network, inputs, want_v, carry
        self.plan = plan_network(network)
        self.t, self.b = next(iter(inputs.values())).shape[:2]
        self.incoming: dict[str, list[tuple[str, Any]]] = {name: [] for name in network.layers}
        for (src, tgt), conn in network.connections.items():
            self.incoming[tgt].append((src, conn))
        self.spikes: dict[str, torch.Tensor] = {}
        self.volts: dict[str, torch.Tensor] = {}
        self.stock: list[StockLayer] = []

    def _external(self, name: str, src: str, conn: Any) -> torch.Tensor:
        """Current of all steps from an already simulated layer ``src`` into ``name``."""
        s = self.spikes[src]
        return _compute_multi(conn, _previous(s) if (src, name) in self.plan.delayed else s)

    def _stock(self, name: str) -> StockLayer:
        self.stock.append(StockLayer(name, self.net.layers[name], self.b))
        return self.stock[-1]

    def _keep(self, name: str, s: torch.Tensor, v: Optional[torch.Tensor]) -> None:
        self.spikes[name] = s
        if v is not None:
            self.volts[name] = v

    def layerwise(self, name: str) -> None:
        """A layer outside any cycle, all steps at once."""
        layer = self.net.layers[name]
        if isinstance(layer, Input):
            if name not in self.inputs:
                raise UserError(f"no input given for input layer {name!r}")
            self.spikes[name] = self.inputs[name]
            return
        current = None
        for src, conn in self.incoming[name]:
            current = _add(current, self._external(name, src, conn))
        if name in self.inputs:
            current = _add(current, self.inputs[name])
        if current is None:
            current = torch.zeros(self.t, self.b, *layer.shape, device=layer.v.device)
        if isinstance(layer, SpikingNodes) and self.carry is not None:
            s, v, self.carry[name] = layer.segment_run(current, self.carry.get(name), name in self.want_v)
            self._keep(name, s, v)
        elif isinstance(layer, SpikingNodes):
            self._keep(name, *layer.multi_step(current, record_voltage=name in self.want_v))
        else:
            self._keep(name, *self._stock(name).run(current, name in self.want_v))

    def recurrent(self, stage: Stage) -> None:
        """The layers of a cycle, step by step, each step in network order."""
        inside = set(stage.layers)
        # inputs from outside the cycle: all steps in one op, then split into per-step views once
        # (indexing [t] in the loop would make backward scatter every step into a [T, ...] zero tensor)
        pre = {
            (src, name): self._external(name, src, conn).unbind(0)
            for name in stage.layers
            for src, conn in self.incoming[name]
            if src not in inside
        }
        given = {name: self.inputs[name].unbind(0) for name in stage.layers if name in self.inputs}
        grad = torch.is_grad_enabled() and (
            any(c[0].requires_grad for c in pre.values())
            or any(
                p.requires_grad
                for name in stage.layers
                for src, conn in self.incoming[name]
                if src in inside
                for p in conn.parameters()
            )
        )
        steppers = {name: self._stepper(name, grad) for name in stage.layers}
        for name in stage.layers:
            for src, conn in self.incoming[name]:
                if src in inside and isinstance(conn, ModuleConnection):
                    conn.reset_state_variables()  # stateful ops (rate pooling) start afresh
        out: dict[str, list[tuple[torch.Tensor, Optional[torch.Tensor]]]] = {n: [] for n in stage.layers}
        with cached_weight_tables():  # the weights stay fixed during the run: transpose each once
            self._steps(stage, pre, given, steppers, out, grad)
        for name, steps in out.items():
            v = [v for _, v in steps]
            self._keep(name, torch.stack([s for s, _ in steps]), torch.stack(v) if v[0] is not None else None)

    def _steps(self, stage: Stage, pre: dict, given: dict, steppers: dict, out: dict, grad: bool) -> None:
        """Step the layers of ``stage`` through time, in network order, appending each step's
        (spikes ``[B, *shape]``, potentials or None) to ``out[name]``."""
        inside = set(stage.layers)
        for t in range(self.t):
            for name in stage.layers:
                current = None
                for src, conn in self.incoming[name]:
                    if src not in inside:
                        current = _add(current, pre[(src, name)][t])
                        continue
                    if (src, name) not in self.plan.delayed:
                        s = out[src][t][0]
                    else:
                        s = out[src][t - 1][0] if t else self._rest_spikes(src, grad)
                    current = _add(current, _compute_step(conn, s))
                if name in given:
                    current = _add(current, given[name][t])
                out[name].append(steppers[name](current))

    def _rest_spikes(self, name: str, grad: bool) -> torch.Tensor:
        """A layer's spikes before step 0 (all zero, as after ``reset_state_variables``)."""
        layer = self.net.layers[name]
        return torch.zeros(self.b, *layer.shape, dtype=torch.float32 if grad else torch.bool, device=layer.s.device)

    def _stepper(self, name: str, grad: bool):
        """A function current ``[B, *shape]`` (or None: no input) -> (spikes, potentials or None)."""
        layer = self.net.layers[name]
        keep_v = name in self.want_v or grad
        shape = (self.b, *layer.shape)
        zeros = functools.partial(torch.zeros, shape, dtype=layer.v.dtype, device=layer.v.device)  # no input
        if not isinstance(layer, SpikingNodes):
            stock = self._stock(name)
            return lambda x: stock.step(x if x is not None else zeros(), name in self.want_v)
        sur = layer.surrogate if grad else None
        if sur is not None and not sur.temporal:
            raise UserError(
                f"layer {name!r} is in a recurrent cycle: its surrogate {type(sur).__name__} needs whole "
                "spike trains; use a per-step surrogate (fast_sigmoid, rectangular, arctan)"
            )
        state: list[NeuronState] = []

        def step(x: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
            x = x if x is not None else zeros()
            if not state:
                state.append(initial_state(x, layer.params))
            s, state[0] = neuron_step(x, state[0], layer.params, sur, layer.detach_reset)
            return s, state[0].v if keep_v else None

        return step

    def close(self) -> None:
        for stock in self.stock:
            stock.close()


def run_fast(
    network: Network,
    inputs: dict[str, torch.Tensor],
    record_voltage: Iterable[str] = (),
    carry: Optional[dict[str, Any]] = None,
) -> Record:
    """Simulate ``network`` on ``inputs`` (layer name -> ``[T, B, *shape]``).

    ``carry`` (checkpointed segments, :mod:`.segments`): given, every snnsim layer outside a
    cycle runs :meth:`SpikingNodes.segment_run` from ``carry.get(name)`` (None: rest) and
    ``carry[name]`` is set to its state after the last step (the dict is filled in place).

    While ``network.learning`` is on, stock connections with BindsNET learning rules are
    refused (:func:`.stock.check_supported`) and ``normalize`` runs after the run, as in
    ``Network.run``."""
    check_supported(network)
    run = _Run(network, inputs, set(record_voltage), carry)
    try:
        for stage in run.plan.stages:
            if stage.recurrent:
                run.recurrent(stage)
            else:
                run.layerwise(stage.layers[0])
    finally:
        run.close()
    if network.learning:
        with torch.no_grad():
            for conn in network.connections.values():
                conn.normalize()
    spikes = {name: run.spikes[name] for name in network.layers}
    volts = {name: run.volts[name] for name in network.layers if name in run.volts}
    return Record(spikes, volts, float(network.dt), layer_kinds(network))
