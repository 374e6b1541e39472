"""Spiking ResNet-19 of Zheng et al. (2021) as a spec, and residual-block helpers.

Topology (channels times ``width``)::

    conv3x3 128 -> 3 BasicBlocks(128) -> 3 BasicBlocks(256, first stride 2)
      -> 2 BasicBlocks(512, first stride 2) -> global avg pool -> FC 256 -> FC n_classes

Every conv/FC except the last is followed by tdBN (op ``tdbn``) and a LIF layer
(STBP: leak tau = 0.25, V_th = 0.4, reset to zero). A BasicBlock is::

    in --conv3x3(stride)-tdBN--> LIF "<name>_mid" --conv3x3-tdBN(alpha)--> LIF "<name>"
    in --shortcut------------------------------------------------------->  (same LIF)

The shortcut is ``identity`` (same channels, stride 1) or conv1x1(stride)-tdBN(alpha),
with ``alpha = 1/sqrt(2)``; the block's output LIF receives the SUM of both currents
(a layer with two incoming connections; see :mod:`snnsim.core.connections`). The last layer
``out`` is a non-spiking integrator (leak 1) fed by a linear op with bias: its
potential after T steps divided by T is the mean over T of the FC output (the read-out).

Helpers for custom topologies: :func:`lif`, :func:`conv_bn`, :func:`basic_block`,
:func:`add_block`, :func:`add_stage`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from bindsnet.network import Network

from snnsim.core.spec import build_network
from snnsim.errors import UserError
from snnsim.methods.stbp.tdbn import RESIDUAL_ALPHA

CIFAR_SHAPE = (3, 32, 32)
#: (channels, blocks, stride of the first block) of ResNet-19's three stages
RESNET19_STAGES: tuple[tuple[int, int, int], ...] = ((128, 3, 1), (256, 3, 2), (512, 2, 2))
STBP_LEAK = 0.25
STBP_THRESH = 0.4

Spec = dict[str, Any]


def lif(name: str, *, thresh: float = STBP_THRESH, leak: float = STBP_LEAK) -> dict[str, Any]:
    """A LIF layer dict with the STBP settings (reset to zero)."""
    return {"name": name, "type": "lif", "thresh": float(thresh), "leak": float(leak), "reset": "zero"}


def conv_bn(
    out_channels: int, *, kernel_size: int = 3, stride: int = 1, alpha: float = 1.0, v_th: float = STBP_THRESH
) -> list[dict[str, Any]]:
    """Ops of a bias-free conv (``padding = kernel_size // 2``) followed by tdBN."""
    if int(out_channels) < 1 or int(kernel_size) < 1 or int(stride) < 1:
        raise UserError(
            f"out_channels, kernel_size and stride must be >= 1, got {out_channels}, {kernel_size}, {stride}"
        )
    return [
        {
            "op": "conv2d",
            "out_channels": int(out_channels),
            "kernel_size": int(kernel_size),
            "stride": int(stride),
            "padding": int(kernel_size) // 2,
            "bias": False,
        },
        {"op": "tdbn", "alpha": float(alpha), "v_th": float(v_th)},
    ]


def basic_block(
    source: str,
    name: str,
    in_channels: int,
    out_channels: int,
    *,
    stride: int = 1,
    thresh: float = STBP_THRESH,
    leak: float = STBP_LEAK,
    alpha: float = RESIDUAL_ALPHA,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Layers and connections of one BasicBlock reading the spikes of layer ``source``.

    Returns (layers ``[<name>_mid, <name>]``, connections); the block's output layer is
    ``name``. The shortcut is the identity when ``in_channels == out_channels`` and
    ``stride == 1``, else a 1x1 conv with ``stride`` and tdBN(``alpha``).
    """
    mid = f"{name}_mid"
    layers = [lif(mid, thresh=thresh, leak=leak), lif(name, thresh=thresh, leak=leak)]
    if int(in_channels) == int(out_channels) and int(stride) == 1:
        shortcut = [{"op": "identity"}]
    else:
        shortcut = conv_bn(out_channels, kernel_size=1, stride=stride, alpha=alpha, v_th=thresh)
    conns = [
        {"source": source, "target": mid, "ops": conv_bn(out_channels, stride=stride, v_th=thresh)},
        {"source": mid, "target": name, "ops": conv_bn(out_channels, alpha=alpha, v_th=thresh)},
        {"source": source, "target": name, "ops": shortcut},
    ]
    return layers, conns


def add_block(spec: Spec, source: str, name: str, in_channels: int, out_channels: int, **kw: Any) -> str:
    """Append :func:`basic_block` to ``spec`` (in place); returns the block's output layer name."""
    layers, conns = basic_block(source, name, in_channels, out_channels, **kw)
    spec["layers"].extend(layers)
    spec["connections"].extend(conns)
    return name


def add_stage(
    spec: Spec,
    source: str,
    prefix: str,
    in_channels: int,
    out_channels: int,
    blocks: int,
    *,
    stride: int = 1,
    **kw: Any,
) -> str:
    """Append ``blocks`` BasicBlocks ``<prefix>b1..`` (the first with ``stride``); returns the last name."""
    if int(blocks) < 1:
        raise UserError(f"a stage needs at least one block, got {blocks}")
    prev, c_in = source, in_channels
    for b in range(1, int(blocks) + 1):
        prev = add_block(spec, prev, f"{prefix}b{b}", c_in, out_channels, stride=stride if b == 1 else 1, **kw)
        c_in = out_channels
    return prev


def scaled(channels: int, width: float) -> int:
    """``round(channels * width)``, at least 1."""
    return max(1, int(round(channels * width)))


def _conv_out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1  # 3x3 pad 1 and 1x1 pad 0 give the same size


def resnet19_spec(
    input_shape: Sequence[int] = CIFAR_SHAPE,
    n_classes: int = 10,
    *,
    width: float = 1.0,
    stem: int = 128,
    stages: Sequence[tuple[int, int, int]] = RESNET19_STAGES,
    fc_hidden: Optional[int] = 256,
    thresh: float = STBP_THRESH,
    leak: float = STBP_LEAK,
    alpha: float = RESIDUAL_ALPHA,
    dt: float = 1.0,
) -> Spec:
    """Spec of the spiking ResNet-19 (see module docstring) for ``input_shape`` ``(C, H, W)``.

    Args:
        width: multiplier of every conv's channels (0.125 -> 16/32/64); ``fc_hidden``
            is not scaled (None drops the hidden FC layer).
        stem, stages: channels of the first conv; (channels, blocks, first stride) per stage.
        thresh, leak: LIF threshold V_th (also the tdBN's V_th) and per-step leak tau.
        alpha: tdBN alpha of the residual branches (the second BN and the shortcut BN).
    """
    shape = [int(d) for d in input_shape]
    if len(shape) != 3 or min(shape) < 1:
        raise UserError(f"input_shape must be (C, H, W) with positive sizes, got {tuple(input_shape)}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise UserError(f"width must be a number > 0, got {width!r}")
    if int(n_classes) < 1:
        raise UserError(f"n_classes must be >= 1, got {n_classes}")
    kw = dict(thresh=thresh, leak=leak)
    spec: Spec = {"dt": float(dt), "layers": [{"name": "input", "type": "input", "shape": shape}], "connections": []}
    c = scaled(stem, width)
    spec["layers"].append(lif("conv1", **kw))
    spec["connections"].append({"source": "input", "target": "conv1", "ops": conv_bn(c, v_th=thresh)})
    prev, (h, w) = "conv1", shape[1:]
    for s, (channels, blocks, stride) in enumerate(stages, start=1):
        out_c = scaled(channels, width)
        prev = add_stage(spec, prev, f"s{s}", c, out_c, blocks, stride=stride, alpha=alpha, **kw)
        c, h, w = out_c, _conv_out(h, stride), _conv_out(w, stride)
    if h != w:
        raise UserError(f"global average pooling needs square feature maps; input {tuple(shape)} gives {h}x{w}")
    ops: list[dict[str, Any]] = [{"op": "avgpool2d", "kernel_size": h}]
    if fc_hidden:
        spec["layers"].append(lif("fc1", **kw))
        spec["connections"].append(
            {
                "source": prev,
                "target": "fc1",
                "ops": ops
                + [
                    {"op": "linear", "out_features": int(fc_hidden), "bias": False},
                    {"op": "tdbn", "alpha": 1.0, "v_th": float(thresh)},
                ],
            }
        )
        prev, ops = "fc1", []
    spec["layers"].append({"name": "out", "type": "integrator", "leak": 1.0})
    spec["connections"].append(
        {"source": prev, "target": "out", "ops": ops + [{"op": "linear", "out_features": int(n_classes), "bias": True}]}
    )
    return spec


def resnet19(**kw: Any) -> Network:
    """Build :func:`resnet19_spec` as a Network."""
    return build_network(resnet19_spec(**kw))


__all__ = [
    "CIFAR_SHAPE",
    "RESNET19_STAGES",
    "STBP_LEAK",
    "STBP_THRESH",
    "add_block",
    "add_stage",
    "basic_block",
    "conv_bn",
    "lif",
    "resnet19",
    "resnet19_spec",
    "scaled",
]
