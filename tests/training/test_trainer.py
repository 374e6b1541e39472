"""The shared trainer: resume, checkpoints, the train command (SpikeBP as the example rule)."""

import json

import pytest
import torch

from snnsim.cli import main
from snnsim.data.datasets import load_dataset
from snnsim.methods.spikebp.rule import SpikeBP
from snnsim.training.trainer import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_resume_gives_same_weights_as_uninterrupted(tmp_path, digits):
    small = digits.__class__(
        digits.name, digits.train.subset(200), digits.test.subset(50), digits.num_classes, digits.input_shape
    )
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
    assert (
        main(
            [
                "train",
                "--method",
                "spikebp",
                "--net",
                "fc",
                "--hidden",
                "60",
                "-T",
                "10",
                "--epochs",
                "2",
                "--limit",
                "300",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert len(report["epochs"]) == 2 and report["train_time_s"] > 0
    assert set(report["spikes_per_neuron"]) == {"input", "fc1", "out"}
    accs = []
    for engine in ("fast", "bindsnet"):
        assert (
            main(
                [
                    "simulate",
                    "--checkpoint",
                    str(out / "checkpoint"),
                    "--limit",
                    "300",
                    "--engine",
                    engine,
                    "--out",
                    str(tmp_path / engine),
                    "--no-progress",
                ]
            )
            == 0
        )
        sim = json.loads((tmp_path / engine / "report.json").read_text())
        assert sim["encoder"] == "bernoulli" and sim["timesteps"] == 10
        accs.append(sim["accuracy"])
    assert accs[0] == accs[1]
    assert abs(accs[0] - report["simulated_accuracy"]) <= 0.1


def test_train_cli_bad_input(tmp_path, capsys):
    assert (
        main(["train", "--method", "spikebp", "--net", "vgg", "--out", str(tmp_path), "--no-progress", "--limit", "10"])
        == 2
    )
    assert "supports nets" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--method",
                "spikebp",
                "--resume",
                "--out",
                str(tmp_path / "empty"),
                "--no-progress",
                "--limit",
                "10",
            ]
        )
        == 2
    )


def test_resume_at_a_tie_stops_at_the_same_epoch(tmp_path, digits, monkeypatch):
    """Early stopping counts a tie with the best held-out accuracy as no improvement, before and
    after a resume (a resumed run used to restart the count at a tie and ran one epoch longer)."""
    import snnsim.training.trainer as trainer

    small = digits.__class__(
        digits.name, digits.train.subset(40), digits.test.subset(20), digits.num_classes, digits.input_shape
    )
    scripted = [0.5, 0.8, 0.8, 0.8, 0.8, 0.8]

    def run(out, epochs, done=0):
        accs = iter(scripted[done:])  # the held-out accuracies of the epochs still to run
        monkeypatch.setattr(trainer, "held_out_accuracy", lambda *a, **k: next(accs))
        torch.manual_seed(0)
        rule = SpikeBP(timesteps=2, hidden=(8,))
        cfg = TrainConfig(epochs=epochs, batch_size=20, lr=1e-3, seed=1, patience=2)
        _, summary = fit(
            rule,
            rule.build("fc", small.input_shape, small.num_classes),
            small,
            cfg,
            out=out,
            resume=done > 0,
            progress=False,
            verbose=False,
        )
        return [h["epoch"] for h in summary["history"]]

    assert run(tmp_path / "whole", 6) == [1, 2, 3, 4]  # 0.8 at epochs 3 and 4 ties the best: 2 stale
    assert run(tmp_path / "cut", 3) == [1, 2, 3]
    assert run(tmp_path / "cut", 6, done=3) == [1, 2, 3, 4]
