"""Learning curves: held-out accuracy per epoch of several runs (``metrics.csv`` of ``snnsim
train``/``train-ann``), grouped by label (e.g. one label per method, one run per seed).

``python -m analysis.learning --runs "spike-BP=R/s0,R/s1" "ANN=R/a0,R/a1" --csv C --png P``
writes every (label, seed, epoch, accuracy) row to ``C`` and the curves to ``P``: each label's
mean over its runs as a line, the range over its runs as a band.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.plotting import PathLike, new_figure, save_figure
from snnsim.errors import UserError

METRICS_FILE = "metrics.csv"
Curve = dict[int, float]


def read_curve(run: Union[str, Path], column: str = "test_accuracy") -> Curve:
    """``{epoch: value}`` of ``column`` in ``run`` (a run directory or its ``metrics.csv``)."""
    path = Path(run)
    path = path / METRICS_FILE if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"{path}: no such metrics file (snnsim train and train-ann write OUT/{METRICS_FILE})")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0] or column not in rows[0]:
        raise UserError(f"{path}: expected a header with 'epoch' and {column!r} and at least one row")
    try:
        return {int(r["epoch"]): float(r[column]) for r in rows}
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: unreadable row ({e})") from None


def learning_curves(
    runs: Mapping[str, Sequence[Union[str, Path]]], column: str = "test_accuracy"
) -> dict[str, list[Curve]]:
    """``{label: [curve of each run]}`` for ``{label: [run, ...]}`` (see :func:`read_curve`)."""
    if not runs or any(not paths for paths in runs.values()):
        raise UserError("learning_curves: give at least one run for every label")
    return {label: [read_curve(p, column) for p in paths] for label, paths in runs.items()}


def write_rows(curves: Mapping[str, Sequence[Curve]], path: PathLike) -> Path:
    """CSV ``run,seed,epoch,test_accuracy``: one row per epoch of every run (``seed``: its index)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["run", "seed", "epoch", "test_accuracy"])
        for label, runs in curves.items():
            for seed, curve in enumerate(runs):
                w.writerows([label, seed, epoch, acc] for epoch, acc in sorted(curve.items()))
    return path


def plot_learning_curves(
    curves: Mapping[str, Sequence[Curve]], *, title: Optional[str] = None, path: Optional[PathLike] = None
) -> Figure:
    """Accuracy (fractions, shown in %) against the epoch: per label, the mean over its runs
    (a line with markers) and the range over its runs (a band), on the epochs all its runs have."""
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    for label, runs in curves.items():
        epochs = sorted(set.intersection(*(set(c) for c in runs)))
        if not epochs:
            raise UserError(f"plot_learning_curves: the runs of {label!r} share no epoch")
        acc = 100 * np.array([[c[e] for e in epochs] for c in runs])
        (line,) = ax.plot(epochs, acc.mean(0), marker="o", label=f"{label} ({len(runs)} run(s))")
        if len(runs) > 1:
            ax.fill_between(epochs, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out accuracy (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    save_figure(fig, path)
    return fig


def _parse_runs(specs: Sequence[str]) -> dict[str, list[str]]:
    runs: dict[str, list[str]] = {}
    for spec in specs:
        label, sep, paths = spec.partition("=")
        if not sep or not label or not paths:
            raise UserError(f"--runs takes LABEL=RUN[,RUN...], got {spec!r}")
        runs.setdefault(label, []).extend(p for p in paths.split(",") if p)
    return runs


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description="Learning curves of several runs (their metrics.csv), grouped by label.")
    p.add_argument(
        "--runs", nargs="+", required=True, metavar="LABEL=RUN[,RUN...]", help="runs (dirs or CSVs) per label"
    )
    p.add_argument("--csv", type=Path, help="write every run's rows here")
    p.add_argument("--png", type=Path, help="write the plot here")
    p.add_argument("--title")
    args = p.parse_args(argv)
    curves = learning_curves(_parse_runs(args.runs))
    for label, runs in curves.items():
        last = [c[max(c)] for c in runs]
        print(f"{label}: last epoch {', '.join(f'{100 * a:.2f}%' for a in last)} (mean {100 * np.mean(last):.2f}%)")
    if args.csv:
        print(f"-> {write_rows(curves, args.csv)}")
    if args.png:
        plot_learning_curves(curves, title=args.title, path=args.png)
        print(f"-> {args.png}")


if __name__ == "__main__":
    main()
