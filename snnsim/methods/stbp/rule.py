"""STBP with threshold-dependent BatchNorm (Zheng et al. 2021): rule ``stbp-tdbn``.

- Neurons: LIF ``u[t+1] = tau u[t] (1 - o[t]) + x[t+1]``, ``o = H(u - V_th)``, with
  ``tau = 0.25`` (the per-step ``leak``), ``V_th = 0.4``, reset to zero; this is exactly
  :mod:`snnsim.core.dynamics` with ``leak = tau``. BPTT goes through the reset too
  (``detach_reset = False``) with the rectangular surrogate
  ``(1/a) 1[|u - V_th| < a/2]``, ``a = surrogate_width = 1``, centred at ``V_th``.
- tdBN after every conv and the hidden FC (op ``tdbn``; alpha ``1/sqrt(2)`` on the
  residual branches), see :mod:`snnsim.methods.stbp.tdbn` and :mod:`snnsim.methods.stbp.resnet`.
- Input: direct coding, the analog image repeated at every one of the ``T`` steps.
- Read-out: the last layer is a non-spiking integrator (leak 1) fed by FC-10 with bias;
  its potential after T steps over T is the mean over T of the FC output ("mean
  potential" read-out), the logits of a cross-entropy loss. ``snnsim simulate`` reads
  the same integrator (argmax of its final potential), so it predicts the same class.
- Export: :meth:`StbpTdbn.export` folds every tdBN (eval mode, running statistics)
  into the conv/linear before it, giving a BN-free network that the BindsNET engine runs.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from bindsnet.network import Network
from torch import nn

import encoders
from snnsim.core.nodes import SpikingNodes
from snnsim.core.spec import build_network
from snnsim.core.surrogate import Rectangular
from snnsim.engine import forward
from snnsim.errors import UserError
from snnsim.methods.stbp.resnet import STBP_LEAK, STBP_THRESH, resnet19_spec
from snnsim.methods.stbp.tdbn import RESIDUAL_ALPHA, fold_network
from snnsim.training.rule import LearningRule, register_rule


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UserError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


class StbpTdbn(LearningRule):
    """STBP + tdBN training of the spiking ResNet-19 (direct input coding, CE on mean output).

    Args:
        timesteps: T (the paper uses 2-6; default 2 as in the seed).
        width: channel multiplier of ResNet-19 (1 = 128/256/512; 0.125 = 16/32/64).
        leak: tau, the per-step decay of the potential (0.25).
        thresh: V_th (0.4), also the V_th of every tdBN.
        surrogate_width: a, width of the rectangular surrogate centred at V_th (1).
        alpha: tdBN alpha of the residual branches (1/sqrt(2)).
        fc_hidden: size of the hidden FC layer (256; not scaled by ``width``).
    """

    name = "stbp-tdbn"
    nets = ("resnet19",)

    def __init__(
        self,
        timesteps: int = 2,
        *,
        width: float = 1.0,
        leak: float = STBP_LEAK,
        thresh: float = STBP_THRESH,
        surrogate_width: float = 1.0,
        alpha: float = RESIDUAL_ALPHA,
        fc_hidden: int = 256,
    ) -> None:
        super().__init__(timesteps)
        self.width = _positive("width", width)
        self.leak = _positive("leak", leak)
        if self.leak > 1.0:
            raise UserError(f"leak must be in (0, 1], got {leak}")
        self.thresh = _positive("thresh", thresh)
        self.surrogate_width = _positive("surrogate_width", surrogate_width)
        self.alpha = _positive("alpha", alpha)
        if isinstance(fc_hidden, bool) or not isinstance(fc_hidden, int) or fc_hidden < 1:
            raise UserError(f"fc_hidden must be an int >= 1, got {fc_hidden!r}")
        self.fc_hidden = fc_hidden

    def build(self, net: str, input_shape: Sequence[int], n_classes: int) -> Network:
        self.check_net(net)
        spec = resnet19_spec(
            input_shape,
            n_classes,
            width=self.width,
            fc_hidden=self.fc_hidden,
            thresh=self.thresh,
            leak=self.leak,
            alpha=self.alpha,
        )
        network = build_network(spec)
        self._init_weights(network)
        self.prepare(network)
        return network

    @staticmethod
    def _init_weights(network: Network) -> None:
        """Kaiming-normal (fan-out) convs, default linears; tdBN sets the scale anyway."""
        with torch.no_grad():
            for conn in network.connections.values():
                for m in conn.weighted:
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def prepare(self, network: Network) -> None:
        """Rectangular surrogate of width a centred at V_th, gradient through the reset."""
        sur = Rectangular(self.surrogate_width)
        for layer in network.layers.values():
            if isinstance(layer, SpikingNodes):
                layer.surrogate = sur
                layer.detach_reset = False

    def encode(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Direct coding: ``x [B, C, H, W]`` -> ``[T, B, C, H, W]`` (the image at every step)."""
        return encoders.constant_current(x, self.timesteps)

    def outputs(self, network: Network, inputs: torch.Tensor) -> torch.Tensor:
        """Mean over T of the last FC output: final integrator potential / T, ``[B, n_classes]``."""
        record = forward(network, inputs)
        v = record.voltages[list(network.layers)[-1]]
        return v[-1].reshape(v.shape[1], -1) / v.shape[0]

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, y)

    def export(self, network: Network) -> Network:
        """The network to save/deploy: tdBN folded into the weights (eval mode)."""
        folded = fold_network(network)
        self.prepare(folded)
        return folded

    def encoder_config(self) -> dict[str, Any]:
        return {"encoder": "current", "timesteps": self.timesteps}

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "width": self.width,
            "leak": self.leak,
            "thresh": self.thresh,
            "surrogate_width": self.surrogate_width,
            "alpha": self.alpha,
            "fc_hidden": self.fc_hidden,
            "readout": "mean potential of the FC output over T",
        }


register_rule(StbpTdbn)
