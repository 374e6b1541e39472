"""ReLU ANNs of the conversion papers, a training loop, and save/load.

By default the networks follow Diehl et al. (2015): ``bias=False`` everywhere, a ReLU
after every weighted layer *including the output*, dropout, and weights drawn uniformly
from ``[-0.1, 0.1]``. They take images ``[B, C, H, W]`` and return ``[B, n_classes]``
class scores (non-negative with the output ReLU), trained with cross-entropy on those
scores. Every builder also takes ``bias=True`` (biases, drawn like the weights) and
``output_relu=False`` (plain linear output), e.g. for the TTFS paper's FC2 ReLU net.

>>> model = ann_fc()                      # 784-1200-1200-10
>>> fc2 = ann_fc(hidden=(340,), bias=True, output_relu=False)   # 784-340-10 (TTFS --from-relu)
>>> history = train_ann(model, data.train, epochs=2)
>>> ann_accuracy(model, data.test)
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from snnsim.argcheck import as_path
from snnsim.core import schema
from snnsim.core.checks import check_finite
from snnsim.core.io import load_tensors, read_sealed, state_dict_mismatch, tensor_bytes, write_sealed
from snnsim.data.datasets import Split
from snnsim.errors import UserError, UserTypeError
from snnsim.limits import check_allocation, module_bytes
from snnsim.names import ANN_LR, MAX_LR, MAX_SEED
from snnsim.progress import progress_line
from snnsim.training.ann_vgg import ann_vgg

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


ANNS: dict[str, Callable[..., ANN]] = {"fc": ann_fc, "scnn": ann_scnn, "lenet": ann_lenet, "vgg": ann_vgg}


def build_ann(name: str, **kw: Any) -> ANN:
    """Build a named ANN ("fc", "scnn", "lenet")."""
    if name not in ANNS:
        raise UserError(f"unknown ANN {name!r}; known: {sorted(ANNS)}")
    # the weights' size first, measured on torch's meta device (nothing allocated)
    check_allocation(module_bytes(lambda: ANNS[name](**kw)), f"the {name} ANN's weights")
    return ANNS[name](**kw)


# --------------------------------------------------------------------------- training
def _check_split(split: Split, name: str) -> None:
    if not isinstance(split, Split):
        raise UserTypeError(f"{name} must be a snnsim.data.datasets.Split, got {type(split).__name__}")
    if len(split) == 0:
        raise UserError(f"{name} is empty")


def _check_fits(model: nn.Module, split: Split, name: str) -> None:
    """``model`` is a module that takes ``split``'s samples and labels (an :class:`ANN` knows its
    input shape and classes)."""
    if not isinstance(model, nn.Module):
        raise UserTypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
    if isinstance(model, ANN):
        if tuple(split.x.shape[1:]) != tuple(model.input_shape):
            raise UserError(
                f"{name} holds samples of shape {list(split.x.shape[1:])}, the {model.net} ANN takes "
                f"{list(model.input_shape)}"
            )
        if len(split) and not 0 <= int(split.y.min()) <= int(split.y.max()) < model.n_classes:
            raise UserError(
                f"{name} has labels in [{int(split.y.min())}, {int(split.y.max())}], the ANN has "
                f"{model.n_classes} classes"
            )


@torch.no_grad()
def ann_accuracy(
    model: nn.Module, split: Split, *, batch_size: int = 500, device: Union[str, torch.device] = "cpu"
) -> float:
    """Fraction of ``split`` whose argmax output equals the label (model in eval mode)."""
    _check_split(split, "split")
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in split.batches(batch_size):
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    model.train(was_training)
    return correct / len(split)


def _check_train_args(
    dataset_split: Split,
    val_split: Optional[Split],
    epochs: Any,
    lr: Any,
    seed: Any,
    batch_size: Any,
    optimizer: Any,
    momentum: Any,
) -> None:
    """One-line UserError for a bad argument of :func:`train_ann`."""
    _check_split(dataset_split, "dataset_split")
    if val_split is not None:
        _check_split(val_split, "val_split")
    if not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"epochs must be an int >= 1, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= MAX_LR):
        raise UserError(f"lr must be a number in (0, {MAX_LR:g}], got {lr!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise UserError(f"seed must be an int in [0, 2**32), got {seed!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if optimizer not in ("adam", "sgd"):
        raise UserError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
        raise UserError(f"momentum must be in [0, 1), got {momentum!r}")


class HistoryRow(dict):
    """One epoch of :func:`train_ann`'s history, with the keys of the shared trainer's history
    (:func:`snnsim.training.trainer.fit`). The names of snnsim 0.2.0, ``loss`` (now
    ``train_loss``) and ``val_accuracy`` (now ``test_accuracy``), still read, with a warning."""

    OLD_NAMES = {"loss": "train_loss", "val_accuracy": "test_accuracy"}

    def __missing__(self, key: str) -> Any:
        new = self.OLD_NAMES.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warnings.warn(
            f"train_ann's history key {key!r} is now {new!r} (the trainer's history); the old name will "
            "be removed in the next release",
            FutureWarning,
            stacklevel=2,
        )
        return self[new]


def train_ann(
    model: nn.Module,
    dataset_split: Split,
    *,
    epochs: int,
    lr: float = ANN_LR,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    verbose: bool = True,
    val_split: Optional[Split] = None,
    device: Union[str, torch.device] = "cpu",
    optimizer: str = "adam",
    momentum: float = 0.5,
) -> list[dict[str, float]]:
    """Train ``model`` with Adam (or SGD) and cross-entropy on its outputs, through the shared
    trainer :func:`snnsim.training.trainer.fit` (rule :class:`snnsim.training.ann_rule.ANNRule`).

    Args:
        dataset_split: training images ``x [N, C, H, W]`` and labels ``y [N]``.
        epochs: passes over the data (epoch ``e`` shuffled and its dropout masks drawn with
            generators seeded by ``seed * 1000 + e``, as every rule's).
        optimizer: ``"adam"`` or ``"sgd"`` (with ``momentum``; Diehl et al. used SGD with
            lr 1 and momentum 0.5).
        val_split: optional held-out split, evaluated after every epoch.
        progress: progress bars (drawn only on a terminal, see :mod:`snnsim.progress`).
        verbose: print one summary line per epoch (loss, accuracy) to stdout.
    Returns one :class:`HistoryRow` per epoch: ``epoch``, ``train_loss`` (mean training loss),
    ``train_accuracy`` (on the fly, with dropout), ``lr``, ``seconds`` and, with ``val_split``,
    ``test_accuracy``. The model is left in eval mode. For resume, schedules, early stopping
    and checkpoints call ``fit`` with the rule (as ``snnsim train-ann`` does).
    """
    from snnsim.data.datasets import Dataset
    from snnsim.training.ann_rule import ANNRule
    from snnsim.training.trainer import TrainConfig, fit

    _check_train_args(dataset_split, val_split, epochs, lr, seed, batch_size, optimizer, momentum)
    _check_fits(model, dataset_split, "dataset_split")
    held_out = val_split if val_split is not None else dataset_split  # fit measures one every epoch
    n_classes = getattr(model, "n_classes", int(dataset_split.y.max()) + 1)
    data = Dataset("train_ann", dataset_split, held_out, n_classes, tuple(dataset_split.x.shape[1:]))
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=float(lr),
        optimizer=optimizer,
        momentum=float(momentum),
        seed=seed,
        eval_batch_size=500,
    )
    model, summary = fit(
        ANNRule.for_model(model),
        model,
        data,
        cfg,
        device=device,
        progress=progress,
        verbose=verbose and val_split is not None,
    )
    history = [HistoryRow(row) for row in summary["history"]]
    for row in history:
        if val_split is None:  # the held-out figure was the training split's
            del row["test_accuracy"]
            if verbose:
                progress_line(
                    f"ANN epoch {row['epoch']}: loss {row['train_loss']:.4f}, "
                    f"train {row['train_accuracy']:.4f} ({row['seconds']:.1f} s)"
                )
    _warn_if_dead(model, dataset_split, device)
    return history


@torch.no_grad()
def _warn_if_dead(model: nn.Module, split: Split, device: Union[str, torch.device], n: int = 500) -> None:
    """Warn when every output is 0 on the first ``n`` training samples: the output ReLUs
    died during training and the ANN predicts one class for everything."""
    out = model(split.x[:n].to(device))
    if isinstance(out, torch.Tensor) and out.numel() and not bool(out.ne(0).any()):
        warnings.warn(
            "every output of the trained ANN is 0 on the training data (the output ReLUs died), so it "
            "predicts one class for all inputs; lower the learning rate or build the net without the "
            "output ReLU (output_relu=False, --no-output-relu)",
            RuntimeWarning,
            stacklevel=3,
        )


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
