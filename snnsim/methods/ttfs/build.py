"""Builders of TTFS networks: FC (FC2 = 784-340-10) and a small VGG-style conv net.

Both return BindsNET Networks (see :mod:`snnsim.methods.ttfs.chain` for the layout) with
Glorot-uniform weights and zero biases, the initialisation of the TTFS paper's
reference networks; windows start at length 1 and are meant to be calibrated on data
(:func:`snnsim.methods.ttfs.calibrate_windows`) before use.

"vgg" here is a CPU-sized VGG-style net: blocks of two 3x3 convolutions (padding 1)
with max-pooling (the earliest spike) after each block, then dense layers:
``16c3-16c3-P2-32c3-32c3-P2-128-n_classes`` by default (28x28 MNIST: 7x7x32 features
into the dense layers; 8x8 digits: 2x2x32).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import torch
from bindsnet.network import Network
from torch import nn

from snnsim.core.spec import build_network
from snnsim.errors import UserError
from snnsim.methods.ttfs.chain import INPUT_T_MAX

Feature = Union[int, str]  # conv channels, or "M" for a 2x2 max-pool
VGG_FEATURES: tuple[Feature, ...] = (16, 16, "M", 32, 32, "M")
VGG_HIDDEN: tuple[int, ...] = (128,)


def _shape(input_shape: Sequence[int]) -> list[int]:
    shape = [int(d) for d in input_shape]
    if not shape or min(shape) < 1:
        raise UserError(f"input_shape must be positive dimensions, got {tuple(input_shape)}")
    return shape


def _hidden(name: str, t_min: float, relu: Optional[bool] = None) -> dict[str, Any]:
    if relu is None:
        return {"name": name, "type": "ttfs", "t_min": t_min, "t_max": t_min + 1.0}
    return {"name": name, "type": "ttfs_readout", "t_min": t_min, "relu": relu}


def fc_spec(
    sizes: Sequence[int], *, input_shape: Optional[Sequence[int]] = None, output_relu: bool = False
) -> dict[str, Any]:
    """Spec of a TTFS FC net ``sizes = [n_in, hidden..., n_classes]`` (at least one hidden)."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 3 or min(sizes) < 1:
        raise UserError(f"sizes must be [n_in, hidden..., n_classes] with >= 1 hidden layer, got {sizes}")
    shape = _shape(input_shape) if input_shape is not None else [sizes[0]]
    if math.prod(shape) != sizes[0]:
        raise UserError(f"input_shape {shape} has {math.prod(shape)} values, sizes[0] = {sizes[0]}")
    layers = [{"name": "input", "type": "input", "shape": shape}]
    conns = []
    t = INPUT_T_MAX
    prev = "input"
    for i, n in enumerate(sizes[1:-1], start=1):
        layers.append(_hidden(f"fc{i}", t))
        conns.append({"source": prev, "target": f"fc{i}", "ops": [{"op": "linear", "out_features": n}]})
        prev, t = f"fc{i}", t + 1.0
    layers.append(_hidden("out", t, relu=output_relu))
    conns.append({"source": prev, "target": "out", "ops": [{"op": "linear", "out_features": sizes[-1]}]})
    return {"dt": 1.0, "layers": layers, "connections": conns}


def vgg_spec(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    features: Sequence[Feature] = VGG_FEATURES,
    hidden: Sequence[int] = VGG_HIDDEN,
    kernel_size: int = 3,
) -> dict[str, Any]:
    """Spec of a VGG-style TTFS net (module docstring); ``features``: channels or "M"."""
    shape = _shape(input_shape)
    if len(shape) != 3:
        raise UserError(f"the vgg net needs (C, H, W) inputs, got input_shape {tuple(shape)}")
    if not any(isinstance(f, int) for f in features):
        raise UserError(f"features needs at least one conv layer, got {list(features)}")
    layers = [{"name": "input", "type": "input", "shape": shape}]
    conns: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    prev, t, k = "input", INPUT_T_MAX, 0
    for f in features:
        if f == "M":
            pending.append({"op": "ttfs_maxpool2d", "kernel_size": 2})
            continue
        if not isinstance(f, int) or f < 1:
            raise UserError(f"features must be positive channel counts or 'M', got {f!r}")
        k += 1
        layers.append(_hidden(f"conv{k}", t))
        conns.append(
            {
                "source": prev,
                "target": f"conv{k}",
                "ops": pending
                + [{"op": "conv2d", "out_channels": f, "kernel_size": kernel_size, "padding": kernel_size // 2}],
            }
        )
        pending, prev, t = [], f"conv{k}", t + 1.0
    for i, n in enumerate(list(hidden) + [n_classes], start=1):
        last = i == len(hidden) + 1
        name = "out" if last else f"fc{i}"
        layers.append(_hidden(name, t, relu=False if last else None))
        conns.append({"source": prev, "target": name, "ops": pending + [{"op": "linear", "out_features": int(n)}]})
        pending, prev, t = [], name, t + 1.0
    return {"dt": 1.0, "layers": layers, "connections": conns}


def init_glorot(network: Network, generator: Optional[torch.Generator] = None) -> Network:
    """Glorot-uniform weights, zero biases (in place); returns ``network``."""
    with torch.no_grad():
        for conn in network.connections.values():
            for m in conn.layers:
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    receptive = m.weight[0, 0].numel()
                    fan_in, fan_out = m.weight.shape[1] * receptive, m.weight.shape[0] * receptive
                    bound = math.sqrt(6.0 / (fan_in + fan_out))
                    m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * bound)
        for layer in network.layers.values():
            if hasattr(layer, "bias") and isinstance(layer.bias, nn.Parameter):
                layer.bias.zero_()
    return network


def build_fc(
    sizes: Sequence[int], *, input_shape: Optional[Sequence[int]] = None, generator: Optional[torch.Generator] = None
) -> Network:
    """A fresh TTFS FC net (Glorot init); ``build_fc([784, 340, 10])`` is FC2."""
    return init_glorot(build_network(fc_spec(sizes, input_shape=input_shape)), generator)


def build_vgg(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    features: Sequence[Feature] = VGG_FEATURES,
    hidden: Sequence[int] = VGG_HIDDEN,
    generator: Optional[torch.Generator] = None,
) -> Network:
    """A fresh VGG-style TTFS net (Glorot init)."""
    spec = vgg_spec(input_shape, n_classes, features=features, hidden=hidden)
    return init_glorot(build_network(spec), generator)
