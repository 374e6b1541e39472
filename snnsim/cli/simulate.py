"""``snnsim simulate``: run a (trained or fresh) network on a dataset in either engine."""

from __future__ import annotations

import argparse
import inspect
import math
from typing import Any, Optional

import encoders
import networks
from analysis import confusion_matrix, energy_report, layer_thresholds, plot_raster, save_record
from snnsim.cli.common import (
    EncoderChoice,
    load_data,
    make_encoder,
    out_dir,
    print_written,
    setup_run,
    threads_info,
    write_report,
)
from snnsim.core.io import load_network, read_meta
from snnsim.engine.evaluate import evaluate, output_layer
from snnsim.errors import UserError
from snnsim.names import EVENT_DATASETS


def resolve_encoding(args: argparse.Namespace, extra: dict[str, Any]) -> tuple[EncoderChoice, int]:
    """The input coding and step count: --encoder/--prob-scale/--timesteps, or where left
    unset a checkpoint's training settings (``extra``; the encoder's other saved parameters
    too, e.g. a latency window), falling back to the command's defaults."""
    name, prob_scale, params = args.encoder, args.prob_scale, {}
    if name is None:
        name = extra.get("encoder", "events" if args.dataset in EVENT_DATASETS else args.default_encoder)
        if name == extra.get("encoder") and name in encoders.ENCODERS:
            accepted = inspect.signature(encoders.ENCODERS[name]).parameters
            saved = {k: v for k, v in extra.items() if k in accepted and k not in ("x", "timesteps", "generator")}
            if prob_scale is None and args.max_rate is None and "prob_scale" in saved:
                prob_scale = saved.pop("prob_scale")
            params = {k: v for k, v in saved.items() if k not in ("prob_scale", "max_rate")}
    timesteps = args.timesteps if args.timesteps is not None else int(extra.get("timesteps", 100))
    if (name == "events") != (args.dataset in EVENT_DATASETS):
        raise UserError(
            f"--dataset {args.dataset} with encoder {name}: event data ({', '.join(EVENT_DATASETS)}) "
            f"is simulated with the events encoder, and only event data is"
        )
    return EncoderChoice(name, max_rate=args.max_rate, prob_scale=prob_scale, params=params), timesteps


def event_bins(args: argparse.Namespace, extra: dict[str, Any]) -> Optional[float]:
    """The bin width of an event --dataset: --bin-us, else the checkpoint's when it was trained
    on the same dataset, else None (the dataset's default window over the time steps)."""
    if args.bin_us is not None or extra.get("dataset") != args.dataset:
        return args.bin_us
    return extra.get("bin_us")


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    out = out_dir(args.out)
    trained = args.checkpoint is not None
    meta = read_meta(args.checkpoint) if trained else {}
    encoding, timesteps = resolve_encoding(args, meta.get("extra", {}))
    data = load_data(args, timesteps=timesteps, bin_us=event_bins(args, meta.get("extra", {})))
    split = data.test if args.split == "test" else data.train
    encode = make_encoder(encoding, args.seed, args.device)
    if trained:
        net = load_network(args.checkpoint)
        first = next(iter(net.layers.values()))
        # what one step feeds the input layer (the image, or e.g. one row of it for --encoder rows)
        # (a probe of its own: the run's encoder keeps its random stream)
        probe = next(iter(split.batches(1)))[0].cpu()
        step_shape = list(make_encoder(encoding, args.seed, "cpu")(probe, timesteps).shape[2:])
        if list(first.shape) != step_shape and first.n != math.prod(step_shape):
            raise UserError(
                f"checkpoint expects input shape {list(first.shape)}, dataset {args.dataset} "
                f"with encoder {encoding.name} gives {step_shape}"
            )
    else:
        net = networks.build(args.net, input_shape=data.input_shape, n_classes=data.num_classes)
    result = evaluate(
        net,
        split,
        encode,
        timesteps,
        engine=args.engine,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
        keep_first_batch=4,
    )
    report = {
        "command": "simulate",
        "net": meta.get("extra", {}).get("net", args.net) if trained else args.net,
        "checkpoint": str(args.checkpoint) if trained else None,
        "trained": trained,
        "dataset": args.dataset,
        "split": args.split,
        "samples": result.samples,
        "bin_us": getattr(split, "bin_us", None),
        "encoder": encoding.name,
        "timesteps": timesteps,
        "engine": args.engine,
        "accuracy": result.accuracy if trained else None,
        "accuracy_note": None if trained else "untrained network (no --checkpoint): accuracy not meaningful",
        "accuracy_vs_time": {str(k): v for k, v in result.accuracy_vs_time.items()} if trained else None,
        "samples_per_s": result.samples_per_s,
        "seconds": result.seconds,
        "spikes_per_neuron": result.spikes_per_neuron,
        "output_layer": output_layer(net),
        "readout": result.readout,
        "num_classes": data.num_classes,
        "dt": float(net.dt),
        "thresholds": layer_thresholds(net),
        "synops": energy_report(net, result),
        "confusion_matrix": confusion_matrix(result.predictions, result.labels, data.num_classes).tolist()
        if trained
        else None,
        **threads_info(),
    }
    rec = result.first_batch
    assert rec is not None
    save_record(out / "record.pt", rec, result.first_labels)
    plot_raster(
        rec.spikes,
        sample=0,
        dt=1.0,
        title=f"{report['net']} on {args.dataset} ({args.engine} engine), sample 0, "
        f"label {int(result.first_labels[0])}",
        path=out / "raster.png",
    )
    write_report(out, report)
    acc = f"accuracy {result.accuracy:.4f}, " if trained else ""
    print(f"{result.samples} samples, {acc}{result.samples_per_s:.1f} samples/s")
    print_written(out, [out / "report.json", out / "record.pt", out / "raster.png"])
    return 0
