"""The convolutional nets of :mod:`benchmarks.conv_train`, built the same way in snnsim,
SpikingJelly and snnTorch.

- ``lenet``: LIF LeNet 28x28-20c5-AP2-50c5-AP2-200-10 (leak 0.9, reset by subtraction, threshold
  1, no bias), read out by the output spike counts ``[B, 10]``.
- ``resnet19``: the tdBN ResNet-19 of STBP (:mod:`snnsim.methods.stbp.resnet`) at a channel
  ``width`` for 3x32x32 inputs (LIF leak 0.25, threshold 0.4, reset to zero), read out by the
  mean over T of the last linear layer ``[B, 10]``.

All use the arctan surrogate (alpha 2). Each builder returns (parameters, step function
``spikes [T, B, C, H, W] bool -> logits [B, 10]``). SpikingJelly: multi-step layers
(``step_mode="m"``) and its ``ThresholdDependentBatchNorm2d``; snnTorch has no tdBN, so its
ResNet uses a plain ``BatchNorm2d`` per time step in the usual step loop (same work per step).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

StepFn = Callable[[torch.Tensor], torch.Tensor]
Built = tuple[list[nn.Parameter], StepFn]

LENET_LEAK = 0.9
#: (stem channels, [(channels, blocks, first stride)]) of ResNet-19 before the width multiplier
RESNET_STEM, RESNET_STAGES, RESNET_FC = 128, ((128, 3, 1), (256, 3, 2), (512, 2, 2)), 256
RESNET_LEAK, RESNET_THRESH, ALPHA = 0.25, 0.4, 1.0 / math.sqrt(2.0)
MODELS = {
    "lenet": {"t": 20, "batch": 32, "shape": (1, 28, 28)},
    "resnet19": {"t": 4, "batch": 16, "shape": (3, 32, 32)},
}


def _ch(c: int, width: float) -> int:
    return max(1, round(c * width))


# --- snnsim ----------------------------------------------------------------------------------
def snnsim_net(model: str, width: float, device: str) -> Built:
    import networks
    from snnsim.core.nodes import SpikingNodes
    from snnsim.core.surrogate import ArcTan
    from snnsim.engine import forward

    if model == "lenet":
        net = networks.lenet(neuron="lif", leak=LENET_LEAK, reset="subtract")
    else:
        net = networks.resnet19(input_shape=MODELS["resnet19"]["shape"], width=width)
    for layer in net.layers.values():
        if isinstance(layer, SpikingNodes):
            layer.surrogate = ArcTan(2.0)
    net.to(device)
    net.train()

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        if model == "lenet":
            return forward(net, spikes).spikes["out"].sum(0)
        return forward(net, spikes).voltages["out"][-1] / spikes.shape[0]

    return [p for p in net.parameters() if p.requires_grad], step_fn


# --- SpikingJelly ----------------------------------------------------------------------------
def _sj_lif(leak: float, thresh: float, reset: str) -> nn.Module:
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(
        tau=1 / (1 - leak),
        decay_input=False,
        v_threshold=thresh,
        v_reset=None if reset == "subtract" else 0.0,
        surrogate_function=surrogate.ATan(),
        step_mode="m",
    )


def _sj_conv_bn(c_in: int, c_out: int, k: int, stride: int, alpha: float) -> nn.Sequential:
    from spikingjelly.activation_based import layer

    return nn.Sequential(
        layer.Conv2d(c_in, c_out, k, stride, k // 2, bias=False, step_mode="m"),
        layer.ThresholdDependentBatchNorm2d(alpha=alpha, v_th=RESNET_THRESH, num_features=c_out),
    )


class _SJBlock(nn.Module):
    """BasicBlock: LIF(conv-tdBN(alpha) of LIF(conv-tdBN(x)) + shortcut(x)); ``x`` ``[T, B, C, H, W]``."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            _sj_conv_bn(c_in, c_out, 3, stride, 1.0),
            _sj_lif(RESNET_LEAK, RESNET_THRESH, "zero"),
            _sj_conv_bn(c_out, c_out, 3, 1, ALPHA),
        )
        self.short = nn.Identity() if c_in == c_out and stride == 1 else _sj_conv_bn(c_in, c_out, 1, stride, ALPHA)
        self.out = _sj_lif(RESNET_LEAK, RESNET_THRESH, "zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.branch(x) + self.short(x))


def spikingjelly_net(model: str, width: float, device: str) -> Built:
    from spikingjelly.activation_based import functional, layer

    if model == "lenet":
        lif = lambda: _sj_lif(LENET_LEAK, 1.0, "subtract")
        net = nn.Sequential(
            layer.Conv2d(1, 20, 5, bias=False, step_mode="m"),
            lif(),
            layer.AvgPool2d(2, step_mode="m"),
            layer.Conv2d(20, 50, 5, bias=False, step_mode="m"),
            lif(),
            layer.AvgPool2d(2, step_mode="m"),
            layer.Flatten(step_mode="m"),
            layer.Linear(800, 200, bias=False, step_mode="m"),
            lif(),
            layer.Linear(200, 10, bias=False, step_mode="m"),
            lif(),
        )
    else:
        c = _ch(RESNET_STEM, width)
        mods: list[nn.Module] = [
            _sj_conv_bn(MODELS["resnet19"]["shape"][0], c, 3, 1, 1.0),
            _sj_lif(RESNET_LEAK, RESNET_THRESH, "zero"),
        ]
        for channels, blocks, stride in RESNET_STAGES:
            out_c = _ch(channels, width)
            for b in range(blocks):
                mods.append(_SJBlock(c, out_c, stride if b == 0 else 1))
                c = out_c
        mods += [
            layer.AdaptiveAvgPool2d(1, step_mode="m"),
            layer.Flatten(step_mode="m"),
            layer.Linear(c, RESNET_FC, bias=False, step_mode="m"),
            layer.ThresholdDependentBatchNorm1d(alpha=1.0, v_th=RESNET_THRESH, num_features=RESNET_FC),
            _sj_lif(RESNET_LEAK, RESNET_THRESH, "zero"),
            layer.Linear(RESNET_FC, 10, step_mode="m"),
        ]
        net = nn.Sequential(*mods)
    net.to(device).train()

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        functional.reset_net(net)
        out = net(spikes.float())
        return out.sum(0) if model == "lenet" else out.mean(0)

    return list(net.parameters()), step_fn


# --- snnTorch --------------------------------------------------------------------------------
def _leaky(leak: float, thresh: float, reset: str) -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    return snn.Leaky(beta=leak, threshold=thresh, spike_grad=surrogate.atan(), reset_mechanism=reset)


class _SnnTorchBlock(nn.Module):
    """One step of a BasicBlock with plain per-step BatchNorm2d; state: the two membranes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out))
        self.c2 = nn.Sequential(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.short = (
            nn.Identity()
            if c_in == c_out and stride == 1
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False), nn.BatchNorm2d(c_out))
        )
        self.lif1 = _leaky(RESNET_LEAK, RESNET_THRESH, "zero")
        self.lif2 = _leaky(RESNET_LEAK, RESNET_THRESH, "zero")

    def forward(self, x: torch.Tensor, mem: list) -> torch.Tensor:
        s1, mem[0] = self.lif1(self.c1(x), mem[0])
        s2, mem[1] = self.lif2(self.c2(s1) + self.short(x), mem[1])
        return s2


def _snntorch_lenet(device: str) -> Built:
    import torch.nn.functional as F

    convs = nn.ModuleList([nn.Conv2d(1, 20, 5, bias=False), nn.Conv2d(20, 50, 5, bias=False)]).to(device)
    fcs = nn.ModuleList([nn.Linear(800, 200, bias=False), nn.Linear(200, 10, bias=False)]).to(device)
    lifs = [_leaky(LENET_LEAK, 1.0, "subtract").to(device) for _ in range(4)]

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        x = spikes.float()
        mem = [lif.init_leaky() for lif in lifs]
        counts = 0
        for t in range(x.shape[0]):
            s, mem[0] = lifs[0](convs[0](x[t]), mem[0])
            s, mem[1] = lifs[1](convs[1](F.avg_pool2d(s, 2)), mem[1])
            s, mem[2] = lifs[2](fcs[0](F.avg_pool2d(s, 2).flatten(1)), mem[2])
            s, mem[3] = lifs[3](fcs[1](s), mem[3])
            counts = counts + s
        return counts

    return list(convs.parameters()) + list(fcs.parameters()), step_fn


def snntorch_net(model: str, width: float, device: str) -> Built:
    if model == "lenet":
        return _snntorch_lenet(device)
    c = _ch(RESNET_STEM, width)
    stem = nn.Sequential(nn.Conv2d(MODELS["resnet19"]["shape"][0], c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
    blocks = nn.ModuleList()
    for channels, n, stride in RESNET_STAGES:
        out_c = _ch(channels, width)
        for b in range(n):
            blocks.append(_SnnTorchBlock(c, out_c, stride if b == 0 else 1))
            c = out_c
    head = nn.Sequential(nn.Linear(c, RESNET_FC, bias=False), nn.BatchNorm1d(RESNET_FC))
    readout = nn.Linear(RESNET_FC, 10)
    lifs = nn.ModuleList([_leaky(RESNET_LEAK, RESNET_THRESH, "zero") for _ in range(2)])
    net = nn.ModuleList([stem, blocks, head, readout, lifs]).to(device).train()

    def step_fn(spikes: torch.Tensor) -> torch.Tensor:
        x = spikes.float()
        mem0, mem_fc = lifs[0].init_leaky(), lifs[1].init_leaky()
        mems = [[lifs[0].init_leaky(), lifs[0].init_leaky()] for _ in blocks]
        out = 0
        for t in range(x.shape[0]):
            s, mem0 = lifs[0](stem(x[t]), mem0)
            for blk, mem in zip(blocks, mems):
                s = blk(s, mem)
            s, mem_fc = lifs[1](head(s.mean((2, 3))), mem_fc)
            out = out + readout(s)
        return out / x.shape[0]

    return list(net.parameters()), step_fn


CONTENDERS: dict[str, Callable[[str, float, str], Built]] = {
    "snnsim": snnsim_net,
    "spikingjelly": spikingjelly_net,
    "snntorch": snntorch_net,
}
