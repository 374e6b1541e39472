"""``snnsim convert``: ANN-to-SNN conversion with one or all normalisations, evaluated.

Takes a trained ANN (``--ann DIR`` from ``snnsim train-ann``) or trains one first
(``--net fc|scnn|lenet --epochs N``), converts it with each normalisation asked for,
simulates every SNN on the held-out split and writes to ``--out``:

- ``report.json``: ``ann_accuracy``, and per norm ``snn_accuracy``, ``accuracy_vs_time``
  (``{norm: {step: acc}}`` at log-spaced steps), ``norm_factors``, ``spikes_per_neuron``,
  ``samples_per_s``, ``steps_to_90pct`` (first step reaching 90% of the norm's final
  accuracy), ``steps_to_90pct_of_ann`` and ``steps_to_99pct_of_ann`` (None: never);
- ``accuracy_vs_time.png``: accuracy vs simulation steps per norm, ANN dashed;
- ``snn/``: the SNN of the best norm (``snnsim simulate --checkpoint OUT/snn``);
- ``record.pt``: spikes/potentials of 4 samples of the best norm (as ``simulate`` writes).

``--tune-none`` adds Diehl et al.'s baseline: the unnormalised net at the global threshold
and input rate that a grid search finds best on the held-out split (curve ``none-tuned``;
``report.json`` ``none_tuned`` has the grid, ``tune_grid.png`` shows it).

Data/percentile normalisation use up to ``--calib-samples`` (default 2,000) training
images drawn with a permutation seeded by ``--seed``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import matplotlib.pyplot as plt
import torch

from analysis import confusion_matrix, save_record
from snnsim.cli.common import (
    EncoderChoice,
    load_data,
    make_encoder,
    out_dir,
    print_written,
    setup_run,
    threads_info,
    train_from_args,
    write_report,
)
from snnsim.cli.parsers import TUNED
from snnsim.core.io import save_network
from snnsim.engine.evaluate import Evaluation, evaluate, first_step_reaching, log_steps
from snnsim.errors import UserError
from snnsim.methods.conversion import NORMS, convert
from snnsim.methods.conversion.baseline import DEFAULT_MAX_RATES, BaselineSearch, tune_unnormalised
from snnsim.training.ann import ann_accuracy, load_ann, save_ann

NAME = "convert"
NORM_ORDER: tuple[str, ...] = tuple(NORMS)  # none, model, data, percentile


def plot_curves(curves: dict[str, dict[int, float]], ann_acc: float, title: str, path: Path) -> None:
    """Accuracy vs simulation steps (log x axis) per norm, ANN accuracy dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for norm, curve in curves.items():
        steps = sorted(curve)
        ax.plot(steps, [100 * curve[s] for s in steps], label=norm)
    ax.axhline(100 * ann_acc, color="k", ls="--", lw=1, label=f"ANN ({100 * ann_acc:.2f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("simulation steps (dt = 1 ms)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="normalisation", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_grid(search: BaselineSearch, title: str, path: Path) -> None:
    """Heatmap of the search: accuracy per (threshold, rate), with steps to 90% of it;
    ``*`` marks the chosen pair."""
    ths = sorted({p.threshold for p in search.points})
    rates = sorted({p.max_rate for p in search.points}, key=lambda r: -1.0 if r is None else r)
    acc = torch.full((len(ths), len(rates)), float("nan"))
    for p in search.points:
        acc[ths.index(p.threshold), rates.index(p.max_rate)] = 100 * p.accuracy
    lo, hi = float(acc.nan_to_num(100).min()), float(acc.nan_to_num(0).max())
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rates), 1.4 + 0.45 * len(ths)))
    im = ax.imshow(acc.numpy(), cmap="viridis", aspect="auto", vmin=lo, vmax=max(hi, lo + 1e-6))
    for p in search.points:
        mark = " *" if p is search.best else ""
        dark = 100 * p.accuracy < (lo + hi) / 2
        ax.text(
            rates.index(p.max_rate),
            ths.index(p.threshold),
            f"{100 * p.accuracy:.2f}%{mark}\n{p.steps_to_90pct or '-'} steps",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if dark else "black",
        )
    ax.set_xticks(range(len(rates)), ["-" if r is None else f"{r:g}" for r in rates])
    ax.set_yticks(range(len(ths)), [f"{t:g}" for t in ths])
    ax.set_xlabel("input rate (Hz)")
    ax.set_ylabel("threshold")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _tune(
    args: argparse.Namespace, model: torch.nn.Module, data: Any, output: Optional[str], encoding: EncoderChoice
) -> BaselineSearch:
    """The search on the held-out split; Poisson input (seeded by --seed) at each rate, or
    the --encoder without a rate (thresholds only)."""
    poisson = encoding.name == "poisson"
    return tune_unnormalised(
        model,
        data.test,
        args.timesteps,
        thresholds=args.tune_thresholds,
        max_rates=(args.tune_rates or DEFAULT_MAX_RATES) if poisson else (None,),
        make_encoder=None if poisson else (lambda _rate: make_encoder(encoding, args.seed, args.device)),
        reset=args.reset,
        output=output,
        input_shape=data.input_shape,
        engine=args.engine,
        batch_size=args.batch_size,
        device=args.device,
        seed=args.seed,
        progress=not args.no_progress,
    )


def _get_ann(args: argparse.Namespace, data: Any, out: Path) -> tuple[torch.nn.Module, str, dict[str, Any]]:
    if args.ann is not None:
        model = load_ann(args.ann)
        shape = list(getattr(model, "input_shape", data.input_shape))
        if shape != list(data.input_shape):
            raise UserError(
                f"the ANN in {args.ann} expects inputs {shape}, dataset {args.dataset} gives {list(data.input_shape)}"
            )
        if getattr(model, "n_classes", data.num_classes) != data.num_classes:
            raise UserError(
                f"the ANN in {args.ann} has {model.n_classes} classes, dataset {args.dataset} has {data.num_classes}"
            )
        return model, model.net, {"ann": str(args.ann)}
    try:
        model, history, acc = train_from_args(args, data, args.train_batch_size)
    except ValueError as err:
        raise UserError(f"cannot build/train {args.net} on {args.dataset}: {err}") from None
    save_ann(model, args.net, out / "ann", extra={"dataset": args.dataset, "epochs": args.epochs})
    return model, args.net, {"ann": str(out / "ann"), "ann_history": history}


def _encoding(args: argparse.Namespace) -> EncoderChoice:
    """--encoder and --max-rate checked (convert offers no --prob-scale)."""
    if args.encoder == "current" and args.max_rate is not None:
        raise UserError("--max-rate applies to --encoder poisson only")
    if args.encoder != "poisson" and args.tune_rates is not None:
        raise UserError("--tune-rates applies to --encoder poisson only")
    return EncoderChoice(args.encoder, max_rate=args.max_rate)


def _calibration_images(args: argparse.Namespace, data: Any) -> torch.Tensor:
    """Up to --calib-samples training images, drawn by a permutation seeded by --seed."""
    n_calib = min(args.calib_samples, len(data.train))
    perm = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(args.seed))
    return data.train.x[perm[:n_calib]]


@dataclass
class _Runs:
    """Per curve (a norm, or the tuned baseline): its evaluation, conversion and accuracy
    against steps, in the order run."""

    results: dict[str, Evaluation] = field(default_factory=dict)
    conversions: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, name: str, res: Evaluation, conv: Any) -> None:
        self.results[name], self.conversions[name], self.curves[name] = res, conv, res.accuracy_vs_time


def _convert_norms(
    args: argparse.Namespace,
    model: torch.nn.Module,
    data: Any,
    norms: list[str],
    calib: torch.Tensor,
    encoding: EncoderChoice,
    output: Optional[str],
    ann_acc: float,
) -> _Runs:
    """Convert ``model`` with each norm and simulate every SNN on the held-out split."""
    runs = _Runs()
    steps = list(range(1, args.timesteps + 1))
    for norm in norms:
        t0 = time.perf_counter()
        conv = convert(
            model,
            norm=norm,
            data=calib if norm in ("data", "percentile") else None,
            percentile=args.percentile,
            reset=args.reset,
            input_shape=data.input_shape,
            threshold_balancing=args.threshold_balancing,
            output=output,
            threshold=args.threshold,
        )
        t_conv = time.perf_counter() - t0
        res = evaluate(
            conv.network,
            data.test,
            make_encoder(encoding, args.seed, args.device),
            args.timesteps,
            engine=args.engine,
            batch_size=args.batch_size,
            readout=conv.readout,
            steps=steps,
            device=args.device,
            progress=not args.no_progress,
            keep_first_batch=4,
        )
        conv.network.to("cpu")
        runs.add(norm, res, conv)
        print(
            f"norm {norm:>10}: SNN accuracy {res.accuracy:.4f} (ANN {ann_acc:.4f}) at T={args.timesteps}, "
            f"{res.samples_per_s:.1f} samples/s, conversion {t_conv:.2f} s"
        )
    return runs


def _best_norm(norms: list[str], runs: _Runs, timesteps: int) -> str:
    """The most accurate norm; ties: the one reaching 90% of its accuracy first."""

    def rank(norm: str) -> tuple[float, float]:
        reach = first_step_reaching(runs.curves[norm], 0.9 * runs.results[norm].accuracy) or timesteps
        return runs.results[norm].accuracy, -reach

    return max(norms, key=rank)


def _plot(
    args: argparse.Namespace, runs: _Runs, search: Optional[BaselineSearch], net_name: str, ann_acc: float, out: Path
) -> None:
    """accuracy_vs_time.png, and tune_grid.png with --tune-none."""
    enc = f"Poisson {args.max_rate or 1000.0:g} Hz" if args.encoder == "poisson" else "constant current"
    labels = {n: n for n in runs.curves}
    if search is not None:
        b = search.best
        labels[TUNED] = f"{TUNED} ({b.threshold:g}" + ("" if b.max_rate is None else f", {b.max_rate:g} Hz") + ")"
        plot_grid(search, f"unnormalised {net_name}, reset {args.reset}, T = {args.timesteps}", out / "tune_grid.png")
    plot_curves(
        {labels[n]: c for n, c in runs.curves.items()},
        ann_acc,
        f"{net_name} on {args.dataset}: {enc}, reset {args.reset}",
        out / "accuracy_vs_time.png",
    )


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    encoding = _encoding(args)
    out = out_dir(args.out)
    data = load_data(args)
    model, net_name, ann_info = _get_ann(args, data, out)
    ann_acc = ann_accuracy(model, data.test)
    norms = list(NORM_ORDER) if args.norm == "all" else [args.norm]
    calib = _calibration_images(args, data)
    output = None if args.output == "auto" else args.output
    runs = _convert_norms(args, model, data, norms, calib, encoding, output, ann_acc)
    search = None
    if args.tune_none:
        search = _tune(args, model, data, output, encoding)
        b = search.best
        runs.add(TUNED, b.evaluation, search.conversion)
        rate = "" if b.max_rate is None else f", {b.max_rate:g} Hz"
        print(
            f"norm {TUNED:>10}: SNN accuracy {b.accuracy:.4f} at threshold {b.threshold:g}{rate} "
            f"(best of {len(search.points)} pairs on the held-out split)"
        )
    best = _best_norm(norms, runs, args.timesteps)
    conv = runs.conversions[best]
    snn_dir = save_network(
        conv.network,
        out / "snn",
        extra={
            "net": net_name,
            "norm": best,
            "factors": conv.factors,
            "readout": conv.readout,
            "reset": args.reset,
            "threshold_balancing": args.threshold_balancing,
            "ann_accuracy": ann_acc,
            "snn_accuracy": runs.results[best].accuracy,
            "source": "snnsim convert",
        },
    )
    rec, labels = runs.results[best].first_batch, runs.results[best].first_labels
    assert rec is not None
    save_record(out / "record.pt", rec, labels)
    _plot(args, runs, search, net_name, ann_acc, out)
    report = _report(args, data, runs, search, best, ann_acc, net_name, ann_info, len(calib), snn_dir)
    write_report(out, report)
    print(f"best norm {best}: {runs.results[best].accuracy:.4f}")
    written = ["report.json", "record.pt", "accuracy_vs_time.png"] + (["tune_grid.png"] if search else [])
    print_written(out, [out / f for f in written] + [snn_dir] + ([out / "ann"] if args.ann is None else []))
    return 0


def _report(
    args: argparse.Namespace,
    data: Any,
    runs: _Runs,
    search: Optional[BaselineSearch],
    best: str,
    ann_acc: float,
    net_name: str,
    ann_info: dict[str, Any],
    n_calib: int,
    snn_dir: Path,
) -> dict[str, Any]:
    """report.json's content (see the module docstring)."""
    results, conversions, curves = runs.results, runs.conversions, runs.curves
    conv = conversions[best]
    report_steps = log_steps(args.timesteps)
    return {
        "command": NAME,
        "net": net_name,
        **ann_info,
        "dataset": args.dataset,
        "train_samples": len(data.train),
        "samples": len(data.test),
        "calib_samples": n_calib,
        "encoder": args.encoder,
        "max_rate": (args.max_rate or 1000.0) if args.encoder == "poisson" else None,
        "timesteps": args.timesteps,
        "reset": args.reset,
        "engine": args.engine,
        "threshold": args.threshold,
        "output": "integrator" if conv.readout == "voltage" else "spiking",
        "threshold_balancing": args.threshold_balancing,
        "percentile": args.percentile,
        "seed": args.seed,
        "ann_accuracy": ann_acc,
        "snn_accuracy": {n: r.accuracy for n, r in results.items()},
        "accuracy_vs_time": {n: {str(s): curves[n][s] for s in report_steps} for n in results},
        "norm_factors": {n: c.factors for n, c in conversions.items()},
        "thresholds": {n: c.thresholds for n, c in conversions.items()},
        "max_activations": {n: c.max_activations for n, c in conversions.items() if c.max_activations},
        "spikes_per_neuron": {n: r.spikes_per_neuron for n, r in results.items()},
        "samples_per_s": {n: r.samples_per_s for n, r in results.items()},
        "steps_to_90pct": {n: first_step_reaching(curves[n], 0.9 * r.accuracy) for n, r in results.items()},
        "steps_to_90pct_of_ann": {n: first_step_reaching(curves[n], 0.9 * ann_acc) for n in results},
        "steps_to_99pct_of_ann": {n: first_step_reaching(curves[n], 0.99 * ann_acc) for n in results},
        "none_tuned": None
        if search is None
        else {**search.best.as_dict(), "scored_on": "test", "grid": [p.as_dict() for p in search.points]},
        "best_norm": best,
        "snn_checkpoint": str(snn_dir),
        "num_classes": data.num_classes,
        "confusion_matrix": confusion_matrix(
            results[best].predictions, results[best].labels, data.num_classes
        ).tolist(),  # of the best norm
        **threads_info(),
    }
