"""FastSNN (Taylor, King & Harper 2022): single-spike hidden layers computed for all steps at once.

The rule trains the fully connected net of its standard multi-spike LIF counterpart
(``--method lif``, :mod:`snnsim.training.lif`, whose :class:`~snnsim.training.lif.LatencyFC` it
shares: log-latency-coded images :func:`snnsim.methods.fastsnn.encoding.log_latency`, a
``peak_integrator`` read-out ``max_t V`` and cross-entropy), so the two compare on equal terms;
its hidden layers are single-spike ``fastlif`` layers (:mod:`snnsim.methods.fastsnn.layer`).

Parameters (``--set key=value``): those of :class:`~snnsim.training.lif.LatencyFC` (hidden,
tau_hidden, tau_readout, thresh, slope, dt, enc_tau, enc_theta, weight_gain, bias), method and
grad (see :mod:`snnsim.methods.fastsnn.layer`), and encoding (``log_latency`` or ``events``: binned
N-MNIST/SHD event frames, see :mod:`snnsim.data.event_frames`).
"""

from __future__ import annotations

from typing import Any

from snnsim.errors import UserError
from snnsim.methods.fastsnn.layer import DECAY_METHODS, DEFAULT_GRAD, GRAD_MODES
from snnsim.training.lif import LatencyFC, LIFRule
from snnsim.training.rule import register_rule

__all__ = ["FastSNNRule", "LatencyFC", "LIFRule"]  # LIFRule: its 0.2 home was this module


class FastSNNRule(LatencyFC):
    """FastSNN: single-spike hidden layers computed for all steps at once."""

    name = "fastsnn"

    def __init__(self, timesteps: int = 100, *, method: str = "auto", grad: str = DEFAULT_GRAD, **kwargs: Any) -> None:
        super().__init__(timesteps, **kwargs)
        if method not in DECAY_METHODS:
            raise UserError(f"method must be one of {DECAY_METHODS}, got {method!r}")
        if grad not in GRAD_MODES:
            raise UserError(f"grad must be one of {GRAD_MODES}, got {grad!r}")
        self.method, self.grad = method, grad

    def hidden_layer(self) -> dict[str, Any]:
        return {
            "type": "fastlif",
            "leak": self.beta_hidden,
            "thresh": self.thresh,
            "slope": self.slope,
            "method": self.method,
            "grad": self.grad,
        }

    def config(self) -> dict[str, Any]:
        return {**super().config(), "method": self.method, "grad": self.grad}


register_rule(FastSNNRule)
