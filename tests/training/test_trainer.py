"""Learning-rule interface, SpikeBP and the shared trainer."""
import json

import pytest
import torch

from snnsim.cli import main
from snnsim.data.datasets import load_dataset
from snnsim.methods.spikebp.rule import SpikeBP
from snnsim.training import get_rule
from snnsim.training.trainer import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_spikebp_training_lowers_loss_and_beats_chance(digits):
    torch.manual_seed(0)
    rule = SpikeBP(timesteps=15, hidden=(100,))
    net = rule.build("fc", digits.input_shape, digits.num_classes)
    net, summary = fit(rule, net, digits, TrainConfig(epochs=4, batch_size=32, lr=2e-3), progress=False)
    hist = summary["history"]
    assert hist[-1]["train_loss"] < 0.6 * hist[0]["train_loss"]
    assert summary["final_accuracy"] > 0.6  # chance is 0.1


def test_gradients_reach_every_layer_of_lenet(digits):
    rule = SpikeBP(timesteps=8, batchnorm=True)
    net = rule.build("lenet", digits.input_shape, digits.num_classes)
    x, y = digits.train.x[:6], digits.train.y[:6]
    loss = rule.loss(rule.outputs(net, rule.encode(x)), y)
    loss.backward()
    for (src, tgt), conn in net.connections.items():
        for m in conn.weighted:
            assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0, f"no gradient into {src}->{tgt}"


def test_spikebp_settings():
    rule = SpikeBP(timesteps=10)
    net = rule.build("fc", (1, 28, 28), 10)
    assert [type(l).__name__ for l in net.layers.values()] == ["Input", "LIFNeurons", "Integrator"]
    assert net.layers["fc1"].params.leak == 0.99 and net.layers["fc1"].params.reset == "zero"
    assert net.layers["out"].params.leak == 1.0
    assert net.connections[("fc1", "out")].ops[0] == {"op": "dropout", "p": 0.2}
    x = torch.full((2000, 1, 1, 1), 0.6)
    assert rule.encode(x).float().mean().item() == pytest.approx(0.3, abs=0.01)  # p = x / 2
    with pytest.raises(ValueError, match="supports nets"):
        rule.build("scnn", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="unknown method"):
        get_rule("hebb")


def test_mse_loss_by_hand():
    rule = SpikeBP(timesteps=5)
    out = torch.tensor([[0.5, 0.2], [0.1, 0.9]])
    y = torch.tensor([0, 1])
    # 0.5 * ((0.5-1)^2 + 0.2^2) = 0.145 ; 0.5 * (0.1^2 + (0.9-1)^2) = 0.01 ; mean 0.0775
    assert rule.loss(out, y).item() == pytest.approx(0.0775)


def test_resume_gives_same_weights_as_uninterrupted(tmp_path, digits):
    small = digits.__class__(digits.name, digits.train.subset(200), digits.test.subset(50),
                             digits.num_classes, digits.input_shape)
    cfg = TrainConfig(epochs=2, batch_size=50, lr=1e-3, seed=3)

    def fresh():
        torch.manual_seed(0)
        rule = SpikeBP(timesteps=6, hidden=(40,))
        return rule, rule.build("fc", small.input_shape, small.num_classes)

    rule, net = fresh()
    full, _ = fit(rule, net, small, cfg, out=tmp_path / "a", progress=False)
    rule, net = fresh()
    fit(rule, net, small, TrainConfig(**{**cfg.__dict__, "epochs": 1}), out=tmp_path / "b", progress=False)
    rule, net = fresh()
    resumed, summary = fit(rule, net, small, cfg, out=tmp_path / "b", resume=True, progress=False)
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    for key, value in full.state_dict().items():
        if key.endswith("weight"):
            assert torch.equal(value, resumed.state_dict()[key]), key
    assert (tmp_path / "b" / "metrics.csv").read_text().count("\n") == 3


def test_train_cli_checkpoint_runs_in_bindsnet_engine(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--method", "spikebp", "--net", "fc", "--hidden", "60", "-T", "10", "--epochs", "2",
                 "--limit", "300", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["epochs"]) == 2 and report["train_time_s"] > 0
    assert set(report["spikes_per_neuron"]) == {"input", "fc1", "out"}
    accs = []
    for engine in ("fast", "bindsnet"):
        assert main(["simulate", "--checkpoint", str(out / "checkpoint"), "--limit", "300", "--engine", engine,
                     "--out", str(tmp_path / engine), "--no-progress"]) == 0
        sim = json.loads((tmp_path / engine / "report.json").read_text())
        assert sim["encoder"] == "bernoulli" and sim["timesteps"] == 10
        accs.append(sim["accuracy"])
    assert accs[0] == accs[1]
    assert abs(accs[0] - report["simulated_accuracy"]) <= 0.1


def test_train_cli_bad_input(tmp_path, capsys):
    assert main(["train", "--method", "spikebp", "--net", "vgg", "--out", str(tmp_path), "--no-progress",
                 "--limit", "10"]) == 2
    assert "supports nets" in capsys.readouterr().err
    assert main(["train", "--method", "spikebp", "--resume", "--out", str(tmp_path / "empty"), "--no-progress",
                 "--limit", "10"]) == 2
