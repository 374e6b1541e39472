"""Rules ``fastsnn`` and ``lif``: training on digits, the CLI end to end."""

import json

import pytest
import torch

from snnsim.cli import main
from snnsim.core.io import load_network
from snnsim.core.nodes import LIFNeurons
from snnsim.data.datasets import load_dataset
from snnsim.methods.fastsnn.nodes import FastLIFNeurons, PeakIntegrator
from snnsim.training import RULES, get_rule
from snnsim.training.trainer import TrainConfig, fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", limit=600)  # 600 train / 360 held-out images


def test_both_rules_are_registered_and_build_the_same_net(digits):
    assert {"fastsnn", "lif"} <= set(RULES)
    fast = get_rule("fastsnn", timesteps=20, hidden=(32,)).build("fc", digits.input_shape, 10)
    lif = get_rule("lif", timesteps=20, hidden=(32,)).build("fc", digits.input_shape, 10)
    assert isinstance(fast.layers["fc1"], FastLIFNeurons) and type(lif.layers["fc1"]) is LIFNeurons
    assert lif.layers["fc1"].params.reset == "subtract"
    for net in (fast, lif):
        assert isinstance(net.layers["out"], PeakIntegrator)
        assert net.layers["fc1"].params.leak == pytest.approx(0.904837, abs=1e-6)  # exp(-1/10)
        assert net.layers["out"].params.leak == pytest.approx(0.951229, abs=1e-6)  # exp(-1/20)
    with pytest.raises(ValueError, match="grad"):
        get_rule("fastsnn", grad="bogus")
    with pytest.raises(ValueError, match="hidden"):
        get_rule("lif", hidden=())


@pytest.mark.parametrize("method", ["fastsnn", "lif"])
def test_short_training_beats_chance(digits, method):
    torch.manual_seed(0)
    rule = get_rule(method, timesteps=30, hidden=(48,), weight_gain=6.0)
    net = rule.build("fc", digits.input_shape, digits.num_classes)
    net, summary = fit(rule, net, digits, TrainConfig(epochs=4, batch_size=60, lr=1e-2), progress=False)
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]
    assert summary["final_accuracy"] > 0.35  # chance is 0.1


def test_readout_is_the_max_potential_and_inputs_are_latency_coded(digits):
    rule = get_rule("fastsnn", timesteps=30, hidden=(16,))
    net = rule.build("fc", digits.input_shape, 10)
    x = digits.train.x[:4]
    spikes = rule.encode(x)
    assert spikes.dtype == torch.bool and spikes.shape == (30, 4, 1, 28, 28) and (spikes.sum(0) <= 1).all()
    out = rule.outputs(net, spikes)
    assert out.shape == (4, 10) and out.requires_grad
    from snnsim.engine import simulate

    rec = simulate(net, spikes, record_voltage=["out"])
    assert torch.allclose(out.detach(), rec.voltages["out"][-1], atol=1e-6)


@pytest.mark.parametrize("method", ["fastsnn", "lif"])
def test_cli_end_to_end(tmp_path, method):
    out = tmp_path / method
    rc = main(
        [
            "train",
            "--method",
            method,
            "--dataset",
            "digits",
            "--limit",
            "120",
            "--epochs",
            "2",
            "-T",
            "20",
            "--hidden",
            "24",
            "--lr",
            "0.01",
            "--set",
            "weight_gain=6",
            "--set",
            "enc_tau=10",
            "--out",
            str(out),
            "--no-progress",
            "--batch-size",
            "40",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == method and report["rule"]["hidden"] == [24] and report["rule"]["enc_tau"] == 10
    assert 0.0 <= report["final_accuracy"] <= 1.0 and len(report["epochs"]) == 2
    assert all(e["seconds"] > 0 for e in report["epochs"])
    assert set(report["spikes_per_neuron"]) == {"input", "fc1", "out"}
    if method == "fastsnn":
        assert report["spikes_per_neuron"]["fc1"] <= 1.0  # at most one spike per neuron
    assert report["encoder"]["encoder"] == "log_latency"
    net = load_network(out / "checkpoint")
    assert type(net.layers["fc1"]) is (FastLIFNeurons if method == "fastsnn" else LIFNeurons)


def test_cli_rejects_unknown_parameters(tmp_path):
    rc = main(
        [
            "train",
            "--method",
            "fastsnn",
            "--dataset",
            "digits",
            "--limit",
            "20",
            "--epochs",
            "1",
            "--set",
            "nonsense=1",
            "--out",
            str(tmp_path / "x"),
            "--no-progress",
        ]
    )
    assert rc == 2
