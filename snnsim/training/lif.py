"""The standard multi-spike LIF network trained by BPTT (``--method lif``), FastSNN's counterpart.

The rule trains a fully connected net ``input - hidden... - readout`` on log-latency-coded
images (the ``log_latency`` encoder, :func:`snnsim.methods.fastsnn.encoding.log_latency`, looked up
by name), with ``encoding="rows"`` on one image row per step (sequential MNIST), or with
``encoding="events"`` on binned N-MNIST/SHD event frames as they are (:mod:`snnsim.data.event_frames`):

- hidden LIF layers ``V[t] = beta V[t-1] + W s[t] + b``, ``beta = exp(-dt / tau_hidden)``
  (tau 10 steps), threshold 1, reset by subtraction (detached from the graph by default),
  fast-sigmoid surrogate ``1 / (slope |V - 1| + 1)^2`` (slope 100), run step by step by the
  differentiable fast engine (:mod:`snnsim.core.autograd`);
- read-out: non-spiking LIF (tau 20 steps, ``peak_integrator``) whose output is ``max_t V``;
  loss: cross-entropy of that output.

:class:`LatencyFC` is the part it shares with ``--method fastsnn``
(:mod:`snnsim.methods.fastsnn.rule`), so that the two compare on equal terms. Parameters
(``--set key=value``): hidden, tau_hidden, tau_readout, thresh, slope, dt, enc_tau, enc_theta,
weight_gain, bias, detach_reset, recurrent (``--recurrent`` adds a recurrent weight matrix to every
hidden layer, a self-connection that delivers the previous step's spikes; BPTT runs through it, see
:mod:`snnsim.engine.graph`) and encoding (``rows``: sequential MNIST; ``events``: event frames, also
for ``fastsnn``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from bindsnet.network import Network

from encoders import ENCODERS
from encoders.events import events
from encoders.sequence import rows
from networks.builders import fc_spec
from snnsim.core.nodes import SpikingNodes
from snnsim.core.spec import build_network, network_spec
from snnsim.core.surrogate import FastSigmoid
from snnsim.engine import forward
from snnsim.errors import UserError
from snnsim.names import LIF_ENCODINGS, ROW_STEPS
from snnsim.training.rule import LearningRule, register_rule


def _log_latency() -> Callable[..., torch.Tensor]:
    """The ``log_latency`` encoder ``f(x [B, ...], T, *, tau, theta, dt) -> [T, B, ...]`` (registered by FastSNN)."""
    return ENCODERS["log_latency"]


#: Default first-layer weight gain for log-latency (or row) input and for event frames.
LATENCY_WEIGHT_GAIN, EVENT_WEIGHT_GAIN = 6.0, 1.0


class LatencyFC(LearningRule):
    """Shared part of ``fastsnn`` and ``lif``: FC net ``[B, *input_shape] -> [B, n_classes]``, log-latency
    input ``[T, B, ...]`` (the ``log_latency`` encoder, FastSNN's), max-potential read-out."""

    nets = ("fc",)
    #: input codings: log-latency images, or binned event frames (``events``, N-MNIST/SHD)
    encodings: tuple[str, ...] = ("log_latency", "events")

    def __init__(
        self,
        timesteps: int = 100,
        *,
        hidden: Sequence[int] = (200,),
        tau_hidden: float = 10.0,
        tau_readout: float = 20.0,
        thresh: float = 1.0,
        slope: float = 100.0,
        dt: float = 1.0,
        enc_tau: float = 20.0,
        enc_theta: float = 0.2,
        weight_gain: Optional[float] = None,
        bias: bool = True,
        encoding: str = "log_latency",
    ) -> None:
        super().__init__(timesteps)
        if encoding not in self.encodings:
            raise UserError(f"encoding must be one of {', '.join(self.encodings)}, got {encoding!r}")
        self.encoding = encoding
        if weight_gain is None:  # event frames are not sparse like latency codes: see _init_weights
            weight_gain = EVENT_WEIGHT_GAIN if encoding == "events" else LATENCY_WEIGHT_GAIN
        if isinstance(hidden, int):
            hidden = (hidden,)
        self.hidden = tuple(int(h) for h in hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise UserError(f"hidden must list positive layer sizes, got {hidden!r}")
        for name, value in (
            ("tau_hidden", tau_hidden),
            ("tau_readout", tau_readout),
            ("thresh", thresh),
            ("slope", slope),
            ("dt", dt),
            ("enc_tau", enc_tau),
            ("weight_gain", weight_gain),
        ):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"{name} must be a number > 0, got {value!r}")
        self.tau_hidden, self.tau_readout, self.thresh = float(tau_hidden), float(tau_readout), float(thresh)
        self.slope, self.dt, self.enc_tau, self.enc_theta = float(slope), float(dt), float(enc_tau), float(enc_theta)
        self.weight_gain, self.bias = float(weight_gain), bool(bias)
        _log_latency()(torch.zeros(1), 1, tau=self.enc_tau, theta=self.enc_theta, dt=self.dt)  # checks them

    @property
    def beta_hidden(self) -> float:
        return math.exp(-self.dt / self.tau_hidden)

    @property
    def beta_readout(self) -> float:
        return math.exp(-self.dt / self.tau_readout)

    def hidden_layer(self) -> dict[str, Any]:
        raise NotImplementedError

    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        self.check_net(net)
        spec = fc_spec(
            [math.prod(input_shape), *self.hidden, n_classes], input_shape=input_shape, bias=self.bias, dt=self.dt
        )
        for layer in spec["layers"][1:-1]:
            name = layer["name"]
            layer.clear()
            layer.update(name=name, **self.hidden_layer())
        spec["layers"][-1] = {"name": spec["layers"][-1]["name"], "type": "peak_integrator", "leak": self.beta_readout}
        network = build_network(spec)
        self._init_weights(network)
        self.prepare(network)
        return network

    def _init_weights(self, network: Network) -> None:
        """Uniform weights with std ``gain / sqrt(fan_in)``, zero biases. Latency input is sparse
        (at most one spike per pixel), so the first layer has ``gain = weight_gain`` (default 6);
        the others ``gain = 1``. Event frames carry many spikes per input: their default first-layer
        gain is 1 (tests/test_event_defaults.py, 4 synthetic classes, 3 epochs: gain 1 reached 1.00 with
        both rules on N-MNIST and SHD, gain 6 0.43-1.00)."""
        first = list(network.layers)[0]
        with torch.no_grad():
            for (src, _), conn in network.connections.items():
                gain = self.weight_gain if src == first else 1.0
                for m in conn.weighted:
                    bound = gain * math.sqrt(3.0 / m.weight[0].numel())
                    m.weight.uniform_(-bound, bound)
                    if m.bias is not None:
                        m.bias.zero_()

    def prepare(self, network: Network) -> None:
        for layer in network.layers.values():
            if isinstance(layer, SpikingNodes):
                layer.surrogate = FastSigmoid(self.slope)

    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Images ``[B, C, H, W]`` -> log-latency spikes ``[T, B, C, H, W]``; with ``encoding="events"``
        binned frames ``[B, T, *sensor]`` -> ``[T, B, *sensor]``."""
        if self.encoding == "events":
            return events(x, self.timesteps)
        return _log_latency()(x, self.timesteps, tau=self.enc_tau, theta=self.enc_theta, dt=self.dt)

    def outputs(self, network: Network, inputs: torch.Tensor) -> torch.Tensor:
        out = list(network.layers)[-1]
        peak = forward(network, inputs, record_voltage=[out]).voltages[out]
        return peak[-1].reshape(peak.shape[1], -1)  # max_t V

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, y)

    def encoder_config(self) -> dict[str, Any]:
        if self.encoding == "events":
            return {"encoder": "events", "timesteps": self.timesteps}
        return {
            "encoder": "log_latency",
            "timesteps": self.timesteps,
            "tau": self.enc_tau,
            "theta": self.enc_theta,
            "dt": self.dt,
        }

    def config(self) -> dict[str, Any]:
        # encoding only when not the default: the settings of earlier latency runs stay as they were
        return {
            **super().config(),
            "hidden": list(self.hidden),
            "tau_hidden": self.tau_hidden,
            "tau_readout": self.tau_readout,
            "thresh": self.thresh,
            "slope": self.slope,
            "dt": self.dt,
            "enc_tau": self.enc_tau,
            "enc_theta": self.enc_theta,
            "weight_gain": self.weight_gain,
            "bias": self.bias,
            **({"encoding": self.encoding} if self.encoding != "log_latency" else {}),
        }


class LIFRule(LatencyFC):
    """Standard multi-spike LIF SNN (reset by subtraction), BPTT through the fast engine.

    ``encoding="rows"`` (sequential MNIST): the network sees one image row per step, as input
    current (:func:`encoders.rows`, ``[H, B, C * W]``), so ``timesteps`` is the image
    height (default 28) and the input layer has ``C * W`` neurons."""

    name = "lif"
    encodings = LIF_ENCODINGS

    def __init__(
        self,
        timesteps: Optional[int] = None,
        *,
        detach_reset: bool = True,
        recurrent: bool = False,
        encoding: str = "log_latency",
        **kwargs: Any,
    ) -> None:
        if timesteps is None:
            timesteps = ROW_STEPS if encoding == "rows" else 100
        super().__init__(timesteps, encoding=encoding, **kwargs)
        if not isinstance(recurrent, bool):
            raise UserError(f"recurrent must be true or false, got {recurrent!r}")
        self.detach_reset, self.recurrent = bool(detach_reset), recurrent

    def _rows_input(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """The per-step input shape ``(C * W,)`` of images ``(C, H, W)``; H must equal ``timesteps``."""
        if len(input_shape) != 3 or input_shape[1] != self.timesteps:
            raise UserError(
                f"encoding rows runs one step per image row: timesteps ({self.timesteps}) must equal "
                f"the image height, got input shape {tuple(input_shape)}"
            )
        return (input_shape[0] * input_shape[2],)

    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        if self.encoding != "rows":
            return super().encode(x, generator)
        self._rows_input(tuple(x.shape[1:]))
        return rows(x, self.timesteps)

    def encoder_config(self) -> dict[str, Any]:
        if self.encoding != "rows":
            return super().encoder_config()
        return {"encoder": "rows", "timesteps": self.timesteps}

    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        if self.encoding == "rows":
            input_shape = self._rows_input(input_shape)
        network = super().build(net, input_shape, n_classes)
        if not self.recurrent:
            return network
        spec = network_spec(network)
        for layer in spec["layers"][1:-1]:
            n = math.prod(layer["shape"])
            spec["connections"].append(
                {
                    "source": layer["name"],
                    "target": layer["name"],
                    "ops": [{"op": "linear", "out_features": n, "bias": False}],
                }
            )
        recurrent = build_network(spec)
        recurrent.load_state_dict(network.state_dict(), strict=False)  # the feed-forward weights as drawn
        with torch.no_grad():
            for layer in spec["layers"][1:-1]:  # recurrent weights: uniform, std 1 / sqrt(fan_in)
                w = recurrent.connections[layer["name"], layer["name"]].layers[0].weight
                bound = math.sqrt(3.0 / w.shape[1])
                w.uniform_(-bound, bound)
        self.prepare(recurrent)
        return recurrent

    def hidden_layer(self) -> dict[str, Any]:
        return {"type": "lif", "leak": self.beta_hidden, "thresh": self.thresh, "reset": "subtract"}

    def prepare(self, network: Network) -> None:
        super().prepare(network)
        for layer in network.layers.values():
            if isinstance(layer, SpikingNodes):
                layer.detach_reset = self.detach_reset

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "detach_reset": self.detach_reset,
            "recurrent": self.recurrent,
            "encoding": self.encoding,
        }


register_rule(LIFRule)
