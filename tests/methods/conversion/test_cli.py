"""``snnsim train-ann`` and ``snnsim convert`` end to end on a small digits subset."""

import json

import pytest
import torch

from snnsim.cli import main
from snnsim.core.io import load_network
from snnsim.training.ann import load_ann

DATA = ["--dataset", "digits", "--limit", "300"]


@pytest.fixture(scope="module")
def ann_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ann")
    rc = main(
        [
            "train-ann",
            "--net",
            "fc",
            *DATA,
            "--epochs",
            "2",
            "--lr",
            "1e-3",
            "--batch-size",
            "32",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return out


def test_train_ann_writes_checkpoint_and_report(ann_dir):
    report = json.loads((ann_dir / "report.json").read_text())
    assert report["command"] == "train-ann" and report["net"] == "fc"
    assert [h["epoch"] for h in report["history"]] == [1, 2]
    assert list(report["history"][0]) == ["epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"]
    assert report["test_accuracy"] > 0.2  # learning (10 classes): the conversion tests below need a live ANN
    model = load_ann(ann_dir)
    assert model.net == "fc" and model.input_shape == (1, 28, 28)


def test_convert_all_norms(ann_dir, tmp_path):
    out = tmp_path / "conv"
    rc = main(
        [
            "convert",
            "--ann",
            str(ann_dir),
            "--dataset",
            "digits",
            "--limit",
            "100",
            "--norm",
            "all",
            "-T",
            "20",
            "--calib-samples",
            "100",
            "--reset",
            "subtract",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    norms = ["none", "model", "data", "percentile"]
    for key in (
        "snn_accuracy",
        "accuracy_vs_time",
        "norm_factors",
        "spikes_per_neuron",
        "samples_per_s",
        "steps_to_90pct",
    ):
        assert list(report[key]) == norms, key
    assert 0 <= report["ann_accuracy"] <= 1
    assert report["accuracy_vs_time"]["data"]["20"] == report["snn_accuracy"]["data"]
    assert "1" in report["accuracy_vs_time"]["data"]
    assert list(report["norm_factors"]["data"]) == ["fc1", "fc2", "out"]
    assert report["norm_factors"]["none"] == {"fc1": 1.0, "fc2": 1.0, "out": 1.0}
    assert report["calib_samples"] == 100
    assert (out / "accuracy_vs_time.png").stat().st_size > 1000
    net = load_network(out / "snn")
    assert list(net.layers) == ["input", "fc1", "fc2", "out"]
    rec = torch.load(out / "record.pt", weights_only=True)
    assert rec["spikes"]["out"].shape == (20, 4, 10) and rec["labels"].shape == (4,)
    # the saved SNN runs with `snnsim simulate`
    assert (
        main(
            [
                "simulate",
                "--checkpoint",
                str(out / "snn"),
                *DATA,
                "-T",
                "10",
                "--out",
                str(tmp_path / "sim"),
                "--no-progress",
            ]
        )
        == 0
    )


def test_convert_trains_first(tmp_path):
    out = tmp_path / "conv"
    rc = main(
        [
            "convert",
            "--net",
            "fc",
            "--dataset",
            "digits",
            "--limit",
            "100",
            "--epochs",
            "1",
            "--norm",
            "data",
            "--encoder",
            "current",
            "--threshold-balancing",
            "--output",
            "integrator",
            "-T",
            "10",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["snn_accuracy"]) == ["data"] and report["output"] == "integrator"
    assert len(report["ann_history"]) == 1 and (out / "ann" / "ann.json").is_file()


def test_bad_options_exit_2(ann_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["convert", "--ann", str(ann_dir), "--norm", "max", "--out", str(tmp_path)])
    assert err.value.code == 2
    with pytest.raises(SystemExit) as err:
        main(["train-ann", "--net", "resnet19", "--out", str(tmp_path)])
    assert err.value.code == 2
    rc = main(
        [
            "convert",
            "--ann",
            str(ann_dir),
            *DATA,
            "--encoder",
            "current",
            "--max-rate",
            "100",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert rc == 2 and "max-rate" in capsys.readouterr().err
    rc = main(["convert", "--ann", str(tmp_path / "nothing"), *DATA, "--out", str(tmp_path / "y")])
    assert rc == 2
    with pytest.raises(SystemExit) as err:
        main(["convert", "--ann", str(ann_dir), "--percentile", "0", "--out", str(tmp_path / "z")])
    assert err.value.code == 2


def test_convert_tuned_unnormalised_baseline(ann_dir, tmp_path):
    out = tmp_path / "tuned"
    rc = main(
        [
            "convert",
            "--ann",
            str(ann_dir),
            "--dataset",
            "digits",
            "--limit",
            "100",
            "--norm",
            "data",
            "-T",
            "15",
            "--calib-samples",
            "100",
            "--tune-none",
            "--tune-thresholds",
            "1,3",
            "--tune-rates",
            "250,1000",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    tuned = report["none_tuned"]
    grid = tuned["grid"]
    assert [(g["threshold"], g["max_rate"]) for g in grid] == [(1, 250), (1, 1000), (3, 250), (3, 1000)]
    best = max(grid, key=lambda g: (g["accuracy"], -(g["steps_to_90pct"] or 99)))
    assert (tuned["threshold"], tuned["max_rate"], tuned["accuracy"]) == (
        best["threshold"],
        best["max_rate"],
        best["accuracy"],
    )
    assert list(report["snn_accuracy"]) == ["data", "none-tuned"]
    assert report["snn_accuracy"]["none-tuned"] == tuned["accuracy"]
    assert report["accuracy_vs_time"]["none-tuned"]["15"] == tuned["accuracy"]
    assert set(report["thresholds"]["none-tuned"].values()) == {tuned["threshold"]}
    assert report["best_norm"] == "data"  # the saved SNN is one of the --norm runs
    assert (out / "tune_grid.png").stat().st_size > 1000
    # the global threshold option reaches every IF layer
    rc = main(
        [
            "convert",
            "--ann",
            str(ann_dir),
            *DATA,
            "--norm",
            "none",
            "-T",
            "5",
            "--threshold",
            "2.5",
            "--out",
            str(tmp_path / "t"),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "t" / "report.json").read_text())
    assert set(report["thresholds"]["none"].values()) == {2.5} and report["threshold"] == 2.5


def test_tune_rates_need_poisson(ann_dir, tmp_path, capsys):
    rc = main(
        [
            "convert",
            "--ann",
            str(ann_dir),
            *DATA,
            "--encoder",
            "current",
            "--tune-none",
            "--tune-rates",
            "100",
            "--out",
            str(tmp_path / "x"),
            "--no-progress",
        ]
    )
    assert rc == 2 and "--tune-rates" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main(["convert", "--ann", str(ann_dir), "--tune-thresholds", "1,-2", "--out", str(tmp_path / "y")])
    assert err.value.code == 2
