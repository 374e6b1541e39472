"""``snnsim demo``: the whole pipeline on the embedded digits, in about a minute.

Train the Diehl FC ReLU net (784-1200-1200-10, no biases, dropout) on scikit-learn's
digits (upsampled to 28x28), convert it to an IF spiking network with data-based
normalisation, simulate it with Poisson input in the fast engine, check that the
BindsNET engine gives the same spikes, and write to ``--out``: report.json (ANN and SNN
accuracy, accuracy vs time, spikes per neuron, SynOps/energy, speed), raster.png,
accuracy_vs_time.png, rates.png, record.pt and the saved network (``snn/``).
"""

from __future__ import annotations

import argparse

import torch

import encoders
from analysis import (
    confusion_matrix,
    energy_report,
    layer_thresholds,
    plot_accuracy_vs_time,
    plot_firing_rates,
    plot_raster,
    save_record,
)
from snnsim.cli.common import out_dir, print_written, set_threads, threads_info, write_report
from snnsim.core.io import save_network
from snnsim.data.datasets import load_dataset
from snnsim.engine import simulate
from snnsim.engine.evaluate import evaluate
from snnsim.methods.conversion import convert
from snnsim.training.ann import ann_accuracy, build_ann, train_ann


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    set_threads(args.threads)
    # refuse a --max-rate the encoder cannot use before training (a throwaway generator: no RNG state moves)
    encoders.poisson(torch.zeros(1), 1, max_rate=args.max_rate, generator=torch.Generator())
    out = out_dir(args.out)
    progress = not args.no_progress
    data = load_dataset("digits")
    print(f"digits: {len(data.train)} train / {len(data.test)} test images, {data.input_shape}")

    ann = build_ann("fc", input_shape=data.input_shape, n_classes=data.num_classes)
    train_ann(ann, data.train, epochs=args.epochs, lr=args.lr, seed=args.seed, progress=progress, val_split=data.test)
    ann_acc = ann_accuracy(ann, data.test)
    print(f"ANN held-out accuracy: {ann_acc:.4f}")

    conv = convert(ann, norm="data", data=data.train.x, reset="zero")
    net = conv.network
    gen = torch.Generator().manual_seed(args.seed)
    encode = encoders.get_encoder("poisson", max_rate=args.max_rate, generator=gen)
    result = evaluate(net, data.test, encode, args.timesteps, engine="fast", progress=progress, keep_first_batch=4)
    print(
        f"SNN held-out accuracy: {result.accuracy:.4f} at T = {args.timesteps} "
        f"({result.samples_per_s:.0f} samples/s, fast engine)"
    )

    check = encoders.poisson(
        data.test.x[:20], args.timesteps, max_rate=args.max_rate, generator=torch.Generator().manual_seed(args.seed + 1)
    )
    fast, ref = simulate(net, check, engine="fast"), simulate(net, check, engine="bindsnet")
    identical = all(torch.equal(fast.spikes[k], ref.spikes[k]) for k in fast.spikes)
    print(f"fast and bindsnet engines give identical spikes on 20 samples: {identical}")

    save_network(
        net, out / "snn", extra={"net": "fc", "dataset": "digits", "encoder": "poisson", "timesteps": args.timesteps}
    )
    rec = result.first_batch
    save_record(out / "record.pt", rec, result.first_labels)
    curve = {str(k): v for k, v in result.accuracy_vs_time.items()}
    plot_raster(
        rec.spikes,
        sample=0,
        title=f"converted FC net on digits, label {int(result.first_labels[0])}",
        path=out / "raster.png",
    )
    plot_accuracy_vs_time(
        {"data-norm SNN": curve},
        log_x=True,
        ann_accuracy=ann_acc,
        title="accuracy vs simulation steps",
        path=out / "accuracy_vs_time.png",
    )
    plot_firing_rates(rec, path=out / "rates.png")
    report = {
        "command": "demo",
        "dataset": "digits",
        "net": "fc 784-1200-1200-10",
        "ann_accuracy": ann_acc,
        "snn_accuracy": result.accuracy,
        "timesteps": args.timesteps,
        "encoder": {"name": "poisson", "max_rate_hz": args.max_rate},
        "norm": "data",
        "norm_factors": conv.factors,
        "accuracy_vs_time": curve,
        "spikes_per_neuron": result.spikes_per_neuron,
        "samples_per_s": result.samples_per_s,
        "engines_identical": identical,
        "synops": energy_report(net, result),
        "confusion_matrix": confusion_matrix(result.predictions, result.labels, data.num_classes).tolist(),
        "thresholds": layer_thresholds(net),
        "readout": result.readout,
        "num_classes": data.num_classes,
        "dt": float(net.dt),
        **threads_info(),
    }
    write_report(out, report)
    print_written(
        out, [out / f for f in ("report.json", "record.pt", "raster.png", "accuracy_vs_time.png", "rates.png", "snn")]
    )
    return 0
