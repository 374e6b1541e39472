"""``snnsim train/simulate --dataset nmnist|shd`` end to end on small files in the real formats,
and bad event data, methods or encoders answered with one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnsim.cli import main
from snnsim.data.events import tonic_available
from tests.event_files import write_nmnist, write_shd

FAST = ["--epochs", "2", "-T", "20", "--hidden", "32", "--batch-size", "16", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nmnist(tmp_path_factory.mktemp("nmnist"), range(3), {"Train": 12, "Test": 4})


@pytest.fixture(scope="module")
def trained(nmnist: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    assert (
        main(
            [
                "train",
                "--method",
                "fastsnn",
                "--dataset",
                "nmnist",
                "--data-root",
                str(nmnist),
                "--out",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    return out, json.loads((out / "report.json").read_text())


def test_train_on_nmnist_writes_an_events_checkpoint(trained: tuple[Path, dict]) -> None:
    out, report = trained
    assert report["dataset"] == "nmnist" and report["encoder"] == {"encoder": "events", "timesteps": 20}
    assert report["rule"]["encoding"] == "events" and report["bin_us"] == 15_000.0  # 300 ms / 20
    meta = json.loads((out / "checkpoint" / "network.json").read_text())
    assert meta["extra"]["encoder"] == "events" and meta["extra"]["bin_us"] == 15_000.0
    assert report["simulated_accuracy"] > 0.5  # 3 classes: chance 1/3
    rec = torch.load(out / "record.pt", weights_only=True)
    assert rec["spikes"]["input"].shape == (20, 4, 2, 34, 34)


@pytest.mark.parametrize("engine", ["fast", "bindsnet"])
def test_simulate_checkpoint_on_the_same_data(
    trained: tuple[Path, dict], nmnist: Path, tmp_path: Path, engine: str
) -> None:
    run, report = trained
    out = tmp_path / engine
    assert (
        main(
            [
                "simulate",
                "--checkpoint",
                str(run / "checkpoint"),
                "--dataset",
                "nmnist",
                "--data-root",
                str(nmnist),
                "--engine",
                engine,
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    sim = json.loads((out / "report.json").read_text())
    assert sim["encoder"] == "events" and sim["timesteps"] == 20 and sim["bin_us"] == 15_000.0
    assert sim["samples"] == 12 and sim["accuracy"] == pytest.approx(report["simulated_accuracy"])


def test_train_and_resume_lif_on_shd(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    root = write_shd(tmp_path / "shd", range(3), {"train": 8, "test": 4})
    argv = ["train", "--method", "lif", "--dataset", "shd", "--data-root", str(root), "--out", str(tmp_path / "r")]
    assert main([*argv, *FAST, "--bin-us", "40000"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["bin_us"] == 40_000.0 and report["num_classes"] == 20 and report["rule"]["weight_gain"] == 1.0
    fast = [a if a != "2" else "3" for a in FAST]  # one more epoch, resumed
    assert main([*argv, *fast, "--bin-us", "40000", "--resume"]) == 0
    assert len(json.loads((tmp_path / "r" / "report.json").read_text())["epochs"]) == 3


def _one_line(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_event_files_end_with_one_line(nmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_nmnist(tmp_path / "nm", [0, 1], {"Train": 2, "Test": 1})
    bad = root / "Test" / "1" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-3])
    train = ["train", "--method", "lif", "--dataset", "nmnist", *FAST]
    err = _one_line([*train, "--data-root", str(root), "--out", str(tmp_path / "a")], capsys)
    assert str(bad) in err and "5-byte" in err
    err = _one_line([*train, "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "b")], capsys)
    assert "no N-MNIST split" in err
    shd = tmp_path / "shd"
    shd.mkdir()
    (shd / "shd_train.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))  # an HDF5 signature, then nothing
    err = _one_line(
        ["train", "--method", "lif", "--dataset", "shd", "--data-root", str(shd), "--out", str(tmp_path / "c"), *FAST],
        capsys,
    )
    assert str(shd / "shd_train.h5") in err


def test_methods_and_encoders_that_do_not_fit_event_data(
    nmnist: Path, trained: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = ["--dataset", "nmnist", "--data-root", str(nmnist)]
    err = _one_line(["train", "--method", "spikebp", *data, "--out", str(tmp_path / "a"), *FAST], capsys)
    assert "--method fastsnn or lif" in err
    err = _one_line(
        ["train", "--method", "lif", "--encoding", "rows", *data, "--out", str(tmp_path / "b"), *FAST], capsys
    )
    assert "--encoding events" in err
    err = _one_line(
        [
            "train",
            "--method",
            "lif",
            "--encoding",
            "events",
            "--dataset",
            "digits",
            "--out",
            str(tmp_path / "c"),
            *FAST,
        ],
        capsys,
    )
    assert "needs an event dataset" in err
    err = _one_line(
        [
            "simulate",
            "--checkpoint",
            str(trained[0] / "checkpoint"),
            "--dataset",
            "digits",
            "--out",
            str(tmp_path / "d"),
            "--no-progress",
        ],
        capsys,
    )
    assert "events encoder" in err
    err = _one_line(
        ["simulate", "--net", "fc", *data, "--encoder", "poisson", "--out", str(tmp_path / "e"), "--no-progress"],
        capsys,
    )
    assert "events encoder" in err
    if not tonic_available():  # --tonic without the package: one line saying what to install
        err = _one_line(
            [
                "simulate",
                "--checkpoint",
                str(trained[0] / "checkpoint"),
                *data,
                "--tonic",
                "--out",
                str(tmp_path / "f"),
                "--no-progress",
            ],
            capsys,
        )
        assert "pip install tonic" in err


def test_simulate_longer_keeps_the_trained_bin_width(trained: tuple[Path, dict], nmnist: Path, tmp_path: Path) -> None:
    """-T 30 on a T = 20 checkpoint: 30 bins of the checkpoint's 15 ms (450 ms of events)."""
    out = tmp_path / "long"
    assert (
        main(
            [
                "simulate",
                "--checkpoint",
                str(trained[0] / "checkpoint"),
                "--dataset",
                "nmnist",
                "--data-root",
                str(nmnist),
                "-T",
                "30",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    sim = json.loads((out / "report.json").read_text())
    assert sim["timesteps"] == 30 and sim["bin_us"] == 15_000.0
    assert torch.load(out / "record.pt", weights_only=True)["spikes"]["input"].shape[0] == 30


def test_event_data_page_runs_and_its_commands_parse(capsys: pytest.CaptureFixture) -> None:
    """docs/guide/event-data.md: its python block runs, and every bash line is a valid snnsim command."""
    import re
    import shlex

    from snnsim.cli.parsers import build_parser

    text = (Path(__file__).parents[2] / "docs" / "guide" / "event-data.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    exec(compile(code, "event-data.md", "exec"), {})  # noqa: S102  (the page's own example)
    assert capsys.readouterr().out.strip() == "torch.Size([20, 2, 2, 34, 34]) [0, 1] 14"  # 200 ms in 15 ms bins
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL) for line in block.strip().splitlines()]
    assert len(lines) == 5
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "snnsim" and build_parser().parse_args(argv[1:]).command in ("train", "simulate")
