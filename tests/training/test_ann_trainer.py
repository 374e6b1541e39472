"""``snnsim train-ann`` through the shared trainer (snnsim.training.ann_rule.ANNRule + fit):
resume, schedule, early stopping, metrics.csv and history equal to ``snnsim train``'s, the
random streams of snnsim 0.2.0's train_ann, and ANN run directories of 0.2.0 still converting."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnsim.cli import main
from snnsim.data.datasets import load_dataset
from snnsim.training import trainer
from snnsim.training.ann import ann_accuracy, ann_fc, load_ann, train_ann

ROOT = Path(__file__).resolve().parents[2]
OLD_RUN = ROOT / "tests" / "data" / "ann_run_0_2"  # `snnsim train-ann` of main de1e129 (before this trainer)
# a small fc net on 200 digits: a few seconds per run on one thread
ARGS = [
    "train-ann",
    "--net",
    "fc",
    "--hidden",
    "16",
    "--dataset",
    "digits",
    "--limit",
    "200",
    "--batch-size",
    "32",
    "--lr",
    "3e-3",
    "--threads",
    "1",
    "--no-progress",
]


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_ann(directory).state_dict()


def metrics_header(run: Path) -> list[str]:
    with open(run / "metrics.csv", newline="") as f:
        return next(csv.reader(f))


def test_resume_of_an_interrupted_run_gives_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """Killed after epoch 1 of 3 (cosine schedule: its state must come back too), then --resume."""
    args = ARGS + ["--epochs", "3", "--schedule", "cosine"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0
    report = json.loads((tmp_path / "full" / "report.json").read_text())
    report_epoch = trainer._report_epoch

    def interrupt(row, *a):
        if row["epoch"] == 2:
            raise KeyboardInterrupt
        report_epoch(row, *a)

    monkeypatch.setattr(trainer, "_report_epoch", interrupt)
    assert main(args + ["--out", str(tmp_path / "cut")]) == 130
    monkeypatch.setattr(trainer, "_report_epoch", report_epoch)
    assert not (tmp_path / "cut" / "ann.json").exists()  # only the checkpoint of epoch 1 is left
    assert json.loads((tmp_path / "cut" / "checkpoint" / "ann.json").read_text())["extra"]["epoch"] == 1
    assert main(args + ["--out", str(tmp_path / "cut"), "--resume"]) == 0
    full, resumed = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
    again = json.loads((tmp_path / "cut" / "report.json").read_text())
    drop = ("seconds", "train_time_s", "samples_per_s", "checkpoint", "torch_threads", "cpu_count")
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in again["history"]] == [
        {k: v for k, v in h.items() if k != "seconds"} for h in report["history"]
    ]
    assert {k: v for k, v in again.items() if k not in drop + ("history",)} == {
        k: v for k, v in report.items() if k not in drop + ("history",)
    }


def test_resume_refuses_other_settings_and_a_new_run_does_not_replace_one(tmp_path, capsys):
    out = ["--out", str(tmp_path / "run")]
    assert main(ARGS + ["--epochs", "1"] + out) == 0
    capsys.readouterr()
    assert main(ARGS + ["--epochs", "2", "--dropout", "0.2", "--resume"] + out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dropout 0.2 (checkpoint: 0.5)" in err
    assert main(ARGS + ["--epochs", "1", "--optimizer", "sgd"] + out) == 2  # a new run over another one
    assert "optimizer 'sgd' (checkpoint: 'adam')" in capsys.readouterr().err
    assert main(ARGS + ["--epochs", "1", "--optimizer", "sgd", "--overwrite"] + out) == 0
    assert main(ARGS + ["--epochs", "1", "--resume", "--overwrite"] + out) == 2
    assert main(ARGS + ["--epochs", "1", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


def test_cosine_schedule_changes_the_learning_rate(tmp_path):
    assert main(ARGS + ["--epochs", "3", "--out", str(tmp_path / "none")]) == 0
    assert main(ARGS + ["--epochs", "3", "--schedule", "cosine", "--out", str(tmp_path / "cos")]) == 0
    flat = json.loads((tmp_path / "none" / "report.json").read_text())["history"]
    cos = json.loads((tmp_path / "cos" / "report.json").read_text())["history"]
    assert [h["lr"] for h in flat] == [3e-3] * 3
    want = [3e-3 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]  # CosineAnnealingLR, T_max = epochs
    assert [h["lr"] for h in cos] == pytest.approx(want, rel=1e-9)
    assert flat[0]["train_loss"] == cos[0]["train_loss"]  # epoch 1 at the same lr: the same arithmetic
    assert flat[-1]["train_loss"] != cos[-1]["train_loss"]
    a, b = weights(tmp_path / "none"), weights(tmp_path / "cos")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_early_stopping_ends_the_run(tmp_path):
    """At lr 1e-12 the held-out accuracy never improves: with --patience 2 the run stops after
    epoch 3 (epochs 2 and 3 tie with epoch 1), not after the 6 epochs asked for."""
    out = tmp_path / "run"
    assert main(ARGS + ["--epochs", "6", "--lr", "1e-12", "--patience", "2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == [1, 2, 3] and report["epochs_run"] == 3
    assert len(set(h["test_accuracy"] for h in report["history"])) == 1
    assert len((out / "metrics.csv").read_text().splitlines()) == 4
    assert json.loads((out / "ann.json").read_text())["extra"]["epochs"] == 3


def test_metrics_csv_and_history_have_the_columns_of_snnsim_train(tmp_path):
    assert main(ARGS + ["--epochs", "1", "--tensorboard", "--out", str(tmp_path / "ann")]) == 0
    assert (
        main(
            [
                "train",
                "--method",
                "spikebp",
                "--net",
                "fc",
                "--hidden",
                "8",
                "-T",
                "2",
                "--limit",
                "40",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "snn"),
            ]
        )
        == 0
    )
    assert metrics_header(tmp_path / "ann") == metrics_header(tmp_path / "snn")
    ann = json.loads((tmp_path / "ann" / "report.json").read_text())
    snn = json.loads((tmp_path / "snn" / "report.json").read_text())
    assert list(ann["history"][0]) == list(snn["epochs"][0]) == metrics_header(tmp_path / "snn")
    assert ann["test_accuracy"] == ann["history"][-1]["test_accuracy"] == ann["final_accuracy"]
    pytest.importorskip("tensorboard")
    assert any((tmp_path / "ann" / "tensorboard").iterdir())


def test_train_ann_api_keeps_main_s_random_streams():
    """The Python API goes through fit too, with one random stream per run as before: a
    copy of main's loop (de1e129, inlined here) gives the same weights bit for bit."""
    data = load_dataset("digits", limit=150)

    def fresh():
        torch.manual_seed(0)
        return ann_fc(data.input_shape, data.num_classes, hidden=(16,))

    model = fresh()
    hist = train_ann(model, data.train, epochs=2, lr=3e-3, batch_size=32, seed=4, progress=False, verbose=False)
    old = fresh()
    torch.manual_seed(4)
    gen = torch.Generator().manual_seed(4)
    opt = torch.optim.Adam(old.parameters(), lr=3e-3)
    losses = []
    for _ in range(2):
        old.train()
        total = 0.0
        for x, y in data.train.batches(32, shuffle=True, generator=gen):
            loss = torch.nn.functional.cross_entropy(old(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * x.shape[0]
        losses.append(total / len(data.train))
    for key, value in old.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    assert [h["train_loss"] for h in hist] == pytest.approx(losses, rel=1e-12)


def test_an_ann_run_of_snnsim_0_2_still_loads_and_converts(tmp_path):
    """tests/data/ann_run_0_2 was written by ``snnsim train-ann --net fc --hidden 16 --dataset
    digits --epochs 2 --threads 1`` at main de1e129, before train-ann went through fit."""
    old_report = json.loads((OLD_RUN / "report.json").read_text())
    model = load_ann(OLD_RUN)
    assert ann_accuracy(model, load_dataset("digits").test) == old_report["test_accuracy"]
    out = tmp_path / "conv"
    assert (
        main(
            [
                "convert",
                "--ann",
                str(OLD_RUN),
                "--dataset",
                "digits",
                "--limit",
                "40",
                "--norm",
                "data",
                "-T",
                "10",
                "--calib-samples",
                "40",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((out / "report.json").read_text())["ann_accuracy"] == ann_accuracy(
        model, load_dataset("digits", limit=40).test
    )


def test_the_trainer_checkpoint_is_an_ann_checkpoint_that_converts(tmp_path):
    run = tmp_path / "run"
    assert main(ARGS + ["--epochs", "1", "--out", str(run)]) == 0
    final, ckpt = weights(run), weights(run / "checkpoint")
    assert all(torch.equal(final[k], ckpt[k]) for k in final)
    assert (
        main(
            [
                "convert",
                "--ann",
                str(run / "checkpoint"),
                "--dataset",
                "digits",
                "--limit",
                "20",
                "--norm",
                "model",
                "-T",
                "5",
                "--out",
                str(tmp_path / "conv"),
                "--no-progress",
            ]
        )
        == 0
    )


def test_two_ranks_equal_one_process(tmp_path):
    """--distributed on 2 gloo ranks gives the weights of one process (without dropout: nn.Dropout
    draws each rank's masks from its own copy of the stream)."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    from tests.training.test_distributed import ENV, free_port

    args = ARGS + ["--epochs", "2", "--dropout", "0", "--limit", "61"]  # batches of 32 and 29 (15/14)
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    res = subprocess.run(
        [
            torchrun,
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            "-m",
            "snnsim",
            *args,
            "--out",
            str(tmp_path / "two"),
            "--distributed",
            "--dist-timeout",
            "120",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key in one:
        assert torch.allclose(one[key], two[key], rtol=0, atol=1e-6), (key, (one[key] - two[key]).abs().max())
    a = json.loads((tmp_path / "one" / "report.json").read_text())
    b = json.loads((tmp_path / "two" / "report.json").read_text())
    assert b["world_size"] == 2 and [h["train_accuracy"] for h in a["history"]] == [
        h["train_accuracy"] for h in b["history"]
    ]
