"""The ReLU ANNs of the conversion papers (their builders, :data:`ANNS`), and save/load.

By default the networks follow Diehl et al. (2015): ``bias=False`` everywhere, a ReLU
after every weighted layer *including the output*, dropout, and weights drawn uniformly
from ``[-0.1, 0.1]``. They take images ``[B, C, H, W]`` and return ``[B, n_classes]``
class scores (non-negative with the output ReLU). Every builder also takes ``bias=True``
(biases, drawn like the weights) and ``output_relu=False`` (plain linear output), e.g. for
the TTFS paper's FC2 ReLU net. ``vgg`` (``28x28-16c3-16c3-P2-32c3-32c3-P2-128-10``: blocks of
two 3x3 convolutions, padding 1, with 2x2 max-pooling after each block) is the ReLU twin of
the TTFS ``vgg`` net: its layout equals :data:`snnsim.methods.ttfs.VGG_FEATURES` /
``VGG_HIDDEN`` (a test keeps the two in step; the training layer cannot import a method).

Training lives in :mod:`snnsim.training.ann` (which re-exports everything here), so that the
trainer's rule (:mod:`snnsim.training.ann_rule`) can build and save ANNs without a cycle.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from snnsim.argcheck import as_path
from snnsim.core import schema
from snnsim.core.checks import check_finite
from snnsim.core.io import load_tensors, read_sealed, state_dict_mismatch, tensor_bytes, write_sealed
from snnsim.errors import UserError, UserTypeError
from snnsim.limits import check_allocation, module_bytes

ANN_CONFIG = "ann.json"
#: ``ann.json`` as :func:`save_ann` writes it (``files``/``sha256``: the seal of :func:`snnsim.core.io.write_sealed`)
ANN_CONFIG_SCHEMA = schema.closed_object(
    {
        "format": {},
        "files": {"type": "object"},
        "sha256": {"type": "string"},
        "extra": {"type": "object"},
        "net": {"type": "string"},
        "input_shape": schema.shape(),
        "n_classes": schema.integer(2),
        "dropout": schema.number(minimum=0, exclusive_maximum=1),
        "options": schema.closed_object(
            {
                "hidden": {"type": "array", "items": schema.integer(1)},
                "bias": schema.boolean(),
                "output_relu": schema.boolean(),
            }
        ),
    },
    required=["format", "net", "input_shape", "n_classes"],
)
ANN_WEIGHTS = "ann.pt"
ANN_FORMAT = "snnsim-ann"
INIT_RANGE = 0.1  # weights ~ U[-0.1, 0.1] (Diehl et al. 2015)


class ANN(nn.Sequential):
    """An ``nn.Sequential`` that remembers how it was built (``net``, ``input_shape``,
    ``n_classes``, ``dropout``), so that :func:`save_ann` can write it out."""

    def __init__(
        self,
        *layers: nn.Module,
        net: str,
        input_shape: Sequence[int],
        n_classes: int,
        dropout: float,
        options: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(*layers)
        self.net = net
        self.input_shape = tuple(int(d) for d in input_shape)
        self.n_classes = int(n_classes)
        self.dropout = float(dropout)
        self.options = dict(options or {})  # further builder keyword arguments (e.g. fc's hidden)

    def config(self) -> dict[str, Any]:
        return {
            "net": self.net,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "dropout": self.dropout,
            "options": dict(self.options),
        }


def _check_args(input_shape: Sequence[int], n_classes: int, dropout: float, conv: bool) -> tuple[int, ...]:
    shape = tuple(int(d) for d in input_shape)
    if (conv and len(shape) != 3) or not shape or min(shape) < 1:
        want = "(C, H, W)" if conv else "positive dimensions"
        raise UserError(f"input_shape must be {want}, got {tuple(input_shape)}")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise UserError(f"n_classes must be an int >= 2, got {n_classes!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise UserError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return shape


def init_uniform(model: nn.Module, bound: float = INIT_RANGE, generator: Optional[torch.Generator] = None) -> nn.Module:
    """Draw every Linear/Conv2d weight (and bias, if any) from U[-bound, bound] in place."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                for p in m.parameters():
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
    return model


def _head(n_in: int, n_classes: int, bias: bool, output_relu: bool) -> list[nn.Module]:
    """The output layer: Linear, then ReLU if ``output_relu``."""
    return [nn.Linear(n_in, n_classes, bias=bias)] + ([nn.ReLU()] if output_relu else [])


def _conv_stack(
    net: str,
    blocks: Sequence[tuple[int, int]],
    hidden: Sequence[int],
    input_shape: Sequence[int],
    n_classes: int,
    dropout: float,
    bias: bool,
    output_relu: bool,
) -> ANN:
    shape = _check_args(input_shape, n_classes, dropout, conv=True)
    c, h, w = shape
    layers: list[nn.Module] = []
    for channels, kernel in blocks:
        layers += [nn.Conv2d(c, channels, kernel, bias=bias), nn.ReLU(), nn.AvgPool2d(2)]
        c, h, w = channels, (h - kernel + 1) // 2, (w - kernel + 1) // 2
        if min(h, w) < 1:
            raise UserError(f"input_shape {shape} is too small for the {net} network")
    layers.append(nn.Flatten())
    n_in = c * h * w
    for n in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(n_in, n, bias=bias), nn.ReLU()]
        n_in = n
    layers += [nn.Dropout(dropout), *_head(n_in, n_classes, bias, output_relu)]
    return init_uniform(
        ANN(
            *layers,
            net=net,
            input_shape=shape,
            n_classes=n_classes,
            dropout=dropout,
            options={"bias": bias, "output_relu": output_relu},
        )
    )


def _check_flags(bias: object, output_relu: object) -> tuple[bool, bool]:
    if not isinstance(bias, bool) or not isinstance(output_relu, bool):
        raise UserTypeError(f"bias and output_relu must be bools, got {bias!r}, {output_relu!r}")
    return bias, output_relu


def ann_fc(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    dropout: float = 0.5,
    hidden: Sequence[int] = (1200, 1200),
    *,
    bias: bool = False,
    output_relu: bool = True,
) -> ANN:
    """FC net ``prod(input_shape)-hidden...-n_classes`` (default Diehl et al.'s
    784-1200-1200-10): ``[B, *input_shape] -> [B, n_classes]``. ``bias``: biases in every
    Linear; ``output_relu``: a ReLU after the last Linear."""
    bias, output_relu = _check_flags(bias, output_relu)
    shape = _check_args(input_shape, n_classes, dropout, conv=False)
    sizes = [int(n) for n in hidden]
    if any(n < 1 for n in sizes):
        raise UserError(f"hidden sizes must be >= 1, got {list(hidden)}")
    n_in = math.prod(shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for n in sizes:
        layers += [nn.Linear(n_in, n, bias=bias), nn.ReLU(), nn.Dropout(dropout)]
        n_in = n
    layers += _head(n_in, n_classes, bias, output_relu)
    return init_uniform(
        ANN(
            *layers,
            net="fc",
            input_shape=shape,
            n_classes=n_classes,
            dropout=dropout,
            options={"hidden": sizes, "bias": bias, "output_relu": output_relu},
        )
    )


def ann_scnn(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    dropout: float = 0.5,
    *,
    bias: bool = False,
    output_relu: bool = True,
) -> ANN:
    """Diehl et al. CNN 28x28-12c5-2a-64c5-2a-10 (a = average pooling); ``bias`` and
    ``output_relu`` as in :func:`ann_fc`."""
    bias, output_relu = _check_flags(bias, output_relu)
    return _conv_stack("scnn", [(12, 5), (64, 5)], [], input_shape, n_classes, dropout, bias, output_relu)


def ann_lenet(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    dropout: float = 0.5,
    *,
    bias: bool = False,
    output_relu: bool = True,
) -> ANN:
    """LeNet of Lee et al. (2020): 28x28-20c5-AP2-50c5-AP2-200-10; ``bias`` and
    ``output_relu`` as in :func:`ann_fc`."""
    bias, output_relu = _check_flags(bias, output_relu)
    return _conv_stack("lenet", [(20, 5), (50, 5)], [200], input_shape, n_classes, dropout, bias, output_relu)


#: Conv channels, or "M" for a 2x2 max-pool (as the TTFS builder's ``VGG_FEATURES``).
VGG_FEATURES: tuple[Union[int, str], ...] = (16, 16, "M", 32, 32, "M")
VGG_HIDDEN: tuple[int, ...] = (128,)


def _features(c: int, h: int, w: int, bias: bool) -> tuple[list[nn.Module], int]:
    """The conv/pool part for ``[B, c, h, w]`` inputs; returns (layers, flattened size)."""
    layers: list[nn.Module] = []
    for f in VGG_FEATURES:
        if f == "M":
            if min(h, w) < 2:
                raise UserError(f"input_shape {(c, h, w)} is too small for the vgg network")
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        else:
            layers += [nn.Conv2d(c, int(f), 3, padding=1, bias=bias), nn.ReLU()]
            c = int(f)
    return layers, c * h * w


def ann_vgg(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    dropout: float = 0.5,
    *,
    bias: bool = False,
    output_relu: bool = True,
) -> ANN:
    """VGG-style net (module docstring): ``[B, C, H, W] -> [B, n_classes]``; ``bias`` and
    ``output_relu`` as in :func:`snnsim.training.ann.ann_fc` (defaults: Diehl et al.'s
    conventions, no biases, ReLU on the output, weights ~ U[-0.1, 0.1])."""
    bias, output_relu = _check_flags(bias, output_relu)
    shape = _check_args(input_shape, n_classes, dropout, conv=True)
    layers, n_in = _features(*shape, bias=bias)
    layers.append(nn.Flatten())
    for n in VGG_HIDDEN:
        layers += [nn.Dropout(dropout), nn.Linear(n_in, n, bias=bias), nn.ReLU()]
        n_in = n
    layers += [nn.Dropout(dropout), *_head(n_in, n_classes, bias, output_relu)]
    return init_uniform(
        ANN(
            *layers,
            net="vgg",
            input_shape=shape,
            n_classes=n_classes,
            dropout=dropout,
            options={"bias": bias, "output_relu": output_relu},
        )
    )


ANNS: dict[str, Callable[..., ANN]] = {"fc": ann_fc, "scnn": ann_scnn, "lenet": ann_lenet, "vgg": ann_vgg}


def build_ann(name: str, **kw: Any) -> ANN:
    """Build a named ANN ("fc", "scnn", "lenet")."""
    if name not in ANNS:
        raise UserError(f"unknown ANN {name!r}; known: {sorted(ANNS)}")
    # the weights' size first, measured on torch's meta device (nothing allocated)
    check_allocation(module_bytes(lambda: ANNS[name](**kw)), f"the {name} ANN's weights")
    return ANNS[name](**kw)


# --------------------------------------------------------------------------- save / load
def save_ann(
    model: nn.Module,
    name: Optional[str] = None,
    directory: Union[str, Path, None] = None,
    *,
    input_shape: Optional[Sequence[int]] = None,
    n_classes: Optional[int] = None,
    extra: Optional[dict[str, Any]] = None,
    files: Optional[dict[str, bytes]] = None,
) -> Path:
    """Write ``ann.json`` (net name, input shape, n_classes, dropout) and ``ann.pt``
    (the state_dict) to ``directory``. ``name``/``input_shape``/``n_classes`` default to
    those an :class:`ANN` remembers; ``files``: further files that ``ann.json`` seals with
    ``ann.pt`` (the trainer's ``trainer.pt``). Returns the directory."""
    if directory is None:
        raise UserTypeError("save_ann needs a directory")
    cfg = model.config() if isinstance(model, ANN) else {}
    name = name if name is not None else cfg.get("net")
    if name not in ANNS:
        raise UserError(f"save_ann needs the net name, one of {sorted(ANNS)}; got {name!r}")
    shape = list(input_shape) if input_shape is not None else cfg.get("input_shape")
    classes = n_classes if n_classes is not None else cfg.get("n_classes")
    if shape is None or classes is None:
        raise UserError("give input_shape and n_classes (the model does not record them)")
    directory = as_path(directory, "directory")
    check_finite(model.state_dict(), f"cannot save the ANN to {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    blob = tensor_bytes({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return write_sealed(
        directory / ANN_CONFIG,
        {
            "format": ANN_FORMAT,
            "net": name,
            "input_shape": [int(d) for d in shape],
            "n_classes": int(classes),
            "dropout": float(cfg.get("dropout", 0.5)),
            "options": cfg.get("options", {}),
            "extra": extra or {},
        },
        {ANN_WEIGHTS: blob, **(files or {})},
    )


def load_ann(directory: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> ANN:
    """Rebuild the ANN saved by :func:`save_ann` (eval mode). ``ann.json`` and ``ann.pt``
    are checksum-verified (:func:`snnsim.core.io.read_sealed`): an edited or damaged file is a
    one-line :class:`~snnsim.errors.UserError` naming it."""
    directory = as_path(directory, "directory")
    cfg_path, w_path = directory / ANN_CONFIG, directory / ANN_WEIGHTS
    if not cfg_path.exists() or not w_path.exists():  # a directory or device: read_sealed says which
        raise FileNotFoundError(f"no ANN checkpoint in {directory}: expected {ANN_CONFIG} and {ANN_WEIGHTS}")
    cfg, blobs = read_sealed(cfg_path, ANN_FORMAT, "ANN")
    schema.validate(cfg, ANN_CONFIG_SCHEMA, context=f"{cfg_path}: ")
    if ANN_WEIGHTS not in blobs:
        raise UserError(f"{cfg_path} lists no {ANN_WEIGHTS}")
    schema.validate(cfg["net"], schema.one_of(sorted(ANNS)), "net", context=f"{cfg_path}: ")
    try:
        model = build_ann(
            cfg["net"],
            input_shape=cfg["input_shape"],
            n_classes=int(cfg["n_classes"]),
            dropout=float(cfg.get("dropout", 0.5)),
            **cfg.get("options", {}),
        )
    except TypeError as err:  # an option the net does not take
        raise UserError(f"{cfg_path}: options: {err}") from None
    state = load_tensors(blobs[ANN_WEIGHTS], w_path, map_location)
    if isinstance(state, dict):
        check_finite(state, str(w_path))
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        why = state_dict_mismatch(err)
        raise UserError(f"{w_path} does not fit the {cfg['net']} network described in {cfg_path}: {why}") from None
    return model.eval()
