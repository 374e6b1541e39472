"""``snnsim train``: train a spiking network with a learning rule and the shared trainer."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from analysis import confusion_matrix, energy_report, plot_firing_rates, save_record
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
from snnsim.engine.evaluate import evaluate
from snnsim.errors import UserError
from snnsim.names import EVENT_DATASETS
from snnsim.training import distributed as ddp
from snnsim.training import get_rule
from snnsim.training.checkpoint import check_new_run
from snnsim.training.trainer import TrainConfig


def rule_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.timesteps is not None:
        params["timesteps"] = args.timesteps
    if args.dropout is not None:
        if not 0.0 <= args.dropout < 1.0:
            raise UserError(f"--dropout must be in [0, 1), got {args.dropout}")
        params["dropout"] = args.dropout
    if args.batchnorm:
        params["batchnorm"] = True
    if args.hidden:
        params["hidden"] = layer_sizes(args.hidden)
    if args.from_relu is not None:
        params["from_relu"] = args.from_relu
    if args.recurrent:
        params["recurrent"] = True
    if args.encoding is not None:
        params["encoding"] = args.encoding
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            params[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            params[key.replace("-", "_")] = value
    return params


#: Methods that train on binned event frames (``--dataset nmnist|shd``, encoding ``events``).
EVENT_METHODS: tuple[str, ...] = ("fastsnn", "lif")


def event_params(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with ``encoding=events`` for an event --dataset; refuses a method or an encoding
    that does not fit the data (one line, exit 2)."""
    event = args.dataset in EVENT_DATASETS
    if event and args.method not in EVENT_METHODS:
        raise UserError(
            f"--dataset {args.dataset} is event data: train it with --method "
            f"{' or '.join(EVENT_METHODS)}, not {args.method}"
        )
    if event and params.setdefault("encoding", "events") != "events":
        raise UserError(f"--dataset {args.dataset} is event data: it needs --encoding events, not {params['encoding']}")
    if not event and params.get("encoding") == "events":
        raise UserError(f"--encoding events needs an event dataset (--dataset {' or '.join(EVENT_DATASETS)})")
    return params


def run(args: argparse.Namespace) -> int:
    return run_distributed(args, _run)


def _run(args: argparse.Namespace) -> int:
    setup_run(args)
    if args.resume and args.overwrite:
        raise UserError("give --resume (continue the run in --out) or --overwrite (replace it), not both")
    params = event_params(args, rule_params(args))
    if args.method == "stdp":  # unsupervised, one image at a time: its own loop (snnsim.methods.stdp)
        from snnsim.cli.stdp import run as run_stdp

        return run_stdp(args)
    out = out_dir(args.out, lock=ddp.rank_world()[0] == 0)  # the ranks share rank 0's --out
    keep_on_failure("metrics.csv")  # it goes with the last good checkpoint
    rule = get_rule(args.method, **params)  # unknown or mistyped options: UserTypeError
    options = rule.config()  # as requested, before build/calibrate/training change derived values (TTFS dt)
    # --net, else fc where the method has it, else its first network (stbp-tdbn: resnet19)
    net = args.net if args.net is not None else ("fc" if "fc" in rule.nets else rule.nets[0])
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        schedule=args.schedule,
        seed=args.seed,
        patience=args.patience,
        bptt_segment=args.bptt_segment,
    )
    extra = {"method": args.method, "options": options, "net": net, "dataset": args.dataset, "limit": args.limit}
    if args.dataset in EVENT_DATASETS:  # how the events were binned: simulate bins them the same way
        from snnsim.data.event_frames import event_bin_us

        extra["bin_us"] = event_bin_us(args.dataset, rule.timesteps, args.bin_us)
    if not args.resume and not args.overwrite:  # a run with other settings is not replaced silently
        check_new_run(out / "checkpoint", {"train_config": asdict(cfg.check()), **extra})
    data = load_data(args, timesteps=rule.timesteps, bin_us=extra.get("bin_us"))
    if args.resume:  # fit loads it and refuses options that differ from the checkpoint's
        network = None
    else:
        network = rule.build(net, data.input_shape, data.num_classes)
        rule.calibrate(network, data.train)
    network, summary = fit_from_args(args, rule, network, data, cfg, out, extra)
    if ddp.rank_world()[0] != 0:
        return 0
    _simulate_and_report(args, out, rule, network, net, data, cfg, extra, summary)
    return 0


def _simulate_and_report(
    args: argparse.Namespace,
    out: Path,
    rule: Any,
    network: Any,
    net: str,
    data: Any,
    cfg: TrainConfig,
    extra: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    """Rank 0 after training: the trained network simulated on the held-out split by the fast
    engine, ``record.pt`` and ``firing_rates.png`` of the first batch, and ``report.json``."""
    enc = rule.encoder_config()
    # spike counts and SynOps count what the rule calls informative (TTFS: not the forced spikes at t_max)
    ev = evaluate(
        network,
        data.test,
        lambda x, t: rule.spike_input(rule.encode(x)),
        rule.timesteps,
        engine="fast",
        batch_size=rule.eval_batch_size,
        device=args.device,
        progress=not args.no_progress,
        keep_first_batch=4,
        spike_filter=lambda spikes: rule.informative_spikes(network, spikes),
    )
    rec = ev.first_batch
    save_record(out / "record.pt", rec, ev.first_labels)
    shown = rule.informative_spikes(network, rec.spikes)
    plot_firing_rates(
        {name: float(s[:, :1].float().mean()) for name, s in shown.items()},
        title=f"firing rate per layer, one test sample (label {int(ev.first_labels[0])})",
        path=out / "firing_rates.png",
    )
    report = {
        "command": "train",
        "method": args.method,
        "net": net,
        "dataset": args.dataset,
        "bin_us": extra.get("bin_us"),
        "rule": rule.config(),
        "train_config": vars(cfg),
        "encoder": enc,
        "epochs": summary["history"],
        "final_accuracy": summary["final_accuracy"],
        "best_accuracy": summary["best_accuracy"],
        "simulated_accuracy": ev.accuracy,
        "spikes_per_neuron": ev.spikes_per_neuron,
        "spikes_per_neuron_emitted": ev.emitted_spikes_per_neuron,
        "synops": energy_report(network, ev),
        "readout": ev.readout,
        "num_classes": data.num_classes,
        "confusion_matrix": confusion_matrix(ev.predictions, ev.labels, data.num_classes).tolist(),
        "train_time_s": summary["train_time_s"],
        "samples_per_s": summary["samples_per_s"],
        "simulation_samples_per_s": ev.samples_per_s,
        "checkpoint": str(out / "checkpoint"),
        "world_size": ddp.rank_world()[1],
        **threads_info(),
    }
    write_report(out, report)
    print(
        f"held-out accuracy {summary['final_accuracy']:.4f} after {summary['epochs_run']} epochs "
        f"({summary['train_time_s']:.1f} s), simulated {ev.accuracy:.4f}"
    )
    written = ["report.json", "metrics.csv", "record.pt", "firing_rates.png", "checkpoint"]
    print_written(out, [out / f for f in written + (["tensorboard"] if args.tensorboard else [])])
