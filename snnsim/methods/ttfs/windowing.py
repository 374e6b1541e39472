"""Choosing the TTFS windows: calibration on data and the growth rule used in training.

- :func:`calibrate_windows`: window of layer n = ``(1 + margin) * max ReLU activation``
  of layer n on the data (margin 0.5, Stanojevic et al. 2024), computed with the ReLU
  twin (no clipping), so one pass gives every layer's maximum.
- :func:`grow_windows`: after a training batch, with ``min t_i`` the earliest spike of
  layer n in that batch (under the windows the batch ran with)::

      t_max^n := t_min^n + max(t_max^n - t_min^n, growth * (t_max^n - min_i t_i^n))

  with ``growth = 10``, the windows re-chained from ``[0, 1]`` (``t_min^n`` is the new
  ``t_max^(n-1)``). Window lengths never shrink; ``t_max - min t_i`` is the largest
  activation of the batch (the window length if a neuron was clipped at ``t_min``).
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from bindsnet.network import Network

from snnsim.data.datasets import Split
from snnsim.errors import UserError, UserTypeError
from snnsim.methods.ttfs.chain import hidden_layers, set_windows
from snnsim.methods.ttfs.exact import TTFSResult, ttfs_forward

DEFAULT_MARGIN = 0.5
DEFAULT_GROWTH = 10.0

Data = Union[torch.Tensor, Split]


def _inputs(data: Data) -> torch.Tensor:
    if isinstance(data, Split):
        return data.x
    if isinstance(data, torch.Tensor):
        return data
    raise UserTypeError(f"data must be a tensor [N, *input_shape] or a snnsim Split, got {type(data).__name__}")


@torch.no_grad()
def max_activations(network: Network, data: Data, batch_size: int = 500) -> list[float]:
    """Largest ReLU activation of every hidden layer over ``data`` (unclipped)."""
    x = _inputs(data)
    if x.shape[0] == 0:
        raise UserError("data is empty: windows need at least one sample")
    names = [layer.name for layer in hidden_layers(network)]
    best = [0.0] * len(names)
    for i in range(0, x.shape[0], batch_size):
        res = ttfs_forward(network, x[i : i + batch_size], domain="relu")
        for k, name in enumerate(names):
            best[k] = max(best[k], float(res.activations(name).max()))
    return best


def calibrate_windows(
    network: Network, data: Data, margin: float = DEFAULT_MARGIN, batch_size: int = 500, floor: float = 1e-3
) -> list[float]:
    """Set every window to ``(1 + margin) * max activation`` on ``data`` (at least
    ``floor``, for layers that never activate). Returns the new window lengths."""
    if not (math.isfinite(margin) and margin >= 0):
        raise UserError(f"margin must be a finite number >= 0, got {margin!r}")
    lengths = [max((1.0 + margin) * m, floor) for m in max_activations(network, data, batch_size)]
    set_windows(network, lengths)
    return lengths


def batch_min_times(network: Network, result: TTFSResult) -> list[float]:
    """Earliest spike ``min t_i`` of every hidden layer in a forward ``result``."""
    return [float(result.times[layer.name].detach().min()) for layer in hidden_layers(network)]


def grow_windows(network: Network, min_times: Sequence[float], growth: float = DEFAULT_GROWTH) -> list[float]:
    """Apply the growth rule (module docstring) given each hidden layer's earliest spike
    time ``min_times`` in the batch, measured under the current windows. Returns the new
    window lengths."""
    if not (math.isfinite(growth) and growth > 0):
        raise UserError(f"growth must be a finite number > 0, got {growth!r}")
    layers = hidden_layers(network)
    if len(min_times) != len(layers):
        raise UserError(f"expected {len(layers)} earliest spike times (one per hidden layer), got {len(min_times)}")
    new = []
    for layer, t_first in zip(layers, min_times):
        largest = layer.node.t_max - float(t_first)
        new.append(max(layer.node.window, growth * largest))
    set_windows(network, new)
    return new


__all__ = [
    "DEFAULT_GROWTH",
    "DEFAULT_MARGIN",
    "batch_min_times",
    "calibrate_windows",
    "grow_windows",
    "max_activations",
]
