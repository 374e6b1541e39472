"""Diehl & Cook STDP training: resume to the same weights, command line, receptive-field plot."""

import json
from types import SimpleNamespace

import pytest
import torch

from snnsim.cli import main
from snnsim.errors import UserError
from snnsim.methods.stdp import training as stdp
from snnsim.methods.stdp.plots import weight_mosaic


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 6, 6, generator=g)
    split = SimpleNamespace(x=x, y=torch.randint(0, 3, (n,), generator=g))
    return SimpleNamespace(train=split, test=split, num_classes=3, input_shape=(1, 6, 6))


def _cfg():
    return stdp.STDPConfig(
        n_neurons=6,
        timesteps=40,
        max_rate=300.0,
        epochs=2,
        exc=30.0,
        update_interval=9,
        checkpoint_every=7,
        label_samples=20,
        min_spikes=2,
    ).check()


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    data, cfg = _data(), _cfg()
    whole = stdp.build(cfg, 36)
    state = stdp.train(whole, data, cfg, out=tmp_path / "a", progress=False)
    assert state.images_seen == 80 and state.history
    part = stdp.build(cfg, 36)
    stopped = stdp.train(part, data, cfg, out=tmp_path / "b", progress=False, stop_after=31)
    assert stopped.images_seen == 31
    resumed = stdp.build(cfg, 36)  # a fresh process: the initial weights, then the checkpoint
    state_b = stdp.train(resumed, data, cfg, out=tmp_path / "b", resume=True, progress=False)
    assert torch.equal(stdp.input_weights(whole), stdp.input_weights(resumed))
    assert torch.equal(whole.layers["Ae"].theta, resumed.layers["Ae"].theta)
    strip = [[{k: v for k, v in row.items() if k != "elapsed_s"} for row in st.history] for st in (state, state_b)]
    assert strip[0] == strip[1]  # the same windows, labels and accuracies
    assert not torch.equal(stdp.input_weights(whole), stdp.input_weights(stdp.build(cfg, 36)))
    with pytest.raises(UserError, match="other settings"):
        other = stdp.STDPConfig(**{**cfg.__dict__, "n_neurons": 6, "theta_plus": 0.1}).check()
        stdp.train(stdp.build(other, 36), data, other, out=tmp_path / "b", resume=True, progress=False)


def test_label_and_evaluate_reads_out_counts():
    data, cfg = _data(30, seed=1), _cfg()
    net = stdp.build(cfg, 36)
    stdp.train(net, data, cfg, progress=False, stop_after=20)
    w = stdp.input_weights(net).clone()
    ev = stdp.label_and_evaluate(net, data, cfg, progress=False)
    assert 0.0 <= ev["accuracy_all_activity"] <= 1.0 and len(ev["assignments"]) == 6
    assert torch.equal(w, stdp.input_weights(net))  # learning off while labelling and testing


def test_weight_mosaic_places_each_field():
    w = torch.arange(4 * 5, dtype=torch.float32).reshape(4, 5)  # 4 inputs (2 x 2), 5 neurons
    m = weight_mosaic(w, (2, 2))
    assert m.shape == (2 * 3, 3 * 3)
    assert torch.equal(m[0:2, 3:5], w[:, 1].reshape(2, 2))  # neuron 1: row 0, column 1
    assert torch.isnan(m[2, 0]) and torch.isnan(m[3:5, 6:8]).all()  # padding, empty 6th cell


def test_command_line_train_resume_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SNNSIM_PROGRESS", "0")
    out = tmp_path / "run"
    args = [
        "train",
        "--method",
        "stdp",
        "--neurons",
        "8",
        "--epochs",
        "1",
        "--dataset",
        "digits",
        "--limit",
        "30",
        "--timesteps",
        "40",
        "--set",
        "update_interval=10",
        "--set",
        "label_samples=10",
        "--set",
        "max_rate=200",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "stdp" and report["images_trained"] == 30 and report["train_images_per_s"] > 0
    assert (out / "weights.png").is_file() and (out / "checkpoint" / "stdp.pt").is_file()
    assert main(args + ["--resume"]) == 0  # nothing left to train: the same weights, evaluated again
    assert json.loads((out / "report.json").read_text())["images_trained"] == 30
    (out / "weights.png").unlink()
    assert main(["plot", str(out), "--kind", "weights"]) == 0
    assert (out / "weights.png").is_file()
    assert main(["view", str(out), "--html", str(tmp_path / "page.html")]) == 0
    page = (tmp_path / "page.html").read_text()
    assert "snnsim-extra-0" in page and "input weights of 8 excitatory neurons" in page
    assert main(args[:-1] + [str(tmp_path / "x"), "--set", "bogus=1"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_checkpoint_is_a_sealed_network_checkpoint(tmp_path):
    """The run's checkpoint is an ordinary sealed network checkpoint (load_network reads the learned
    weights and thresholds) whose state file is checksum-bound and read without unpickling code."""
    from snnsim.core.io import load_network

    data, cfg = _data(20), _cfg()
    net = stdp.build(cfg, 36)
    stdp.train(net, data, cfg, out=tmp_path, progress=False, stop_after=12)
    loaded = load_network(tmp_path / "checkpoint")
    assert torch.equal(stdp.input_weights(loaded), stdp.input_weights(net))
    assert torch.equal(loaded.layers["Ae"].theta, net.layers["Ae"].theta)
    state_file = tmp_path / "checkpoint" / stdp.CKPT_NAME
    blob = bytearray(state_file.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    state_file.write_bytes(bytes(blob))
    with pytest.raises(UserError, match="checksum|sha256|does not match|changed"):
        stdp.train(stdp.build(cfg, 36), data, cfg, out=tmp_path, resume=True, progress=False)


def test_command_line_refuses_to_replace_another_run(tmp_path, capsys, monkeypatch):
    """train --method stdp over a run with other settings, or over another method's run, stops with
    one line unless --overwrite (issue 30's rule for every train command)."""
    monkeypatch.setenv("SNNSIM_PROGRESS", "0")
    out = tmp_path / "run"
    base = [
        "train",
        "--method",
        "stdp",
        "--neurons",
        "4",
        "--epochs",
        "1",
        "--dataset",
        "digits",
        "--limit",
        "12",
        "--timesteps",
        "20",
        "--set",
        "update_interval=6",
        "--set",
        "label_samples=6",
        "--out",
        str(out),
    ]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--set", "theta_plus=0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "--overwrite" in err[0], err
    assert main([*base, "--set", "theta_plus=0.1", "--overwrite"]) == 0
    other = tmp_path / "lif"
    assert (
        main(
            [
                "train",
                "--method",
                "lif",
                "--dataset",
                "digits",
                "--limit",
                "20",
                "--epochs",
                "1",
                "-T",
                "5",
                "--no-progress",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main([*base[:-1], str(other)]) == 2
    assert "another method" in capsys.readouterr().err
