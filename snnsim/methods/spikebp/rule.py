"""Spike-based backpropagation (Lee et al. 2020).

LIF neurons (leak 0.99 per step, threshold 1, reset to zero), Bernoulli input with
``p = x / 2`` per step, a non-spiking integrator read-out ``out = U_out[T] / (V_th * T)``,
loss ``0.5 * sum (out - onehot)^2`` (averaged over the batch), and Lee's
pseudo-derivative with the leak correction at every spiking neuron
(:func:`snnsim.core.surrogate.lee_pseudo_derivative`). Dropout uses one mask per sample for
all steps; BatchNorm after each hidden weighted op is optional. Pooling layers of LeNet
are spiking IF layers with threshold 0.75. ``eval_timesteps`` (default: ``timesteps``) sets
the steps of evaluation (any call without autograd): a longer Bernoulli train at test time
averages out more of the input noise.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from bindsnet.network import Network

import encoders
from networks.builders import conv_spec, fc_spec
from snnsim.core.nodes import SpikingNodes
from snnsim.core.spec import build_network
from snnsim.core.surrogate import LeePseudo
from snnsim.engine import forward
from snnsim.errors import UserError
from snnsim.training.rule import LearningRule, register_rule


def insert_ops(spec: dict[str, Any], dropout: float, batchnorm: bool) -> dict[str, Any]:
    """Add dropout in front of the weighted ops of connections leaving hidden layers, and
    BatchNorm after every weighted op feeding a hidden layer."""
    names = [layer["name"] for layer in spec["layers"]]
    first, last = names[0], names[-1]
    for conn in spec["connections"]:
        ops = conn["ops"]
        if batchnorm and conn["target"] != last and ops[-1]["op"] in ("linear", "conv2d"):
            ops.append({"op": "batchnorm"})
        if dropout > 0 and conn["source"] != first and ops[0]["op"] in ("linear", "conv2d"):
            ops.insert(0, {"op": "dropout", "p": dropout})
    return spec


class SpikeBP(LearningRule):
    """Lee et al. (2020) spike-based backpropagation for FC and LeNet networks."""

    name = "spikebp"
    nets = ("fc", "lenet")

    def __init__(
        self,
        timesteps: int = 100,
        *,
        leak: float = 0.99,
        thresh: float = 1.0,
        prob_scale: float = 0.5,
        dropout: float = 0.2,
        batchnorm: bool = False,
        hidden: Sequence[int] = (800,),
        weight_gain: float = 3.0,
        eval_timesteps: Optional[int] = None,
    ) -> None:
        super().__init__(timesteps)
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {dropout}")
        if eval_timesteps is not None and (
            not isinstance(eval_timesteps, int) or isinstance(eval_timesteps, bool) or eval_timesteps < 1
        ):
            raise UserError(f"eval_timesteps must be an int >= 1, got {eval_timesteps!r}")
        self.eval_timesteps = eval_timesteps
        self.leak, self.thresh, self.prob_scale = leak, thresh, prob_scale
        self.dropout, self.batchnorm, self.hidden = dropout, batchnorm, tuple(int(h) for h in hidden)
        self.weight_gain = weight_gain

    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        self.check_net(net)
        common = dict(neuron="lif", leak=self.leak, thresh=self.thresh, reset="zero", output="integrator")
        if net == "fc":
            spec = fc_spec([math.prod(input_shape), *self.hidden, n_classes], input_shape=input_shape, **common)
        else:
            spec = conv_spec(
                [(20, 5), (50, 5)],
                n_classes,
                input_shape=input_shape,
                hidden_fc=(200,),
                pool_layers=True,
                pool_thresh=0.75,
                **common,
            )
        spec["layers"][-1]["leak"] = 1.0  # the read-out integrates without leak
        network = build_network(insert_ops(spec, self.dropout, self.batchnorm))
        self._init_weights(network)
        self.prepare(network)
        return network

    def _init_weights(self, network: Network) -> None:
        """Kaiming-uniform weights times ``weight_gain`` so that sparse Bernoulli input
        drives the LIF layers over threshold from the start."""
        g = self.weight_gain
        with torch.no_grad():
            for conn in network.connections.values():
                for m in conn.weighted:
                    fan_in = m.weight[0].numel()
                    bound = g * math.sqrt(3.0 / fan_in)
                    m.weight.uniform_(-bound, bound)

    def prepare(self, network: Network) -> None:
        for layer in network.layers.values():
            if isinstance(layer, SpikingNodes):
                layer.surrogate = LeePseudo()
                layer.detach_reset = True

    def steps(self) -> int:
        """Time steps of the next encoding: ``timesteps`` with autograd on (training),
        ``eval_timesteps`` (if set) without it (evaluation)."""
        if torch.is_grad_enabled() or self.eval_timesteps is None:
            return self.timesteps
        return self.eval_timesteps

    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Bernoulli spikes ``[T, B, ...]`` from intensities ``x [B, ...]`` in [0, 1]."""
        return encoders.bernoulli(x, self.steps(), prob_scale=self.prob_scale, generator=generator)

    def outputs(self, network: Network, inputs: torch.Tensor) -> torch.Tensor:
        """``U_out[T] / (V_th * T)`` ``[B, classes]`` from input spikes ``[T, B, ...]``."""
        record = forward(network, inputs)
        out = list(network.layers)[-1]
        v = record.voltages[out]
        return v[-1].reshape(v.shape[1], -1) / (self.thresh * v.shape[0])

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = F.one_hot(y, outputs.shape[1]).to(outputs.dtype)
        return 0.5 * ((outputs - target) ** 2).sum(1).mean()

    def encoder_config(self) -> dict[str, Any]:
        return {
            "encoder": "bernoulli",
            "prob_scale": self.prob_scale,
            "timesteps": self.eval_timesteps or self.timesteps,
        }

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "leak": self.leak,
            "thresh": self.thresh,
            "prob_scale": self.prob_scale,
            "dropout": self.dropout,
            "batchnorm": self.batchnorm,
            "hidden": list(self.hidden),
            "weight_gain": self.weight_gain,
            "eval_timesteps": self.eval_timesteps,
        }


register_rule(SpikeBP)
