"""``snnsim train``: train a spiking network with a learning rule and the shared trainer."""
from __future__ import annotations

import argparse
import json

import torch

from analysis import energy_report, plot_firing_rates
from typing import Any

from .. import distributed as ddp
from ..io import load_network
from ..learning import RULES, get_rule
from ..simulation import evaluate
from ..training import OPTIMIZERS, SCHEDULES, TrainConfig, fit
from .common import (
    CLIError, add_data_args, add_run_args, layer_sizes, load_data, out_dir, positive_float, positive_int,
    setup_run, threads_info, write_report,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a spiking network (spikebp, ...)",
                       description="Train a spiking network with a learning rule; writes report.json, "
                                   "metrics.csv and a checkpoint (OUT/checkpoint) every epoch.")
    p.add_argument("--method", required=True, choices=sorted(RULES), help="learning rule")
    p.add_argument("--net", default="fc", help="architecture (spikebp: fc, lenet)")
    p.add_argument("--timesteps", "-T", type=positive_int, default=None, help="simulation steps (default: the method's)")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--schedule", default="none", choices=SCHEDULES)
    p.add_argument("--patience", type=positive_int, default=None, help="early stopping after N epochs without improvement")
    p.add_argument("--dropout", type=float, default=None, help="dropout probability (spikebp)")
    p.add_argument("--batchnorm", action="store_true", help="BatchNorm after hidden weighted ops (spikebp)")
    p.add_argument("--hidden", default=None, help="hidden sizes of the fc net, comma separated (e.g. 800)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other parameter of the method (value parsed as JSON), e.g. --set width=0.25")
    p.add_argument("--from-relu", default=None, metavar="DIR",
                   help="start from a trained ReLU net (snnsim train-ann checkpoint), for methods that map one (ttfs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel DDP training; launch with torchrun --nproc_per_node N -m snnsim train ...")
    p.add_argument("--out", required=True, help="output directory")
    add_data_args(p)
    add_run_args(p, batch_size=64)
    p.set_defaults(func=run)


def rule_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.timesteps is not None:
        params["timesteps"] = args.timesteps
    if args.dropout is not None:
        if not 0.0 <= args.dropout < 1.0:
            raise CLIError(f"--dropout must be in [0, 1), got {args.dropout}")
        params["dropout"] = args.dropout
    if args.batchnorm:
        params["batchnorm"] = True
    if args.hidden:
        params["hidden"] = layer_sizes(args.hidden)
    if args.from_relu is not None:
        params["from_relu"] = args.from_relu
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            params[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            params[key.replace("-", "_")] = value
    return params


def run(args: argparse.Namespace) -> int:
    if args.distributed:
        try:
            ddp.init(args.device)
        except RuntimeError as err:
            raise CLIError(str(err)) from None
    try:
        return _run(args)
    finally:
        if args.distributed:
            ddp.shutdown()


def _run(args: argparse.Namespace) -> int:
    setup_run(args)
    out = out_dir(args.out)
    data = load_data(args)
    try:
        rule = get_rule(args.method, **rule_params(args))
    except TypeError as err:
        raise CLIError(f"option not supported by --method {args.method}: {err}") from None
    if args.resume:
        network = load_network(out / "checkpoint")
    else:
        network = rule.build(args.net, data.input_shape, data.num_classes)
        rule.calibrate(network, data.train)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                      schedule=args.schedule, seed=args.seed, patience=args.patience)
    network, summary = fit(rule, network, data, cfg, out=out, resume=args.resume, device=args.device,
                           progress=not args.no_progress, tensorboard=args.tensorboard,
                           extra={"net": args.net, "dataset": args.dataset})
    rank, world = ddp.rank_world()
    if rank != 0:
        return 0
    enc = rule.encoder_config()
    # spike counts and SynOps count what the rule calls informative (TTFS: not the forced spikes at t_max)
    ev = evaluate(network, data.test, lambda x, t: rule.encode(x), rule.timesteps, engine="fast",
                  batch_size=rule.eval_batch_size, device=args.device, progress=not args.no_progress,
                  keep_first_batch=4, spike_filter=lambda spikes: rule.informative_spikes(network, spikes))
    rec = ev.first_batch
    torch.save({"spikes": rec.spikes, "voltages": rec.voltages, "dt": rec.dt, "labels": ev.first_labels},
               out / "record.pt")
    shown = rule.informative_spikes(network, rec.spikes)
    plot_firing_rates({name: float(s[:, :1].float().mean()) for name, s in shown.items()},
                      title=f"firing rate per layer, one test sample (label {int(ev.first_labels[0])})",
                      path=out / "firing_rates.png")
    report = {
        "command": "train", "method": args.method, "net": args.net, "dataset": args.dataset,
        "rule": rule.config(), "train_config": vars(cfg), "encoder": enc,
        "epochs": summary["history"], "final_accuracy": summary["final_accuracy"],
        "best_accuracy": summary["best_accuracy"], "simulated_accuracy": ev.accuracy,
        "spikes_per_neuron": ev.spikes_per_neuron, "spikes_per_neuron_emitted": ev.emitted_spikes_per_neuron,
        "synops": energy_report(network, ev),
        "readout": ev.readout, "num_classes": data.num_classes, "train_time_s": summary["train_time_s"],
        "samples_per_s": summary["samples_per_s"], "simulation_samples_per_s": ev.samples_per_s,
        "checkpoint": str(out / "checkpoint"), "world_size": world, **threads_info(),
    }
    write_report(out, report)
    print(f"held-out accuracy {summary['final_accuracy']:.4f} after {summary['epochs_run']} epochs "
          f"({summary['train_time_s']:.1f} s) -> {out / 'report.json'}")
    return 0
