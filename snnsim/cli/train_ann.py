"""``snnsim train-ann``: train a ReLU ANN of the conversion papers (fc, scnn, lenet).

It trains through the shared trainer (:func:`snnsim.training.trainer.fit` with
:class:`snnsim.training.ann_rule.ANNRule`), so ``--resume``, ``--schedule``, ``--patience``,
``--tensorboard`` and ``--distributed`` work as for ``snnsim train``. Writes ``ann.json`` +
``ann.pt`` (load with :func:`snnsim.training.ann.load_ann`), ``report.json`` (per-epoch history
with the trainer's keys, held-out accuracy), ``metrics.csv`` and the checkpoint of the last
finished epoch (``checkpoint/``, itself an ANN checkpoint) to ``--out``.
Defaults build Diehl et al.'s nets (no biases, ReLU on the output); ``--hidden``,
``--bias`` and ``--no-output-relu`` change that, e.g. the TTFS paper's FC2 for
``snnsim train --method ttfs --from-relu``::

    snnsim train-ann --net fc --hidden 340 --bias --no-output-relu --dropout 0 --out relu_fc2
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from snnsim.cli.common import (
    fit_from_args,
    layer_sizes,
    load_data,
    out_dir,
    print_written,
    run_distributed,
    setup_run,
    threads_info,
    write_report,
)
from snnsim.cli.outdir import keep_on_failure
from snnsim.errors import UserError
from snnsim.training import ann
from snnsim.training import distributed as ddp
from snnsim.training.ann_rule import ANNRule, check_new_ann_run
from snnsim.training.trainer import TrainConfig

NAME = "train-ann"
#: batch size of the per-epoch held-out accuracy (as ``ann_accuracy``)
EVAL_BATCH = 500


def ann_options(args: argparse.Namespace) -> dict[str, Any]:
    """Builder arguments from ``--hidden``, ``--bias`` and ``--no-output-relu``."""
    options: dict[str, Any] = {"bias": args.bias, "output_relu": args.output_relu}
    if args.hidden is not None:
        if args.net != "fc":
            raise UserError(f"--hidden applies to --net fc only, not {args.net}")
        options["hidden"] = layer_sizes(args.hidden)
    return options


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The trainer's options from the command line (``--momentum``: train-ann's default 0.5)."""
    if not 0.0 <= args.momentum < 1.0:  # also NaN
        raise UserError(f"--momentum must be in [0, 1), got {args.momentum}")
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        momentum=args.momentum,
        schedule=args.schedule,
        seed=args.seed,
        patience=args.patience,
        eval_batch_size=EVAL_BATCH,
    ).check()


def run(args: argparse.Namespace) -> int:
    return run_distributed(args, _run)


def _run(args: argparse.Namespace) -> int:
    setup_run(args)
    if args.resume and args.overwrite:
        raise UserError("give --resume (continue the run in --out) or --overwrite (replace it), not both")
    rule = ANNRule(dropout=args.dropout, **ann_options(args))
    out = out_dir(args.out, lock=ddp.rank_world()[0] == 0)  # the ranks share rank 0's --out
    keep_on_failure("metrics.csv")  # it goes with the last good checkpoint
    cfg = train_config(args)
    extra = {"command": NAME, "options": rule.config(), "net": args.net, "dataset": args.dataset, "limit": args.limit}
    if not args.resume and not args.overwrite:  # a run with other settings is not replaced silently
        check_new_ann_run(out / "checkpoint", {"train_config": asdict(cfg), **extra})
    data = load_data(args)
    if args.net != "fc" and len(data.input_shape) != 3:
        raise UserError(f"--net {args.net} needs (C, H, W) images, dataset gives {data.input_shape}")
    t0 = time.perf_counter()
    model = None
    if not args.resume:  # fit loads it on resume and refuses options that differ from the checkpoint's
        try:
            model = rule.build(args.net, data.input_shape, data.num_classes)
        except ValueError as err:
            raise UserError(f"cannot build {args.net} on {args.dataset}: {err}") from None
    model, summary = fit_from_args(args, rule, model, data, cfg, out, extra)
    if ddp.rank_world()[0] != 0:
        return 0
    ann._warn_if_dead(model, data.train, args.device)  # (module attribute: tests patch it)
    model = model.cpu()
    acc = ann.ann_accuracy(model, data.test)
    ann.save_ann(model, args.net, out, extra={"dataset": args.dataset, "epochs": summary["epochs_run"]})
    write_report(out, _report(args, out, data, model, summary, acc, time.perf_counter() - t0))
    print(f"{args.net} on {args.dataset}: held-out accuracy {acc:.4f} after {summary['epochs_run']} epochs")
    written = ["ann.json", "ann.pt", "report.json", "metrics.csv", "checkpoint"]
    print_written(out, [out / f for f in written + (["tensorboard"] if args.tensorboard else [])])
    return 0


def _report(
    args: argparse.Namespace, out: Path, data: Any, model: Any, summary: dict[str, Any], acc: float, seconds: float
) -> dict[str, Any]:
    """report.json: the settings, the trainer's history (``history``, the keys of ``snnsim
    train``'s ``epochs``) and the held-out accuracy of the final ANN (``test_accuracy``)."""
    return {
        "command": NAME,
        "net": args.net,
        "dataset": args.dataset,
        "train_samples": len(data.train),
        "test_samples": len(data.test),
        "options": model.options,
        "epochs": args.epochs,
        "epochs_run": summary["epochs_run"],
        "lr": args.lr,
        "optimizer": args.optimizer,
        "momentum": args.momentum if args.optimizer == "sgd" else None,
        "schedule": args.schedule,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "dropout": args.dropout,
        "seed": args.seed,
        "history": summary["history"],
        "test_accuracy": acc,
        "best_accuracy": summary["best_accuracy"],
        "final_accuracy": summary["final_accuracy"],
        "train_time_s": summary["train_time_s"],
        "samples_per_s": summary["samples_per_s"],
        "seconds": seconds,
        "checkpoint": str(out),
        "world_size": ddp.rank_world()[1],
        **threads_info(),
    }
