"""``convert``: a ReLU ANN -> a spiking BindsNET Network (weight or threshold balancing).

Every Linear/Conv2d followed by a ReLU becomes a layer of IF neurons (threshold 1,
reset "zero" or "subtract"); pooling between weighted layers becomes ops at the front
of the next connection (``avgpool2d``; ``maxpool2d`` = rate-based max-pooling). The
last layer is a spiking IF layer (argmax of spike counts) when it has a ReLU, and a
non-spiking ``integrator`` (argmax of the accumulated potential) when it outputs raw
logits or when ``output="integrator"``.

Weight balancing scales layer l's weights by ``Lambda_{l-1} / Lambda_l`` and biases
by ``1 / Lambda_l`` (see :mod:`.normalize`). Threshold balancing leaves the weights
as they are and gives layer l the threshold ``Lambda_l / Lambda_{l-1}`` instead (biases
scaled by ``1 / Lambda_{l-1}``): an IF neuron that integrates ``c * I`` and fires at 1
behaves exactly like one that integrates ``I`` and fires at ``1 / c`` (both resets
scale with it), so the two give the same spikes up to float rounding of the products.
For an integrator output the weights stay unscaled: its argmax is scale-invariant.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch
from bindsnet.network import Network
from torch import nn

from snnsim.core.checks import check_finite
from snnsim.core.spec import build_network
from snnsim.errors import UserError, UserTypeError
from snnsim.methods.conversion.blocks import Block, forward_blocks, group_blocks
from snnsim.methods.conversion.graph import trace_chain
from snnsim.methods.conversion.normalize import NORMS, compute_factors, cumulative_scales

RESETS = ("zero", "subtract")
OUTPUTS = ("spiking", "integrator")


@dataclass
class Conversion:
    """The result of :func:`convert`.

    Attributes:
        network: the SNN (built with :func:`snnsim.core.spec.build_network`; save it with
            :func:`snnsim.core.io.save_network`).
        spec: its JSON-ready spec.
        factors: SNN layer name -> normalisation factor (``s_l`` for model, ``lambda_l``
            for data/percentile, 1 for none), in layer order.
        norm: the normalisation used.
        weight_scales: layer -> factor applied to its weights (all 1 with threshold balancing).
        thresholds: layer -> firing threshold (None for an integrator).
        max_activations: layer -> max ANN activation over the data (data/percentile only).
        readout: "spikes" or "voltage" (how to read the output layer).
    """

    network: Network
    spec: dict[str, Any]
    factors: dict[str, float]
    norm: str
    weight_scales: dict[str, float]
    thresholds: dict[str, Optional[float]]
    input_shape: tuple[int, ...]
    readout: str
    threshold_balancing: bool = False
    max_activations: dict[str, float] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        """Names of the converted (non-input) layers, in order."""
        return list(self.factors)


def _infer_input_shape(
    model: nn.Module, blocks: list[Block], data: Optional[torch.Tensor], input_shape: Optional[Sequence[int]]
) -> tuple[int, ...]:
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
    elif getattr(model, "input_shape", None) is not None:
        shape = tuple(int(d) for d in model.input_shape)  # type: ignore[union-attr]
    elif isinstance(data, torch.Tensor) and data.dim() >= 2:
        shape = tuple(int(d) for d in data.shape[1:])
        first = blocks[0].module
        if isinstance(first, nn.Linear) and not blocks[0].pre and math.prod(shape) != first.in_features:
            raise UserError(
                f"data must be [N, {first.in_features}] (or images with {first.in_features} "
                f"values) for this ANN, got {list(data.shape)}"
            )
    elif isinstance(blocks[0].module, nn.Linear) and not blocks[0].pre:
        shape = (int(blocks[0].module.in_features),)
    else:
        raise UserError("cannot infer the input shape of a convolutional ANN: pass input_shape=(C, H, W)")
    if not shape or min(shape) < 1:
        raise UserError(f"input_shape must be positive dimensions, got {shape}")
    return shape


def _check_data(data: Any, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(data, torch.Tensor) or not data.is_floating_point():
        raise UserTypeError(
            f"data must be a float tensor [N, {', '.join(map(str, shape))}], got "
            f"{type(data).__name__ if not isinstance(data, torch.Tensor) else data.dtype}"
        )
    if data.dim() < 2 or data.shape[0] < 1 or data[0].numel() != math.prod(shape):
        raise UserError(f"data must be [N, {', '.join(map(str, shape))}] with N >= 1, got {list(data.shape)}")
    if not torch.isfinite(data).all():
        raise UserError("data contains NaN or inf")
    return data.detach().cpu().float().reshape(data.shape[0], *shape)


@torch.no_grad()
def _check_chain(model: nn.Module, blocks: list[Block], shape: tuple[int, ...]) -> None:
    """The blocks must reproduce the model on a probe input (catches misread reshapes)."""
    probe = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0))
    try:
        try:
            want = model(probe)
        except RuntimeError:
            if not isinstance(blocks[0].module, nn.Linear) or len(shape) == 1:
                raise
            want = model(probe.flatten(1))  # an MLP without Flatten, given images
        got = forward_blocks(blocks, probe)[-1]
    except (RuntimeError, TypeError) as err:
        raise UserError(f"the ANN does not run on inputs of shape {list(shape)} as a chain: {err}") from None
    if not isinstance(want, torch.Tensor) or want.numel() != got.numel():
        raise UserError(f"the ANN's output {getattr(want, 'shape', type(want))} does not match its layer chain")
    want, got = want.reshape(2, -1).double(), got.reshape(2, -1).double()
    tol = 1e-4 * max(1.0, float(want.abs().max()))
    if not torch.allclose(want, got, rtol=1e-4, atol=tol):
        raise UserError(
            "the traced layer chain does not reproduce the ANN's output (max diff "
            f"{float((want - got).abs().max()):.3g}); is a view/reshape other than flatten(1) used?"
        )


def layer_names(blocks: Sequence[Block]) -> list[str]:
    """SNN layer names: conv1, conv2, ..., fc1, ..., and "out" for the last block."""
    names, counts = [], {"conv2d": 0, "linear": 0}
    for b in blocks[:-1]:
        counts[b.kind] += 1
        names.append(f"{'conv' if b.kind == 'conv2d' else 'fc'}{counts[b.kind]}")
    return names + ["out"]


def _check_options(ann: Any, norm: str, reset: str, output: Optional[str], percentile: Any, threshold: Any) -> None:
    """One-line UserError/UserTypeError for a bad argument of :func:`convert`."""
    if norm not in NORMS:
        raise UserError(f"norm must be one of {NORMS}, got {norm!r}")
    if reset not in RESETS:
        raise UserError(f"reset must be one of {RESETS}, got {reset!r}")
    if output is not None and output not in OUTPUTS:
        raise UserError(f"output must be one of {OUTPUTS} or None (automatic), got {output!r}")
    if not isinstance(percentile, (int, float)) or not 0.0 < float(percentile) <= 100.0:
        raise UserError(f"percentile must be a number in (0, 100], got {percentile!r}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not (math.isfinite(threshold) and threshold > 0)
    ):
        raise UserError(f"threshold must be a finite number > 0, got {threshold!r}")
    if not isinstance(ann, nn.Module):
        raise UserTypeError(f"ann must be a torch nn.Module, got {type(ann).__name__}")


@dataclass
class _Layout:
    """The SNN's spec and, per converted layer, the factors applied to the ANN's weights
    and biases and its firing threshold (None for an integrator)."""

    spec: dict[str, Any]
    w_scales: dict[str, float]
    b_scales: dict[str, float]
    thresholds: dict[str, Optional[float]]


def _layout(
    blocks: list[Block],
    names: list[str],
    shape: tuple[int, ...],
    lam: list[float],
    out_kind: str,
    reset: str,
    threshold: float,
    threshold_balancing: bool,
) -> _Layout:
    """Spec, scales and thresholds from the cumulative scales ``lam`` (one per block)."""
    prev = [1.0] + lam[:-1]
    layers: list[dict[str, Any]] = [{"name": "input", "type": "input", "shape": list(shape)}]
    conns, w_scales, b_scales, thresholds = [], {}, {}, {}
    for i, (name, block) in enumerate(zip(names, blocks)):
        last = i == len(blocks) - 1
        integrator = last and out_kind == "integrator"
        if threshold_balancing:
            w_scales[name], b_scales[name] = 1.0, 1.0 / prev[i]
            thresh = threshold * lam[i] / prev[i]
        else:
            w_scales[name], b_scales[name] = prev[i] / lam[i], 1.0 / lam[i]
            thresh = float(threshold)
        if integrator:
            layers.append({"name": name, "type": "integrator"})
            thresholds[name] = None
        else:
            layers.append({"name": name, "type": "if", "thresh": float(thresh), "reset": reset})
            thresholds[name] = float(thresh)
        conns.append({"source": "input" if i == 0 else names[i - 1], "target": name, "ops": block.ops()})
    return _Layout({"dt": 1.0, "layers": layers, "connections": conns}, w_scales, b_scales, thresholds)


@torch.no_grad()
def _copy_weights(network: Network, blocks: list[Block], names: list[str], layout: _Layout) -> None:
    """Each block's weights and bias, scaled (in float64) by the layout's factors, into ``network``."""
    for i, (name, block) in enumerate(zip(names, blocks)):
        src = "input" if i == 0 else names[i - 1]
        target = network.connections[(src, name)].weighted[-1]
        target.weight.copy_((block.module.weight.double() * layout.w_scales[name]).float())
        if block.module.bias is not None:
            target.bias.copy_((block.module.bias.double() * layout.b_scales[name]).float())


def convert(
    ann: nn.Module,
    *,
    norm: str = "data",
    data: Optional[torch.Tensor] = None,
    percentile: float = 99.9,
    reset: str = "zero",
    input_shape: Optional[Sequence[int]] = None,
    threshold_balancing: bool = False,
    output: Optional[str] = None,
    batch_size: int = 500,
    threshold: float = 1.0,
) -> Conversion:
    """Convert a ReLU ``ann`` into an IF spiking network.

    Args:
        norm: "data", "model", "percentile" or "none" (see :mod:`.normalize`).
        data: training inputs ``[N, *input_shape]`` for "data"/"percentile" (a few
            thousand samples are plenty).
        percentile: p for ``norm="percentile"``, in (0, 100].
        reset: "zero" (Diehl et al.) or "subtract" (Rueckauer et al.).
        input_shape: ``(C, H, W)`` or ``(n,)``; default: the model's ``input_shape``
            attribute (:class:`snnsim.training.ann.ANN`), else ``data.shape[1:]``, else the first
            Linear's ``in_features``.
        threshold_balancing: set thresholds instead of scaling weights (same spikes).
        output: "spiking" or "integrator"; default: spiking if the last layer has a ReLU,
            integrator if it outputs logits.
        batch_size: batch size of the activation pass over ``data``.
        threshold: base firing threshold of every IF layer (default 1; threshold balancing
            multiplies it by ``Lambda_l / Lambda_{l-1}``). With ``norm="none"`` this is the
            global threshold that Diehl et al. tuned for their unnormalised baseline.
    The ANN itself is not modified.
    """
    _check_options(ann, norm, reset, output, percentile, threshold)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be an int >= 1, got {batch_size!r}")
    model = copy.deepcopy(ann).cpu().float().eval()
    check_finite({f"ANN tensor {k}": v for k, v in model.state_dict().items()}, "cannot convert the ANN")
    blocks = group_blocks(trace_chain(model))
    shape = _infer_input_shape(model, blocks, data, input_shape)
    if norm in ("data", "percentile") and data is None:
        raise UserError(f"norm={norm!r} needs data=: a tensor [N, {', '.join(map(str, shape))}] of training inputs")
    calib = _check_data(data, shape) if data is not None and norm in ("data", "percentile") else None
    _check_chain(model, blocks, shape)

    factors, maxima = compute_factors(norm, blocks, calib, percentile_p=float(percentile), batch_size=batch_size)
    lam = cumulative_scales(norm, factors)
    names = layer_names(blocks)
    out_kind = output or ("spiking" if blocks[-1].relu else "integrator")
    layout = _layout(blocks, names, shape, lam, out_kind, reset, threshold, threshold_balancing)
    network = build_network(layout.spec)
    _copy_weights(network, blocks, names, layout)
    return Conversion(
        network=network,
        spec=layout.spec,
        factors=dict(zip(names, map(float, factors))),
        norm=norm,
        weight_scales=layout.w_scales,
        thresholds=layout.thresholds,
        input_shape=shape,
        readout="voltage" if out_kind == "integrator" else "spikes",
        threshold_balancing=bool(threshold_balancing),
        max_activations=dict(zip(names, map(float, maxima))),
    )
