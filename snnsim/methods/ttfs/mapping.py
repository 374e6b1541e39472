"""Map a trained ReLU ANN onto a TTFS network with the exact identity mapping.

Each Linear/Conv2d + ReLU becomes a TTFS layer with the same weights, its bias D the
ReLU bias (the threshold is ``t_max - t_min - D``); the last weighted layer becomes the
non-spiking read-out (rectified if the ANN ends with a ReLU). The model is traced with
:func:`snnsim.methods.conversion.trace_chain` (Linear, Conv2d, MaxPool2d, AvgPool2d, BatchNorm,
Flatten, ReLU, Dropout, Identity in a linear chain). Rules:

- BatchNorm right after a Linear/Conv2d (before the ReLU) is folded into it
  (:func:`snnsim.methods.conversion.fold_batchnorm`).
- BatchNorm after a ReLU (possibly after pooling) is an affine map ``g x + c`` per
  channel of the signal entering the *next* weighted layer, and is fused into it:
  ``W' = W g``, ``D' = D + W c``. With a zero-padded next convolution ``W c`` differs
  at the borders (padding stays 0, not ``c``), so the bias becomes a per-neuron map
  ``[C, H, W]``, which keeps the mapping exact. Max-pooling between such a BatchNorm
  and the next layer needs ``g >= 0`` (ValueError otherwise).
- MaxPool2d between a weighted layer and its ReLU commutes with it; max-pooling becomes
  ``ttfs_maxpool2d`` (earliest spike), average pooling ``avgpool2d`` (linear in the
  activations, so exact too).

Windows: ``(1 + margin) * largest ReLU output`` of each layer on ``data`` (margin 0.5).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from bindsnet.network import Network
from torch import nn

from snnsim.core.spec import build_network
from snnsim.errors import UserError, UserTypeError
from snnsim.methods.conversion import Block, group_blocks, trace_chain
from snnsim.methods.ttfs.chain import INPUT_T_MAX, ttfs_layers
from snnsim.methods.ttfs.windowing import DEFAULT_MARGIN, Data, _inputs, calibrate_windows


def _pool_spec(m: nn.Module) -> dict[str, Any]:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    s = m.stride if m.stride is not None else k
    s = s if isinstance(s, int) else s[0]
    op = "ttfs_maxpool2d" if isinstance(m, nn.MaxPool2d) else "avgpool2d"
    return {"op": op, "kernel_size": int(k), "stride": int(s)}


def _group(ann: nn.Module, in_shape: list[int]) -> list[Block]:
    """The traced chain as weighted blocks in float64, BatchNorm after a ReLU kept as an affine
    map for the next layer (:func:`snnsim.methods.conversion.group_blocks`)."""
    return group_blocks(trace_chain(ann), input_shape=in_shape, bn_after_relu=True, dtype=torch.float64)


def _fused(layer: Block) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``layer`` in float64 with the BatchNorm before it fused in."""
    m = layer.module
    w = m.weight.detach().double()
    b = m.bias.detach().double() if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if layer.affine is None:
        return w, b
    g, c = layer.affine
    if isinstance(m, nn.Linear):
        per = int(torch.tensor(layer.in_shape).prod()) // g.numel()
        g_flat, c_flat = g.repeat_interleave(per), c.repeat_interleave(per)
        return w * g_flat, b + w @ c_flat
    w_new = w * g.view(1, -1, 1, 1)
    pad = m.padding if isinstance(m.padding, int) else m.padding[0]
    if pad == 0:
        return w_new, b + (w * c.view(1, -1, 1, 1)).sum((1, 2, 3))
    const = c.view(1, -1, 1, 1).expand(1, *layer.in_shape)
    bias_map = F.conv2d(const, w, None, m.stride, m.padding)[0] + b.view(-1, 1, 1)
    return w_new, bias_map


def mapped_spec(layers: list[Block], input_shape: list[int]) -> dict[str, Any]:
    """The TTFS spec of grouped layers (windows of length 1, to be calibrated)."""
    spec_layers: list[dict[str, Any]] = [{"name": "input", "type": "input", "shape": input_shape}]
    conns = []
    prev, t = "input", INPUT_T_MAX
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        name = "out" if last else f"l{i + 1}"
        m = layer.module
        ops = [_pool_spec(p) for p in layer.pre]
        if isinstance(m, nn.Linear):
            ops.append({"op": "linear", "out_features": int(m.out_features)})
        else:
            k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size, m.stride, m.padding))
            ops.append(
                {
                    "op": "conv2d",
                    "out_channels": int(m.out_channels),
                    "kernel_size": int(k),
                    "stride": int(s),
                    "padding": int(p),
                }
            )
        if last:
            spec_layers.append({"name": name, "type": "ttfs_readout", "t_min": t, "relu": layer.relu})
        else:
            spec_layers.append({"name": name, "type": "ttfs", "t_min": t, "t_max": t + 1.0})
        conns.append({"source": prev, "target": name, "ops": ops})
        prev, t = name, t + 1.0
    return {"dt": 1.0, "layers": spec_layers, "connections": conns}


def from_relu(
    ann: nn.Module,
    data: Optional[Data],
    *,
    margin: float = DEFAULT_MARGIN,
    input_shape: Optional[list[int]] = None,
    dtype: Optional[torch.dtype] = None,
    batch_size: int = 500,
) -> Network:
    """TTFS network equal to the ReLU ``ann`` (see the module docstring).

    Args:
        ann: a ReLU network (eval-mode semantics: dropout off, BatchNorm running stats).
        data: inputs ``[N, *input_shape]`` in [0, 1] (or a Split) for the windows; None
            leaves windows of length 1 for the caller to calibrate.
        input_shape: needed only when ``data`` is None.
        dtype: dtype of the result (default: the ANN's parameter dtype).
    """
    if not isinstance(ann, nn.Module):
        raise UserTypeError(f"ann must be a torch nn.Module, got {type(ann).__name__}")
    if data is not None:
        x = _inputs(data)
        shape = list(x.shape[1:])
    elif input_shape is not None:
        shape = [int(d) for d in input_shape]
    else:
        raise UserError("give data (for the windows) or input_shape")
    dtype = dtype or next(ann.parameters()).dtype
    layers = _group(ann, shape)
    network = build_network(mapped_spec(layers, shape)).to(dtype)
    with torch.no_grad():
        for layer, tl in zip(layers, ttfs_layers(network)):
            w, b = _fused(layer)
            conn_w = [m for m in tl.conn.layers if isinstance(m, (nn.Linear, nn.Conv2d))][0]
            conn_w.weight.copy_(w.to(dtype))
            tl.node.bias = nn.Parameter(b.to(dtype))
    if data is not None:
        calibrate_windows(network, data, margin=margin, batch_size=batch_size)
    return network
