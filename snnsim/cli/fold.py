"""``snnsim fold``: fold tdBN/BatchNorm of a checkpoint into its weights, check it, plot rates.

Reads a checkpoint that still has BN ops (e.g. ``OUT/checkpoint/training`` of an
``stbp-tdbn`` run), writes the folded network to ``--out/checkpoint`` and a report with
the spike mismatches of folded vs unfolded (fast engine, eval mode) and of the fast vs
bindsnet engines on the folded net, over the first ``--limit`` test samples, plus the
per-layer firing rates of one test sample (``firing_rates.png``, the tdBN paper's figure).
"""

from __future__ import annotations

import argparse
from typing import Any

import matplotlib.pyplot as plt
import torch

import encoders
from analysis.rates import firing_rates, plot_firing_rates
from snnsim.cli.common import load_data, out_dir, print_written, setup_run, threads_info, write_report
from snnsim.core.io import load_network, read_meta, save_network
from snnsim.core.nodes import SpikingNodes
from snnsim.engine import simulate
from snnsim.errors import UserError
from snnsim.methods.stbp.tdbn import fold_network, has_batchnorm


def _mismatches(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, int]:
    return {n: int((a[n] != b[n]).sum()) for n in a if n in b}


def run(args: argparse.Namespace) -> int:
    setup_run(args)
    out = out_dir(args.out)
    meta = read_meta(args.checkpoint)
    extra: dict[str, Any] = meta.get("extra", {})
    net = load_network(args.checkpoint).to(args.device)
    net.train(False)
    folded = fold_network(net)
    steps = args.timesteps or int(extra.get("timesteps", 2))
    encoder = extra.get("encoder", "current")
    if encoder != "current":
        raise UserError(f"fold checks use direct (current) coding; the checkpoint was trained with {encoder!r}")
    data = load_data(args)
    n = min(len(data.test), args.limit or 100)
    if not 0 <= args.sample < len(data.test):
        raise UserError(f"--sample must be in [0, {len(data.test) - 1}], got {args.sample}")
    save_network(folded, out / "checkpoint", extra={**extra, "folded_from": str(args.checkpoint)})
    bn_mis: dict[str, int] = {}
    eng_mis: dict[str, int] = {}
    total = pred_mis = 0
    for x, _ in data.test.subset(n).batches(args.batch_size):
        inputs = encoders.constant_current(x.to(args.device), steps)
        out_layer = list(folded.layers)[-1]
        r_bn = simulate(net, inputs, record_voltage=[out_layer])
        r_fast = simulate(folded, inputs, record_voltage=[out_layer])
        pred_mis += int((r_bn.predict(out_layer) != r_fast.predict(out_layer)).sum())
        r_ref = simulate(folded, inputs, engine="bindsnet")
        for acc, new in (
            (bn_mis, _mismatches(r_bn.spikes, r_fast.spikes)),
            (eng_mis, _mismatches(r_fast.spikes, r_ref.spikes)),
        ):
            for k, v in new.items():
                acc[k] = acc.get(k, 0) + v
        total += sum(int(s.numel()) for k, s in r_fast.spikes.items() if k != "input")
    x = data.test.x[args.sample : args.sample + 1].to(args.device)
    rec = simulate(folded, encoders.constant_current(x, steps))
    spiking = [k for k, layer in folded.layers.items() if isinstance(layer, SpikingNodes) and layer.params.spiking]
    rates = firing_rates(rec, layers=spiking)
    fig = plot_firing_rates(
        rates,
        title=f"firing rate per layer, test sample {args.sample} (label {int(data.test.y[args.sample])}), T = {steps}",
        path=out / "firing_rates.png",
    )
    plt.close(fig)
    report = {
        "command": "fold",
        "checkpoint": str(args.checkpoint),
        "folded_checkpoint": str(out / "checkpoint"),
        "had_batchnorm": has_batchnorm(net),
        "dataset": args.dataset,
        "samples": n,
        "timesteps": steps,
        "neuron_steps": total,
        "spike_mismatches_folded_vs_unfolded": bn_mis,
        "spike_mismatches_fast_vs_bindsnet": eng_mis,
        "prediction_mismatches_folded_vs_unfolded": pred_mis,
        "firing_rates_sample": {"sample": args.sample, "rates": rates},
        **threads_info(),
    }
    write_report(out, report)
    print(
        f"spike mismatches over {n} samples ({total} neuron-steps): folded vs unfolded "
        f"{sum(bn_mis.values())} (predictions {pred_mis}), fast vs bindsnet {sum(eng_mis.values())}"
    )
    print_written(out, [out / "report.json", out / "firing_rates.png", out / "checkpoint"])
    return 0
