"""Exact (continuous-time) TTFS forward pass in closed form, differentiable by autograd.

Input ``x`` in [0, 1] spikes at ``t_j = 1 - x_j`` (window [0, 1]). A B1 neuron of layer
n (window ``[t_min, t_max]``) has ``V(t_min) = sum_j W_ij (t_min - t_j)`` and then rises
with slope 1 to ``theta_i = t_max - t_min - D_i``, so it fires at::

    t_i = t_max - min(ReLU(sum_j W_ij (t_min - t_j) + D_i), t_max - t_min)

(ReLU: a neuron that has not fired by ``t_max`` fires there, activation 0; min: a neuron
cannot fire before its window opens, so an activation above the window length is
clipped). With ``x_j = t_min - t_j`` the activation ``x_i = t_max - t_i`` is exactly
``ReLU(W x + D)`` whenever ``W x + D <= t_max - t_min``: the mapping is exact when
every window exceeds the largest activation of its layer, which the margin of
:func:`snnsim.methods.ttfs.calibrate_windows` (window = 1.5 x the largest activation on the
calibration data) and the growth rule ensure on the data they see. Derivatives:
``d t_i / d t_j = W_ij`` for neurons inside their window (0 for neurons at ``t_max``
or clipped at ``t_min``), exactly those of the ReLU net. Max-pooling takes the
earliest spike (largest activation); conv padding is activation 0 (a spike at
``t_min``). The read-out does not spike: ``logits = D + sum_j W_ij (t_min - t_j)``.

``domain="relu"`` computes the same network as a plain ReLU net on activations (no
window clip): the ReLU twin, for checks and as a training control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from bindsnet.network import Network

from snnsim.errors import UserError, UserTypeError
from snnsim.methods.ttfs.chain import INPUT_T_MAX, apply_ops, ttfs_layers

DOMAINS = ("time", "relu")


@dataclass
class TTFSResult:
    """Output of :func:`ttfs_forward`.

    Attributes:
        logits: read-out ``[B, n_classes]``.
        times: layer name -> spike times ``[B, *shape]`` (input layer included; the
            read-out excluded). In the ``relu`` domain ``t_max - activation``.
        windows: layer name -> ``(t_min, t_max)`` (input: ``(0, 1)``).
    """

    logits: torch.Tensor
    times: dict[str, torch.Tensor] = field(default_factory=dict)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)

    def activations(self, layer: str) -> torch.Tensor:
        """``t_max - t`` of ``layer``: its ReLU activations ``[B, *shape]``."""
        return self.windows[layer][1] - self.times[layer]


def check_unit_interval(x: torch.Tensor, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise UserTypeError(f"{what} must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise UserError(f"{what} must hold values in [0, 1] (inputs are coded as spike times 1 - x)")
    return x


def input_times(x: torch.Tensor) -> torch.Tensor:
    """Spike times ``1 - x`` of inputs ``x [B, ...]`` in [0, 1]."""
    return INPUT_T_MAX - check_unit_interval(x)


def times_from_spikes(spikes: torch.Tensor, dt: float) -> torch.Tensor:
    """Input spike times from a spike train ``[T, B, ...]``: first spike step x ``dt``;
    an input that never spikes has ``t = 1`` (activation 0). Returns ``[B, ...]``."""
    if spikes.dim() < 2:
        raise UserError(f"spikes must be [T, B, ...], got shape {list(spikes.shape)}")
    fired = spikes != 0
    first = fired.to(torch.uint8).argmax(0).to(torch.get_default_dtype()) * float(dt)
    return torch.where(fired.any(0), first, torch.full_like(first, INPUT_T_MAX)).clamp(max=INPUT_T_MAX)


def ttfs_forward(
    network: Network,
    x: Optional[torch.Tensor] = None,
    *,
    times: Optional[torch.Tensor] = None,
    domain: str = "time",
) -> TTFSResult:
    """Closed-form forward pass of a TTFS ``network`` on ``x [B, *input_shape]`` (or on
    input spike ``times``). Runs in the dtype of the network's weights; differentiable
    w.r.t. weights, biases and inputs. See the module docstring for the equations."""
    if domain not in DOMAINS:
        raise UserError(f"domain must be one of {DOMAINS}, got {domain!r}")
    if (x is None) == (times is None):
        raise UserError("give exactly one of x (values in [0, 1]) or times (input spike times)")
    layers = ttfs_layers(network)
    in_name = next(iter(network.layers))
    dtype = layers[0].node.bias.dtype
    t = input_times(x) if x is not None else times
    t = t.to(dtype).reshape(t.shape[0], *network.layers[in_name].shape)
    result = TTFSResult(logits=t.new_zeros(0), times={in_name: t}, windows={in_name: (0.0, INPUT_T_MAX)})
    act = INPUT_T_MAX - t  # relu domain: carry activations
    for layer in layers:
        node = layer.node
        if domain == "time":
            u = apply_ops(layer.conn, node.t_min - t) + node.bias_view()
        else:
            u = apply_ops(layer.conn, act) + node.bias_view()
        if layer.readout:
            result.logits = (F.relu(u) if node.relu else u).reshape(u.shape[0], -1)
            break
        if domain == "time":
            t = node.t_max - torch.clamp(F.relu(u), max=node.window)
        else:
            act = F.relu(u)
            t = node.t_max - act
        result.times[layer.name] = t
        result.windows[layer.name] = (node.t_min, node.t_max)
    return result
