"""ReLU ANNs of the conversion papers (from :mod:`snnsim.training.ann_nets`), a training loop, and save/load.

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
from typing import Any, Optional, Union

import torch
from torch import nn

from snnsim.data.datasets import Dataset, Split
from snnsim.errors import UserError, UserTypeError
from snnsim.names import ANN_LR, MAX_LR, MAX_SEED
from snnsim.progress import progress_line
from snnsim.training.ann_nets import (  # the public names of the ANNs, re-exported
    ANN,
    ANN_CONFIG,
    ANN_CONFIG_SCHEMA,
    ANN_FORMAT,
    ANN_WEIGHTS,
    ANNS,
    INIT_RANGE,
    ann_fc,
    ann_lenet,
    ann_scnn,
    ann_vgg,
    build_ann,
    init_uniform,
    load_ann,
    save_ann,
)
from snnsim.training.ann_rule import ANNRule
from snnsim.training.trainer import TrainConfig, fit

__all__ = [
    "ANN",
    "ANN_CONFIG",
    "ANN_CONFIG_SCHEMA",
    "ANN_FORMAT",
    "ANN_WEIGHTS",
    "ANNS",
    "INIT_RANGE",
    "HistoryRow",
    "ann_accuracy",
    "ann_fc",
    "ann_lenet",
    "ann_scnn",
    "ann_vgg",
    "build_ann",
    "init_uniform",
    "load_ann",
    "save_ann",
    "train_ann",
]


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
