"""Channels-last memory format on the training path of convolutional connections (issue 29).

On the CPU, MKLDNN's convolutions and torch's average pooling and batch norm are faster on
channels-last tensors (``[N, C, H, W]`` stored as ``N, H, W, C``) than on contiguous ones: on
the 2-core Xeon, LeNet's conv2 (20 -> 50, 5x5, N = 640) forward 55 ms against 81 ms, backward
124 against 179 ms, its 2x2 average pooling 10 against 36 ms (1 thread). While autograd is on
and a connection's weights need gradients, :meth:`snnsim.core.connections.ModuleConnection.compute_multi`
hands its 4-D float input to a conv, pooling or batch-norm op in channels-last format
(:func:`prefer_channels_last`); the outputs keep it, and the multi-step neuron's kernels read and
write any layout whose time steps are dense blocks (:mod:`snnsim.native.lif`), so that spikes
stay channels-last into the next connection. Values are those of the contiguous path within
float rounding (another summation order inside MKLDNN). Simulation without gradients keeps the
contiguous path (the engines' bit-identity holds there). ``SNNSIM_CHANNELS_LAST=0`` in the
environment (read at each call) turns it off.
"""

from __future__ import annotations

import os

import torch
from torch import nn

#: the op modules that run faster on channels-last input (subclasses included, e.g. tdBN)
CHANNELS_LAST_OPS = (nn.Conv2d, nn.AvgPool2d, nn.BatchNorm2d)


def channels_last_enabled() -> bool:
    """Whether the channels-last training path is on (``SNNSIM_CHANNELS_LAST`` is not ``0``)."""
    return os.environ.get("SNNSIM_CHANNELS_LAST", "1") != "0"


def prefer_channels_last(x: torch.Tensor, module: nn.Module, training: bool) -> torch.Tensor:
    """``x`` ``[N, C, H, W]`` in channels-last format where ``module`` is a conv, average pooling
    or batch norm, ``training`` (autograd on, weights needing gradients), ``x`` is float on the CPU
    and the path is enabled; else ``x`` unchanged. The values are the same; only the strides change.
    Bool spikes of several channels bound for a conv (e.g. a ResNet stem's input) are cast to the
    conv's dtype here, straight into channels-last, so that the conv's output, the batch norm after
    it and the conv's gradient need no conversion (1-channel ones stay bool: the event-driven and
    direct kernels read them as they are)."""
    if not training or x.dim() != 4 or x.device.type != "cpu" or not isinstance(module, CHANNELS_LAST_OPS):
        return x
    if not channels_last_enabled():
        return x
    if x.dtype == torch.bool and isinstance(module, nn.Conv2d) and x.shape[1] > 1:
        return x.to(module.weight.dtype, memory_format=torch.channels_last)
    if not x.is_floating_point():
        return x
    return x.contiguous(memory_format=torch.channels_last)
