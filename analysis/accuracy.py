"""Classification results: accuracy vs simulation time, confusion matrix."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.plotting import PathLike, new_figure, save_figure
from snnsim.errors import UserError, UserTypeError

Curve = dict[int, float]


def _curve(value: Mapping[Any, Any], name: str) -> Curve:
    curve: Curve = {}
    for k, v in value.items():
        try:
            step, acc = int(k), float(v)
        except (TypeError, ValueError):
            raise UserError(f"accuracy curve {name!r} must map step -> accuracy, got {k!r}: {v!r}") from None
        if step < 1:
            raise UserError(f"accuracy curve {name!r} has step {step}; steps start at 1")
        curve[step] = acc
    if not curve:
        raise UserError(f"accuracy curve {name!r} is empty")
    return dict(sorted(curve.items()))


def accuracy_curves(value: Any, name: str = "snn") -> dict[str, Curve]:
    """Normalise ``report.json``'s ``accuracy_vs_time`` to ``{run: {step: accuracy}}``.

    Accepts ``{step: acc}`` (one curve, called ``name``) or ``{run: {step: acc}}``; step keys
    may be strings (JSON). Raises ValueError when there is no curve.
    """
    if not isinstance(value, Mapping) or not value:
        raise UserError("no accuracy_vs_time curve (expected {step: accuracy} or {run: {step: accuracy}})")
    if all(isinstance(v, Mapping) for v in value.values()):
        return {str(run): _curve(c, str(run)) for run, c in value.items()}
    return {name: _curve(value, name)}


def plot_accuracy_vs_time(
    curves: Union[Mapping[Any, Any], dict[str, Curve]],
    *,
    log_x: bool = False,
    ann_accuracy: Optional[float] = None,
    dt: Optional[float] = None,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Accuracy (fractions in [0, 1], shown in %) against the number of time steps.

    ``curves``: anything :func:`accuracy_curves` accepts; several runs are overlaid, one
    ``Line2D`` each, labelled with the run name. ``ann_accuracy`` adds a dashed reference
    line; ``log_x`` a logarithmic step axis; ``dt`` (ms) labels the axis in ms instead.
    """
    runs = accuracy_curves(curves)
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    scale = float(dt) if dt else 1.0
    for i, (name, curve) in enumerate(runs.items()):
        steps = np.array(list(curve), dtype=float)
        acc = np.array(list(curve.values()), dtype=float) * 100
        ax.plot(steps * scale, acc, marker="o", ms=3, lw=1.3, color=f"C{i % 10}", label=name, gid=f"run:{name}")
    if ann_accuracy is not None:
        ax.axhline(
            100 * float(ann_accuracy),
            color="black",
            linestyle="--",
            lw=1.0,
            label=f"ANN {100 * float(ann_accuracy):.2f}%",
            gid="ann",
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("time (ms)" if dt else "time steps")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or "accuracy vs simulation time", fontsize=10)
    save_figure(fig, path)
    return fig


def _as_long(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 1:
        raise UserError(f"{name} must be a 1-D sequence of class indices, got shape {list(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise UserTypeError(f"{name} must hold integer class indices, got dtype {t.dtype}")
    return t.long().cpu()


def confusion_matrix(pred: Any, labels: Any, n_classes: int) -> torch.Tensor:
    """Counts ``[n_classes, n_classes]`` (int64): row = true label, column = prediction.

    ``pred``, ``labels``: 1-D integer sequences/tensors ``[N]`` in ``[0, n_classes)``; the
    matrix sums to N and its trace is the number of correct predictions.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise UserError(f"n_classes must be a positive int, got {n_classes!r}")
    p, y = _as_long(pred, "pred"), _as_long(labels, "labels")
    if p.numel() != y.numel():
        raise UserError(f"pred and labels need the same length, got {p.numel()} and {y.numel()}")
    for t, name in ((p, "pred"), (y, "labels")):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_classes):
            raise UserError(f"{name} must lie in [0, {n_classes - 1}], got values in [{int(t.min())}, {int(t.max())}]")
    flat = torch.bincount(y * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def plot_confusion_matrix(
    cm: Any,
    class_names: Optional[Sequence[str]] = None,
    *,
    normalize: bool = False,
    title: Optional[str] = None,
    path: Optional[PathLike] = None,
) -> Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted), counts written
    in the cells for up to 20 classes; ``normalize`` shows each row as fractions."""
    try:
        m = np.asarray(torch.as_tensor(cm).cpu(), dtype=float)
    except (ValueError, TypeError, RuntimeError) as err:  # ragged rows, strings, None...
        raise UserError(f"cm must be a square [n, n] matrix of counts: {str(err).splitlines()[0]}") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise UserError(f"cm must be a square [n, n] matrix, got shape {list(m.shape)}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise UserError("cm must hold finite counts >= 0")
    n = m.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise UserError(f"class_names has {len(names)} names for {n} classes")
    total = m.sum()
    shown = m / np.maximum(m.sum(1, keepdims=True), 1) if normalize else m
    fig = new_figure(1.2 + 0.45 * n + 1.5, 1.2 + 0.45 * n)
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0)
    bar = fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of row" if normalize else "samples")
    if not normalize:
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    if n <= 20:
        top = shown.max() if shown.max() > 0 else 1
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shown[i, j] > 0.6 * top else "black",
                )
    ax.set_xticks(range(n), names, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(m) / total if total else float("nan")
    ax.set_title(title or f"confusion matrix ({int(total)} samples, accuracy {100 * acc:.1f}%)", fontsize=10)
    save_figure(fig, path)
    return fig
