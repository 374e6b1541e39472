"""Time-to-first-spike (TTFS) layers in discrete time: node types ``ttfs`` and
``ttfs_readout`` and the op ``ttfs_maxpool2d`` (Stanojevic et al. 2024, B1 neuron).

A TTFS layer n owns a time window ``[t_min, t_max]`` (``t_min`` = the previous layer's
``t_max``; the input window is ``[0, 1]``). With simulation step ``dt`` (the network's),
step k is the time ``t_k = k * dt`` and one step of a neuron is::

    t_k <  t_min:  V += dt * g;  g += I[k]            (integrate ramps: every input spike
                                                       adds a ramp of slope W_ij)
    first t_k >= t_min:
                   V_min = V + (t_min - t_{k-1}) * g  (V at t_min exactly, between steps)
    t_k >= t_min:  V = V_min + (min(t_k, t_max) - t_min)  (slope-1 drive, inputs ignored)
    spike once:    V >= theta - dt/2  or  t_k >= t_max    (theta = t_max - t_min - D)

``I[k] = sum_j W_ij s_j[k]`` is the connection's output at step k (a bias-free
Linear/Conv2d), ``D`` the layer's bias (the ReLU bias), ``g`` the summed weights of the
inputs that have fired. On the grid, ``V(t_k) = sum_j W_ij (t_k - t_j)`` exactly, so
``V(t_min) = sum_j W_ij (t_min - t_j)`` and the spike falls at the exact time
``t_i = t_max - (V(t_min) + D)`` rounded to the nearest step (the ``- dt/2`` makes the
rounding unbiased instead of always late); a neuron that has not fired by ``t_max``
fires at the first step ``>= t_max`` (activation 0; such a spike reaches the next layer
at or after its ``t_min`` and adds nothing). A neuron with ``V(t_min) + D`` larger than
the window fires at the first step of its window (activation clipped at the window).

``ttfs_readout`` (a non-spiking :class:`~snnsim.core.nodes.Integrator`, so evaluations read
its potential): ``v = D + sum_j W_ij (t - t_j)`` integrated the same way, frozen at the
value it has at ``t_min`` (the logits), optionally rectified. It never spikes.

``ttfs_maxpool2d``: max-pooling of activations = the *earliest* spike of each window:
a pooled unit spikes once, at the first step any of its inputs spikes.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from bindsnet.network.nodes import Nodes

from snnsim.core import schema
from snnsim.core.nodes import Integrator, SpikingNodes, register_node
from snnsim.core.ops import TemporalModule, register_op

BiasLike = Union[None, float, Sequence[Any], torch.Tensor]


class TTFSState(NamedTuple):
    """State of a TTFS population, tensors ``[B, *shape]``; ``step`` = index of the next step."""

    v: torch.Tensor  # membrane potential
    slope: torch.Tensor  # summed weights of the inputs that fired before t_min
    v_min: torch.Tensor  # potential at t_min (valid once the window has opened)
    fired: torch.Tensor  # bool: has spiked
    step: int


def ttfs_zero_state(like: torch.Tensor) -> TTFSState:
    """All-zero state shaped like ``like`` ``[B, *shape]``."""
    z = torch.zeros_like(like)
    return TTFSState(z, z, z, torch.zeros(like.shape, dtype=torch.bool, device=like.device), 0)


def _integrate(
    current: torch.Tensor, state: TTFSState, t_min: float, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Shared ramp integration; returns (v, slope, v_min, in_window) for step ``state.step``."""
    t = state.step * dt
    if t < t_min:
        return state.v + dt * state.slope, state.slope + current, state.v_min, False
    if state.step == 0 or (state.step - 1) * dt >= t_min:  # window already open (or t_min <= 0)
        return state.v, state.slope, state.v_min, True
    v_min = state.v + (t_min - (state.step - 1) * dt) * state.slope
    return state.v, state.slope, v_min, True


def ttfs_step(
    current: torch.Tensor, state: TTFSState, theta: torch.Tensor, t_min: float, t_max: float, dt: float
) -> tuple[torch.Tensor, TTFSState]:
    """One step of a B1 TTFS layer. ``current`` ``[B, *shape]`` (summed weights of the
    input spikes of this step), ``theta`` the thresholds ``t_max - t_min - D`` (broadcast
    to ``[B, *shape]``). Returns (bool spikes ``[B, *shape]``, new state)."""
    v, slope, v_min, in_window = _integrate(current, state, t_min, dt)
    t = state.step * dt
    if not in_window:
        spikes = torch.zeros_like(state.fired)
        return spikes, TTFSState(v, slope, v_min, state.fired, state.step + 1)
    v = v_min + (min(t, t_max) - t_min)
    if t >= t_max:
        spikes = ~state.fired
    else:
        spikes = (v >= theta - 0.5 * dt) & ~state.fired
    return spikes, TTFSState(v, slope, v_min, state.fired | spikes, state.step + 1)


def readout_step(current: torch.Tensor, state: TTFSState, t_min: float, dt: float, relu: bool) -> TTFSState:
    """One step of the non-spiking read-out. Start from ``v = D`` (:func:`readout_state`):
    ``state.v`` is ``D + V(t)`` before ``t_min`` and the logits ``D + V(t_min)``
    (rectified if ``relu``) from then on."""
    v, slope, v_min, in_window = _integrate(current, state, t_min, dt)
    if in_window:
        v = F.relu(v_min) if relu else v_min
    return TTFSState(v, slope, v_min, state.fired, state.step + 1)


def readout_state(like: torch.Tensor, bias: torch.Tensor) -> TTFSState:
    """Initial read-out state: potential ``D`` (broadcast to ``like`` ``[B, *shape]``)."""
    z = ttfs_zero_state(like)
    return z._replace(v=z.v + bias.to(like.dtype))


def _check_window(t_min: float, t_max: Optional[float]) -> tuple[float, Optional[float]]:
    t_min = float(t_min)
    if not (math.isfinite(t_min) and t_min > 0):
        raise ValueError(f"t_min must be a finite time > 0 (the input window is [0, 1]), got {t_min!r}")
    if t_max is not None:
        t_max = float(t_max)
        if not (math.isfinite(t_max) and t_max > t_min):
            raise ValueError(f"t_max must be a finite time > t_min = {t_min}, got {t_max!r}")
    return t_min, t_max


def _bias_tensor(bias: BiasLike, shape: Sequence[int]) -> torch.Tensor:
    """Bias as a float tensor of shape ``[n]`` (dense), ``[C]`` or ``[C, H, W]`` (conv)."""
    shape = [int(d) for d in shape]
    if bias is None:
        return torch.zeros(shape[0])
    b = torch.as_tensor(bias, dtype=torch.get_default_dtype()).detach().clone()
    if b.dim() == 0:
        b = b.expand(shape[0]).clone()
    ok = list(b.shape) == shape or (len(shape) == 3 and list(b.shape) == shape[:1])
    if not ok or not torch.isfinite(b).all():
        want = f"[{shape[0]}]" + (f" or {shape}" if len(shape) == 3 else "")
        raise ValueError(f"bias must be finite with shape {want} for a layer of shape {shape}, got {list(b.shape)}")
    return b


class _TTFSBase(SpikingNodes):
    """Shared parts of the TTFS node classes: window, bias (a trainable parameter that
    is saved in the spec), time step taken from the network."""

    def _setup(self, t_min: float, t_max: Optional[float], bias: BiasLike) -> None:
        self.t_min, self.t_max = _check_window(t_min, t_max)
        self.bias = torch.nn.Parameter(_bias_tensor(bias, self.shape))
        self.state: Optional[TTFSState] = None
        self._dt = 1.0

    @property
    def window(self) -> float:
        """``t_max - t_min`` (hidden layers)."""
        assert self.t_max is not None
        return self.t_max - self.t_min

    def compute_decays(self, dt: Any) -> None:
        super().compute_decays(dt)
        self._dt = float(dt) if dt is not None else 1.0

    @property
    def sim_dt(self) -> float:
        return self._dt

    def bias_view(self) -> torch.Tensor:
        """The bias broadcastable to ``[B, *shape]``."""
        if len(self.shape) == 3 and self.bias.dim() == 1:
            return self.bias.view(-1, 1, 1)
        return self.bias

    def set_batch_size(self, batch_size: int) -> None:
        Nodes.set_batch_size(self, batch_size)
        self.v = torch.zeros(batch_size or 1, *self.shape, device=self.bias.device, dtype=self.bias.dtype)
        self.state = None

    def reset_state_variables(self) -> None:
        Nodes.reset_state_variables(self)
        self.v = torch.zeros_like(self.v)
        self.state = None

    def _bindsnet_state(self, x: torch.Tensor) -> TTFSState:
        if self.state is None or self.state.v.shape != x.shape:
            if self.s.shape != x.shape:
                Nodes.set_batch_size(self, x.shape[0])
            self.state = ttfs_zero_state(x.to(self.bias.dtype))
        return self.state

    def _window_config(self) -> dict[str, Any]:
        bias = self.bias.detach().cpu().double().tolist()
        return {"type": self.kind, "shape": list(self.shape), "t_min": self.t_min, "bias": bias}


class TTFSNodes(_TTFSBase):
    """A TTFS layer of B1 neurons (see the module docstring).

    Args:
        shape: layer shape, e.g. ``[340]`` or ``[C, H, W]``.
        t_min, t_max: the layer's window (``t_min`` = previous layer's ``t_max``).
        bias: ReLU bias ``D``: ``[n]``, per channel ``[C]`` or per neuron ``[C, H, W]``;
            the threshold is ``theta = t_max - t_min - D``.
    """

    kind = "ttfs"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Iterable[int]] = None,
        *,
        t_min: float = 1.0,
        t_max: float = 2.0,
        bias: BiasLike = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(n=n, shape=shape, reset="none", **kwargs)
        self._setup(t_min, t_max, bias)

    def theta(self) -> torch.Tensor:
        """Thresholds ``t_max - t_min - D`` broadcastable to ``[B, *shape]``."""
        return self.window - self.bias_view()

    def forward(self, x: torch.Tensor) -> None:
        """One BindsNET step; ``x``: ``[B, *shape]`` summed weights of this step's input spikes."""
        state = self._bindsnet_state(x)
        with torch.no_grad():
            s, self.state = ttfs_step(x.to(self.bias.dtype), state, self.theta(), self.t_min, self.t_max, self._dt)
        self.v, self.s = self.state.v, s
        Nodes.forward(self, x)

    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """All steps: ``current [T, B, *shape]`` -> (bool spikes ``[T, B, *shape]``,
        potentials or None). Same arithmetic as :meth:`forward`, step by step."""
        with torch.no_grad():
            current = current.to(self.bias.dtype)
            state, theta = ttfs_zero_state(current[0]), self.theta()
            spikes, volts = [], []
            for k in range(current.shape[0]):
                s, state = ttfs_step(current[k], state, theta, self.t_min, self.t_max, self._dt)
                spikes.append(s)
                if record_voltage:
                    volts.append(state.v)
        return torch.stack(spikes), (torch.stack(volts) if record_voltage else None)

    def config(self) -> dict[str, Any]:
        return {**self._window_config(), "t_max": self.t_max}

    def extra_repr(self) -> str:
        return f"shape={tuple(self.shape)}, window=[{self.t_min:.4g}, {self.t_max:.4g}]"


class TTFSReadout(_TTFSBase, Integrator):
    """Non-spiking TTFS output layer: logits ``D + sum_j W_ij (t_min - t_j)`` read at
    ``t_min`` (held afterwards; ``relu=True`` rectifies them, for ANNs with a final ReLU)."""

    kind = "ttfs_readout"

    def __init__(
        self,
        n: Optional[int] = None,
        shape: Optional[Iterable[int]] = None,
        *,
        t_min: float = 2.0,
        bias: BiasLike = None,
        relu: bool = False,
        **kwargs: Any,
    ) -> None:
        Integrator.__init__(self, n=n, shape=shape, **kwargs)
        self._setup(t_min, None, bias)
        self.relu = bool(relu)

    def forward(self, x: torch.Tensor) -> None:
        if self.state is None or self.state.v.shape != x.shape:
            if self.s.shape != x.shape:
                Nodes.set_batch_size(self, x.shape[0])
            self.state = readout_state(x.to(self.bias.dtype), self.bias_view().detach())
        with torch.no_grad():
            self.state = readout_step(x.to(self.bias.dtype), self.state, self.t_min, self._dt, self.relu)
        self.v, self.s = self.state.v, torch.zeros_like(self.s)
        Nodes.forward(self, x)

    def multi_step(
        self, current: torch.Tensor, record_voltage: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        with torch.no_grad():
            current = current.to(self.bias.dtype)
            state = readout_state(current[0], self.bias_view().detach())
            volts = []
            for k in range(current.shape[0]):
                state = readout_step(current[k], state, self.t_min, self._dt, self.relu)
                volts.append(state.v)
        spikes = torch.zeros(current.shape, dtype=torch.bool, device=current.device)
        return spikes, torch.stack(volts)

    def config(self) -> dict[str, Any]:
        return {**self._window_config(), "relu": self.relu}

    def extra_repr(self) -> str:
        return f"shape={tuple(self.shape)}, read at t_min={self.t_min:.4g}, relu={self.relu}"


class EarliestMaxPool2d(TemporalModule):
    """Max-pooling for TTFS layers. On activations (closed form) it is ordinary
    max-pooling; on spikes each pooled unit fires once, at the first step any input of
    its window fires (the earliest spike = the largest activation). ``spiking_max_pool``
    tells tools that recognise spiking max-pools (e.g. SynOps counting) to handle it."""

    spiking_max_pool = True  # capability, see snnsim.core.ops.RateMaxPool2d

    def __init__(self, kernel_size: int, stride: Optional[int] = None) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.stride = int(stride) if stride is not None else self.kernel_size
        self.done: Optional[torch.Tensor] = None

    def _any(self, s: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(s.float(), self.kernel_size, self.stride) > 0

    def step(self, x: torch.Tensor) -> torch.Tensor:
        fired = self._any(x)
        if self.done is None or self.done.shape != fired.shape:
            self.done = torch.zeros_like(fired)
        out = fired & ~self.done
        self.done = self.done | fired
        return out

    def multi(self, x: torch.Tensor) -> torch.Tensor:
        fired = self._any(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        return fired & (fired.to(torch.int32).cumsum(0) == 1)

    def reset_state(self) -> None:
        self.done = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


def _ttfs_maxpool2d(
    shape: Sequence[int], kernel_size: int, stride: Optional[int] = None
) -> tuple[torch.nn.Module, list[int]]:
    if len(shape) != 3:
        raise ValueError(f"op 'ttfs_maxpool2d' needs a (C, H, W) input, got shape {tuple(shape)}")
    c, h, w = (int(d) for d in shape)
    s = int(stride) if stride is not None else int(kernel_size)
    k = int(kernel_size)
    return EarliestMaxPool2d(k, s), [c, (h - k) // s + 1, (w - k) // s + 1]


#: bias D: a number, ``[n]``/``[C]`` or ``[C, H, W]`` (shapes checked by the layer)
_BIAS = {
    "anyOf": [
        {"type": "null"},
        schema.number(),
        {"type": "array", "items": schema.number()},
        {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": schema.number()}}},
    ]
}
register_node("ttfs", TTFSNodes, {"t_min": schema.number(), "t_max": schema.number(), "bias": _BIAS})
register_node("ttfs_readout", TTFSReadout, {"t_min": schema.number(), "bias": _BIAS, "relu": schema.boolean()})
register_op(
    "ttfs_maxpool2d", _ttfs_maxpool2d, {"kernel_size": schema.integer(1), "stride": schema.optional(schema.integer(1))}
)
