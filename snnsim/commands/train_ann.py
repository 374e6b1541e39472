"""``snnsim train-ann``: train a ReLU ANN of the conversion papers (fc, scnn, lenet).

Writes ``ann.json`` + ``ann.pt`` (load with :func:`snnsim.ann.load_ann`) and
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

from ..ann import ANNS, ann_accuracy, build_ann, save_ann, train_ann
from .common import (
    CLIError, add_data_args, add_run_args, float_in, layer_sizes, load_data, out_dir, positive_float, positive_int,
    setup_run, threads_info, write_report,
)

NAME = "train-ann"


dropout_prob = float_in("a probability in [0, 1)", lambda v: 0.0 <= v < 1.0)


def add_train_args(p: argparse.ArgumentParser, epochs: int = 10) -> None:
    """ANN training options (shared with ``snnsim convert --net``)."""
    g = p.add_argument_group("ANN training")
    g.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    g.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default 1e-3)")
    g.add_argument("--optimizer", default="adam", choices=("adam", "sgd"),
                   help="adam (default) or sgd with --momentum (Diehl et al.: sgd, --lr 1, --momentum 0.5)")
    g.add_argument("--momentum", type=float, default=0.5, help="SGD momentum in [0, 1) (default 0.5)")
    g.add_argument("--dropout", type=dropout_prob, default=0.5, help="dropout probability (default 0.5)")


def train_from_args(args: argparse.Namespace, data, batch_size: int, **options: Any) -> tuple:
    """Build ``args.net`` for ``data`` (``options``: further builder arguments, e.g.
    ``hidden``, ``bias``), train it; returns (model, history, held-out accuracy)."""
    model = build_ann(args.net, input_shape=data.input_shape, n_classes=data.num_classes, dropout=args.dropout,
                      **options)
    history = train_ann(model, data.train, epochs=args.epochs, lr=args.lr, batch_size=batch_size,
                        seed=args.seed, progress=not args.no_progress, val_split=data.test, device=args.device,
                        optimizer=args.optimizer, momentum=args.momentum)
    return model.cpu(), history, ann_accuracy(model.cpu(), data.test)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(NAME, help="train a ReLU ANN (fc, scnn, lenet) for conversion",
                       description="Train a ReLU ANN of Diehl et al. (2015) / Lee et al. (2020) with Adam "
                                   "and write the checkpoint (ann.json, ann.pt) and report.json to --out.")
    p.add_argument("--net", default="fc", choices=sorted(ANNS), help="network (default fc)")
    p.add_argument("--out", required=True, help="output directory")
    g = p.add_argument_group("architecture")
    g.add_argument("--hidden", default=None, metavar="SIZES",
                   help="hidden layer sizes of --net fc, comma separated (default 1200,1200; e.g. 340 for the "
                        "TTFS paper's FC2 784-340-10)")
    g.add_argument("--bias", action="store_true",
                   help="give every Linear/Conv2d a bias (default: no biases, as Diehl et al.)")
    g.add_argument("--no-output-relu", dest="output_relu", action="store_false",
                   help="no ReLU after the output layer (default: ReLU, as Diehl et al.). The TTFS --from-relu "
                        "FC2 net: --hidden 340 --bias --no-output-relu")
    add_data_args(p)
    add_train_args(p)
    add_run_args(p, batch_size=64)
    p.set_defaults(func=run)


def ann_options(args: argparse.Namespace) -> dict[str, Any]:
    """Builder arguments from ``--hidden``, ``--bias`` and ``--no-output-relu``."""
    options: dict[str, Any] = {"bias": args.bias, "output_relu": args.output_relu}
    if args.hidden is not None:
        if args.net != "fc":
            raise CLIError(f"--hidden applies to --net fc only, not {args.net}")
        options["hidden"] = layer_sizes(args.hidden)
    return options


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    options = ann_options(args)
    out = out_dir(args.out)
    data = load_data(args)
    if args.net != "fc" and len(data.input_shape) != 3:
        raise CLIError(f"--net {args.net} needs (C, H, W) images, dataset gives {data.input_shape}")
    t0 = time.perf_counter()
    try:
        model, history, acc = train_from_args(args, data, args.batch_size, **options)
    except ValueError as err:
        raise CLIError(f"cannot build/train {args.net} on {args.dataset}: {err}") from None
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
    print(f"{args.net} on {args.dataset}: held-out accuracy {acc:.4f} after {args.epochs} epochs -> "
          f"{out / 'ann.json'}, {out / 'report.json'}")
    return 0
