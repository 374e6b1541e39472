"""``snnsim train --method stdp --net diehl-cook --neurons N``: Diehl & Cook STDP from the command line.

Writes ``OUT/checkpoint`` (a sealed network checkpoint of the learned network with the run's state
in ``stdp.pt``, every ``checkpoint_every`` images and at the end; ``--resume`` continues from it,
``load_network`` and ``snnsim simulate --checkpoint`` read it), ``report.json`` (settings, speed,
accuracies, confusion matrix, history),
``metrics.csv`` (one row per labelling window), ``weights.png`` (receptive fields;
``snnsim plot OUT --kind weights`` redraws it) and ``record.pt`` (spikes of 4 test images, learning
off: ``snnsim view OUT --html page.html`` shows them with the receptive fields). Settings:
``--neurons``, ``--timesteps``, ``--epochs``, ``--seed``, ``--limit`` and ``--set KEY=VALUE`` for the
other fields of
:class:`~snnsim.methods.stdp.training.STDPConfig` (``max_rate``, ``exc``, ``inh``, ``theta_plus``,
``nu``, ``norm``, ``update_interval``, ``checkpoint_every``, ``label_samples``, ``min_spikes``,
``rate_step``).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from snnsim.errors import UserError

NETS = ("diehl-cook",)


def config_from_args(args: argparse.Namespace) -> Any:
    from snnsim.methods.stdp.training import STDPConfig

    known = {f.name for f in fields(STDPConfig)}
    values: dict[str, Any] = {
        "n_neurons": args.neurons if args.neurons is not None else 100,
        "epochs": args.epochs,
        "seed": args.seed,
    }
    if args.timesteps is not None:
        values["timesteps"] = args.timesteps
    for item in args.set:
        key, sep, value = item.partition("=")
        key = key.replace("-", "_")
        if not sep or key not in known:
            raise UserError(f"--set {item!r}: method stdp takes KEY=VALUE with KEY one of {sorted(known)}")
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"--set {key}: cannot read {value!r} (JSON, e.g. 0.05 or [1e-4, 0.01])") from None
    if isinstance(values.get("nu"), list):
        values["nu"] = tuple(values["nu"])
    try:
        return STDPConfig(**values).check()
    except TypeError as err:
        raise UserError(f"method stdp: {err}") from None


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    keys = ["images", "epoch", "elapsed_s", "window_accuracy"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for row in history:
            w.writerow(row)


def _check_new_run(ckpt: Path, current: dict[str, Any]) -> None:
    """Refuse to start over a checkpoint of another method (UserError), else
    :func:`snnsim.training.checkpoint.check_new_run` (a run with other settings)."""
    from snnsim.core.io import SPEC_FILE, read_checkpoint
    from snnsim.training.checkpoint import check_new_run

    if (ckpt / SPEC_FILE).exists():
        try:
            saved = read_checkpoint(ckpt, read_files=False)[0]["extra"]
        except (UserError, OSError):
            saved = {"stdp": None}  # unreadable: check_new_run says so
        if "stdp" not in saved:
            raise UserError(
                f"{ckpt.parent} holds a run of another method; pass --overwrite to replace it or choose another --out"
            )
    check_new_run(ckpt, current)


def run(args: argparse.Namespace) -> int:
    """The ``train --method stdp`` command (after ``setup_run``)."""
    import torch

    from analysis import confusion_matrix, save_record
    from snnsim.cli.common import load_data, out_dir, print_written, threads_info, write_report
    from snnsim.methods.stdp import training as stdp
    from snnsim.methods.stdp.plots import plot_weights

    if getattr(args, "distributed", False):
        raise UserError("method stdp learns one image at a time on one process; drop --distributed")
    net = args.net or "diehl-cook"
    if net not in NETS:
        raise UserError(f"method 'stdp' supports nets {list(NETS)}, got {net!r}")
    if str(args.device) != "cpu":
        raise UserError("method stdp runs on the CPU (--device cpu)")
    cfg = config_from_args(args)
    out = out_dir(args.out)
    data = load_data(args)
    shape = list(data.input_shape)
    meta = {"dataset": args.dataset, "limit": args.limit, "input_shape": shape}
    if not args.resume and not args.overwrite:  # a run with other settings is not replaced silently
        _check_new_run(out / "checkpoint", {"stdp": {"config": asdict(cfg), "meta": meta}})
    network = stdp.build(cfg, int(torch.Size(shape).numel()))
    state = stdp.train(network, data, cfg, out=out, resume=args.resume, progress=not args.no_progress, meta=meta)
    ev = stdp.label_and_evaluate(network, data, cfg, progress=not args.no_progress)
    weights = stdp.input_weights(network).detach().clone()
    answered = ev["predictions"] >= 0
    plot_weights(weights, shape).savefig(out / "weights.png", dpi=120)
    _write_metrics(out / "metrics.csv", state.history)
    save_record(out / "record.pt", *stdp.record_examples(network, data.test, cfg))  # snnsim view OUT --html
    report = {
        "command": "train",
        "method": "stdp",
        "net": net,
        "dataset": args.dataset,
        "limit": args.limit,
        "input_shape": shape,
        "config": asdict(cfg),
        "images_trained": state.images_seen,
        "train_images_per_s": state.images_seen / max(state.elapsed_s, 1e-9),
        "final_accuracy": ev["accuracy_all_activity"],
        "accuracy_all_activity": ev["accuracy_all_activity"],
        "accuracy_proportion_weighting": ev["accuracy_proportion_weighting"],
        "label_samples": ev["label_samples"],
        "test_samples": ev["test_samples"],
        "eval_images_per_s": ev["eval_images_per_s"],
        "num_classes": data.num_classes,
        "confusion_matrix": confusion_matrix(
            ev["predictions"][answered], ev["labels"][answered], data.num_classes
        ).tolist(),
        "abstained": int((~answered).sum()),  # test images no labelled neuron responded to
        "assignments": ev["assignments"],
        "history": state.history,
        "checkpoint": str(out / "checkpoint"),
        **threads_info(),
    }
    write_report(out, report)
    print(
        f"{state.images_seen} images trained ({report['train_images_per_s']:.1f} images/s); test accuracy "
        f"{ev['accuracy_all_activity']:.4f} (all activity), {ev['accuracy_proportion_weighting']:.4f} "
        f"(proportion weighting)"
    )
    print_written(out, [out / f for f in ("report.json", "metrics.csv", "weights.png", "record.pt", "checkpoint")])
    return 0
