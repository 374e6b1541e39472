"""benchmarks/conv_train.py: every contender trains both nets; the speedups and the table."""

import math

import pytest
import torch

from benchmarks import conv_train
from benchmarks.conv_nets import CONTENDERS


@pytest.mark.parametrize("name", sorted(CONTENDERS))
def test_each_contender_runs_a_training_step_of_both_nets(name):
    pytest.importorskip({"spikingjelly": "spikingjelly", "snntorch": "snntorch"}.get(name, "torch"))
    for model in ("lenet", "resnet19"):
        step = conv_train.train_step(name, model, 0.0625, "cpu")
        spikes, y = conv_train.make_batch(model, 0.13, "cpu")
        if model == "lenet":
            spikes, y = spikes[:3, :2], y[:2]
        loss = step((spikes, y))
        assert math.isfinite(loss) and loss > 0


def test_make_batch_density_and_shape():
    spikes, y = conv_train.make_batch("lenet", 0.3, "cpu")
    assert spikes.dtype == torch.bool and tuple(spikes.shape) == (20, 32, 1, 28, 28) and y.shape == (32,)
    assert abs(float(spikes.float().mean()) - 0.3) < 0.01


def test_ratios_and_table():
    results = {"lenet": {"snnsim": {"0.13": 100.0}, "spikingjelly": {"0.13": 250.0}, "snntorch": {"0.13": 200.0}}}
    r = conv_train.ratios(results)
    assert r["lenet"]["0.13"] == {"vs_spikingjelly": 2.5, "vs_snntorch": 2.0, "vs_fastest_peer": 2.0}
    table = conv_train.markdown_table({"1": {"results": results, "ratios": r}})
    assert "| 1 | lenet | 0.13 | 100 | - | 250 | 200 | 2.00 | - | 2 |" in table
    results["lenet"]["snnsim_graphed"] = {"0.13": 50.0}  # on CUDA: snnsim replayed from a graph
    r = conv_train.ratios(results)
    assert r["lenet"]["0.13"]["graphed_vs_fastest_peer"] == 4.0 and r["lenet"]["0.13"]["vs_fastest_peer"] == 2.0
    table = conv_train.markdown_table({"1": {"results": results, "ratios": r}})
    assert "| 1 | lenet | 0.13 | 100 | 50 | 250 | 200 | 2.00 | 4.00 | 2 |" in table


def test_forward_timing_in_the_same_rounds_and_its_table(tmp_path):
    """--forward: the forward pass alone (no autograd) of every contender, in the JSON and a table."""
    pytest.importorskip("spikingjelly")
    pytest.importorskip("snntorch")
    out = tmp_path / "conv.json"
    payload = conv_train.main(
        ["--threads", "1", "--repeats", "1", "--models", "lenet", "--densities", "0.05", "--forward",
         "--out", str(out)]
    )  # fmt: skip
    run = payload["by_threads"]["1"]
    for kind in ("results", "forward_results"):
        assert set(run[kind]["lenet"]) == set(CONTENDERS)
        assert all(v["0.05"] > 0 for v in run[kind]["lenet"].values())
    ratio = run["forward_ratios"]["lenet"]["0.05"]["vs_fastest_peer"]
    fastest = min(run["forward_results"]["lenet"][p]["0.05"] for p in ("spikingjelly", "snntorch"))
    assert ratio == pytest.approx(fastest / run["forward_results"]["lenet"]["snnsim"]["0.05"])
    assert "| 1 | lenet | 0.05 |" in conv_train.markdown_table(payload["by_threads"], "forward")
    assert out.is_file()
