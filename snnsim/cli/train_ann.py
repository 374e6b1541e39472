"""``snnsim train-ann``: train a ReLU ANN of the conversion papers (fc, scnn, lenet).

Writes ``ann.json`` + ``ann.pt`` (load with :func:`snnsim.training.ann.load_ann`) and
``report.json`` (per-epoch loss and accuracy, held-out accuracy) to ``--out``.
Defaults build Diehl et al.'s nets (no biases, ReLU on the output); ``--hidden``,
``--bias`` and ``--no-output-relu`` change that, e.g. the TTFS paper's FC2 for
``snnsim train --method ttfs --from-relu``::

    snnsim train-ann --net fc --hidden 340 --bias --no-output-relu --dropout 0 --out relu_fc2
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from snnsim.cli.common import (
    layer_sizes,
    load_data,
    out_dir,
    print_written,
    setup_run,
    threads_info,
    train_from_args,
    write_report,
)
from snnsim.errors import UserError
from snnsim.training.ann import save_ann

NAME = "train-ann"


def ann_options(args: argparse.Namespace) -> dict[str, Any]:
    """Builder arguments from ``--hidden``, ``--bias`` and ``--no-output-relu``."""
    options: dict[str, Any] = {"bias": args.bias, "output_relu": args.output_relu}
    if args.hidden is not None:
        if args.net != "fc":
            raise UserError(f"--hidden applies to --net fc only, not {args.net}")
        options["hidden"] = layer_sizes(args.hidden)
    return options


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    options = ann_options(args)
    out = out_dir(args.out)
    data = load_data(args)
    if args.net != "fc" and len(data.input_shape) != 3:
        raise UserError(f"--net {args.net} needs (C, H, W) images, dataset gives {data.input_shape}")
    t0 = time.perf_counter()
    try:
        model, history, acc = train_from_args(args, data, args.batch_size, **options)
    except ValueError as err:
        raise UserError(f"cannot build/train {args.net} on {args.dataset}: {err}") from None
    save_ann(model, args.net, out, extra={"dataset": args.dataset, "epochs": args.epochs})
    report = {
        "command": NAME, "net": args.net, "dataset": args.dataset,
        "train_samples": len(data.train), "test_samples": len(data.test),
        "options": model.options, "epochs": args.epochs, "lr": args.lr, "optimizer": args.optimizer,
        "momentum": args.momentum if args.optimizer == "sgd" else None, "batch_size": args.batch_size,
        "dropout": args.dropout,
        "seed": args.seed, "history": history, "test_accuracy": acc,
        "seconds": time.perf_counter() - t0, "checkpoint": str(out), **threads_info(),
    }
    write_report(out, report)
    print(f"{args.net} on {args.dataset}: held-out accuracy {acc:.4f} after {args.epochs} epochs")
    print_written(out, [out / "ann.json", out / "ann.pt", out / "report.json"])
    return 0
