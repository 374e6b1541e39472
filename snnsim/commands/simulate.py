"""``snnsim simulate``: run a (trained or fresh) network on a dataset in either engine."""
from __future__ import annotations

import argparse
import inspect
import math
from typing import Any, Callable

import torch

import encoders
import networks
from analysis import confusion_matrix, energy_report, layer_thresholds, plot_raster, save_record

from ..io import load_network, read_meta
from ..simulation import evaluate, output_layer
from ..errors import UserError
from .common import load_data, out_dir, print_written, setup_run, threads_info, write_report


def apply_checkpoint_defaults(args: argparse.Namespace, extra: dict[str, Any]) -> None:
    """Fill --encoder/--prob-scale/--timesteps left unset from a checkpoint's training
    settings (and keep the encoder's other saved parameters, e.g. a latency window),
    falling back to the command's defaults."""
    args.encoder_params = {}
    if args.encoder is None:
        args.encoder = extra.get("encoder", args.default_encoder)
        if args.encoder == extra.get("encoder") and args.encoder in encoders.ENCODERS:
            accepted = inspect.signature(encoders.ENCODERS[args.encoder]).parameters
            saved = {k: v for k, v in extra.items() if k in accepted and k not in ("x", "timesteps", "generator")}
            if args.prob_scale is None and args.max_rate is None and "prob_scale" in saved:
                args.prob_scale = saved.pop("prob_scale")
            args.encoder_params = {k: v for k, v in saved.items() if k not in ("prob_scale", "max_rate")}
    if args.timesteps is None:
        args.timesteps = int(extra.get("timesteps", 100))


def make_encoder(args: argparse.Namespace) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """The encoder of --encoder with a generator seeded by --seed."""
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    name = args.encoder
    if name in ("poisson", "bernoulli"):
        kw: dict[str, Any] = {"generator": gen}
        if args.max_rate is not None and args.prob_scale is not None:
            raise UserError("give --max-rate or --prob-scale, not both")
        if name == "poisson" and args.prob_scale is None:
            kw["max_rate"] = args.max_rate if args.max_rate is not None else 1000.0
        elif args.max_rate is not None:
            raise UserError("--max-rate applies to --encoder poisson only")
        else:
            kw["prob_scale"] = args.prob_scale if args.prob_scale is not None else 1.0
        return encoders.get_encoder(name, **kw)
    if args.max_rate is not None or args.prob_scale is not None:
        raise UserError(f"--max-rate/--prob-scale do not apply to --encoder {name}")
    return encoders.get_encoder(name, **getattr(args, "encoder_params", {}))


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    out = out_dir(args.out)
    trained = args.checkpoint is not None
    meta = read_meta(args.checkpoint) if trained else {}
    apply_checkpoint_defaults(args, meta.get("extra", {}))
    data = load_data(args)
    if trained:
        net = load_network(args.checkpoint)
        first = next(iter(net.layers.values()))
        if list(first.shape) != list(data.input_shape) and first.n != math.prod(data.input_shape):
            raise UserError(f"checkpoint expects input shape {list(first.shape)}, dataset {args.dataset} "
                           f"gives {list(data.input_shape)}")
    else:
        net = networks.build(args.net, input_shape=data.input_shape, n_classes=data.num_classes)
    split = data.test if args.split == "test" else data.train
    result = evaluate(net, split, make_encoder(args), args.timesteps, engine=args.engine,
                      batch_size=args.batch_size, device=args.device, progress=not args.no_progress,
                      keep_first_batch=4)
    report = {
        "command": "simulate",
        "net": meta.get("extra", {}).get("net", args.net) if trained else args.net,
        "checkpoint": str(args.checkpoint) if trained else None,
        "trained": trained,
        "dataset": args.dataset, "split": args.split, "samples": result.samples,
        "encoder": args.encoder, "timesteps": args.timesteps, "engine": args.engine,
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
        if trained else None,
        **threads_info(),
    }
    rec = result.first_batch
    assert rec is not None
    save_record(out / "record.pt", rec, result.first_labels)
    plot_raster(rec.spikes, sample=0, dt=1.0,
                title=f"{report['net']} on {args.dataset} ({args.engine} engine), sample 0, "
                      f"label {int(result.first_labels[0])}",
                path=out / "raster.png")
    write_report(out, report)
    acc = f"accuracy {result.accuracy:.4f}, " if trained else ""
    print(f"{result.samples} samples, {acc}{result.samples_per_s:.1f} samples/s")
    print_written(out, [out / "report.json", out / "record.pt", out / "raster.png"])
    return 0
