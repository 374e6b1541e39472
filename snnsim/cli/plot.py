"""``snnsim plot RUN_DIR``: figures of a run directory (record.pt and report.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
from matplotlib.figure import Figure

from analysis.accuracy import accuracy_curves, confusion_matrix, plot_accuracy_vs_time, plot_confusion_matrix
from analysis.raster import plot_raster
from analysis.rates import firing_rates, plot_firing_rates, plot_rate_histogram, rates_from_report
from analysis.rundir import RunData, load_run
from analysis.traces import plot_traces
from snnsim.cli.parsers import KINDS
from snnsim.errors import UserError
from snnsim.methods.ttfs.plots import plot_first_spike_times

#: a confusion matrix from record.pt needs this many samples per class (the commands keep 4 samples
#: there: a matrix of those says nothing, so the report's matrix of the full evaluation is used)
MIN_CONFUSION_SAMPLES_PER_CLASS = 10


class Missing(Exception):
    """The run directory lacks what a plot needs (skipped for --kind all)."""


# --- threshold lookup -------------------------------------------------------------------
def thresholds_from_spec(spec: dict[str, Any]) -> dict[str, float]:
    """Layer -> threshold of the spiking layers of a network spec."""
    return {
        layer["name"]: float(layer.get("thresh", 1.0))
        for layer in spec.get("layers", [])
        if layer.get("type") in ("if", "lif")
    }


def run_thresholds(run: RunData) -> Optional[dict[str, float]]:
    """Thresholds from a network.json in the run dir or its checkpoint dir, else report.json's
    ``thresholds`` (per run: the ``best_norm`` one), else the builder spec an untrained
    ``simulate`` run used; None when unknown."""
    rep = run.report
    for where in (run.path, rep.get("snn_checkpoint"), rep.get("checkpoint")):
        if isinstance(where, str) or isinstance(where, Path):
            spec_file = Path(where) / "network.json"
            if spec_file.is_file():
                try:
                    return thresholds_from_spec(json.loads(spec_file.read_text())["spec"])
                except (ValueError, KeyError, TypeError):
                    pass
    th = rep.get("thresholds")
    if isinstance(th, dict) and th:
        if all(isinstance(v, dict) for v in th.values()):  # one dict per run (e.g. per normalisation)
            th = th.get(rep.get("best_norm"), next(iter(th.values())))
        try:
            return {str(k): float(v) for k, v in th.items()}
        except (TypeError, ValueError):
            pass
    if rep.get("command") == "simulate" and not rep.get("checkpoint") and rep.get("net"):
        import networks  # the builders' defaults (thresholds do not depend on the input shape)

        if rep["net"] in networks.SPECS:
            return thresholds_from_spec(networks.SPECS[rep["net"]]())
    return None


# --- one function per kind: (run, args) -> (file stem, figure) ------------------------------
def _record(run: RunData):  # type: ignore[no-untyped-def]
    if run.record is None:
        raise Missing("no record.pt in the run directory")
    return run.record


def _raster(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    rec = _record(run)
    label = (
        f", label {int(run.labels[args.sample])}" if run.labels is not None and args.sample < len(run.labels) else ""
    )
    title = f"{run.report.get('net', 'network')}: spike raster, sample {args.sample}{label}"
    return f"raster_s{args.sample}", plot_raster(rec, args.sample, args.layers, title=title)


def _rates(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    rates = rates_from_report(run.report, args.unit)
    if rates is not None:
        title = f"average firing rate per layer ({run.report.get('samples')} samples)"
    else:
        rec = _record(run)
        rates = firing_rates(rec, args.unit, args.layers)
        title = f"average firing rate per layer ({rec.batch_size} samples of record.pt)"
    if args.layers:
        per_run = rates if all(isinstance(v, dict) for v in rates.values()) else {"": rates}
        for r in per_run.values():
            missing = [n for n in args.layers if n not in r]
            if missing:
                raise UserError(f"layers {missing} not in the run; layers: {list(r)}")
        per_run = {k: {n: r[n] for n in args.layers} for k, r in per_run.items()}
        rates = per_run[""] if "" in per_run else per_run
    return "rates", plot_firing_rates(rates, args.unit, title=title)


def _hist(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    return "rate_hist", plot_rate_histogram(_record(run), args.layers, unit=args.unit)


def _traces(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    rec = _record(run)
    if not rec.voltages:
        raise Missing("record.pt holds no membrane potentials")
    thresh: Union[float, dict[str, float], None] = args.thresh if args.thresh is not None else run_thresholds(run)
    layers = args.layers
    if layers is None:  # hidden and output layers with potentials, the biggest ones left out
        layers = [n for n in rec.voltages if rec.voltages[n][0, 0].numel() <= 4096] or list(rec.voltages)
    return f"traces_s{args.sample}", plot_traces(rec, layers, sample=args.sample, thresh=thresh)


def _ttfs(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    return "ttfs", plot_first_spike_times(_record(run), args.layers)


def _accuracy(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    value = run.report.get("accuracy_vs_time")
    if not value:
        raise Missing("report.json has no accuracy_vs_time (an untrained simulate run has none)")
    curves = accuracy_curves(value, name=str(run.report.get("net") or "snn"))
    ann = args.ann_acc if args.ann_acc is not None else run.report.get("ann_accuracy")
    return "accuracy", plot_accuracy_vs_time(curves, log_x=args.log_x, ann_accuracy=ann)


def _confusion(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    """The report's confusion matrix (the whole held-out evaluation), else one from
    record.pt if it holds at least MIN_CONFUSION_SAMPLES_PER_CLASS samples per class."""
    cm = run.report.get("confusion_matrix")
    if cm is not None:
        fig = plot_confusion_matrix(cm)  # checks cm first (ragged, not numbers: one line)
        fig.axes[0].set_title(f"confusion matrix of the {int(np.asarray(cm).sum())} evaluated samples", fontsize=10)
        return "confusion", fig
    rec = _record(run)
    if run.labels is None:
        raise Missing("record.pt has no labels")
    out = run.report.get("output_layer") or list(rec.spikes)[-1]
    if out not in rec.spikes:
        raise Missing(f"record.pt has no output layer {out!r}")
    readout = run.report.get("readout")
    if readout not in ("spikes", "voltage") and out in rec.kinds:  # the layer's kind (record.pt stores it)
        readout = rec.default_readout(out)
    elif readout not in ("spikes", "voltage"):  # older record.pt: integrator outputs never spike
        readout = "voltage" if out in rec.voltages and not bool(rec.spikes[out].any()) else "spikes"
    pred = rec.predict(out, readout)
    n = int(run.report.get("num_classes") or rec.spikes[out][0, 0].numel())
    if len(pred) < MIN_CONFUSION_SAMPLES_PER_CLASS * n:
        raise Missing(
            f"report.json has no confusion matrix and record.pt holds only {len(pred)} samples (a "
            f"confusion matrix needs {MIN_CONFUSION_SAMPLES_PER_CLASS * n} for {n} classes)"
        )
    cm = confusion_matrix(pred, run.labels, n)
    title = f"confusion matrix of the {len(pred)} samples in record.pt ({readout} read-out)"
    return "confusion", plot_confusion_matrix(cm, title=title)


def _weights(run: RunData, args: argparse.Namespace) -> tuple[str, Figure]:
    """The receptive fields of an STDP run (``train --method stdp``: its checkpoint)."""
    from snnsim.methods.stdp.plots import plot_weights
    from snnsim.methods.stdp.training import CKPT_NAME, load_checkpoint

    path = run.path / "checkpoint"
    if not (path / CKPT_NAME).is_file():
        raise Missing(f"no STDP checkpoint (checkpoint/{CKPT_NAME}): only `train --method stdp` runs have one")
    ckpt = load_checkpoint(path)
    shape = ckpt["meta"].get("input_shape") or run.report.get("input_shape")
    if not shape:
        raise Missing("the checkpoint does not say the input shape")
    title = f"input weights of {ckpt['weights'].shape[1]} excitatory neurons, {ckpt['state']['images_seen']} images"
    return "weights", plot_weights(ckpt["weights"], shape, title=title)


PLOTS: dict[str, Callable[[RunData, argparse.Namespace], tuple[str, Figure]]] = {
    "raster": _raster,
    "rates": _rates,
    "hist": _hist,
    "traces": _traces,
    "ttfs": _ttfs,
    "accuracy": _accuracy,
    "confusion": _confusion,
    "weights": _weights,
}


def make_plots(args: argparse.Namespace) -> list[Path]:
    """Write the figures asked for by ``args`` into the run directory; return their paths."""
    run = load_run(args.run_dir)
    if args.sample < 0:
        raise UserError(f"--sample must be >= 0, got {args.sample}")
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    written: list[Path] = []
    for kind in kinds:
        try:
            stem, fig = PLOTS[kind](run, args)
        except Missing as why:
            if args.kind != "all":
                raise UserError(f"cannot plot {kind}: {why}") from None
            print(f"skipped {kind}: {why}")
            continue
        path = run.path / f"{stem}.{args.format}"
        fig.savefig(path, dpi=120, format=args.format)
        written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    written = make_plots(args)
    for path in written:
        print(path)
    if not written:
        raise UserError(f"nothing to plot in {args.run_dir}")
    return 0
