"""End-to-end tests of ``snnsim plot`` and ``snnsim view`` on a run made by ``snnsim simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from analysis import load_run
from snnsim.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("run")
    rc = main(
        [
            "simulate",
            "--net",
            "scnn",
            "--out",
            str(out),
            "--limit",
            "12",
            "-T",
            "20",
            "--batch-size",
            "12",
            "--no-progress",
            "--threads",
            "2",
        ]
    )
    assert rc == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in ("report.json", "record.pt"):
        (dst / f).write_bytes((src / f).read_bytes())
    return dst


def test_plot_all_writes_every_available_plot(run_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d = copy_run(run_dir, tmp_path / "r")
    capsys.readouterr()
    assert main(["plot", str(d), "--kind", "all", "--sample", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "skipped accuracy: report.json has no accuracy_vs_time (an untrained simulate run has none)" in out
    # an untrained run has no confusion matrix in its report, and 4 recorded samples make none
    assert any(
        line.startswith("skipped confusion: report.json has no confusion matrix and record.pt holds only 4 samples")
        for line in out
    )
    written = [Path(line) for line in out if not line.startswith("skipped")]
    names = sorted(p.name for p in written)
    assert names == sorted(["raster_s1.png", "rates.png", "rate_hist.png", "traces_s1.png", "ttfs.png"])
    for p in written:
        assert p.parent == d and p.read_bytes()[:8] == PNG


def test_plot_explicit_kinds_and_missing_pieces(run_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d = copy_run(run_dir, tmp_path / "r")
    assert main(["plot", str(d), "--kind", "accuracy"]) == 2
    assert "cannot plot accuracy: report.json has no accuracy_vs_time" in capsys.readouterr().err
    report = json.loads((d / "report.json").read_text())
    report["accuracy_vs_time"] = {"max": {"1": 0.1, "10": 0.5, "20": 0.7}, "p99.9": {"1": 0.2, "20": 0.9}}
    (d / "report.json").write_text(json.dumps(report))
    assert main(["plot", str(d), "--kind", "accuracy", "--format", "svg", "--log-x", "--ann-acc", "0.95"]) == 0
    assert capsys.readouterr().out.strip() == str(d / "accuracy.svg")
    assert "<svg" in (d / "accuracy.svg").read_text()
    data = torch.load(d / "record.pt", weights_only=True)
    data["voltages"] = {}
    torch.save(data, d / "record.pt")
    assert main(["plot", str(d), "--kind", "traces"]) == 2
    assert "no membrane potentials" in capsys.readouterr().err
    assert main(["plot", str(d)]) == 0
    assert "skipped traces: record.pt holds no membrane potentials" in capsys.readouterr().out
    assert main(["plot", str(d), "--kind", "raster", "--sample", "99"]) == 2
    assert "sample must be in [0, 3]" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_plot_rates_use_the_whole_run(run_dir: Path, tmp_path: Path) -> None:
    d = copy_run(run_dir, tmp_path / "r")
    import argparse

    from snnsim.cli.plot import PLOTS

    args = argparse.Namespace(unit="step", layers=None)
    _, fig = PLOTS["rates"](load_run(d), args)
    report = json.loads((d / "report.json").read_text())
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([v / 20 for v in report["spikes_per_neuron"].values()])


def test_plot_reads_per_run_reports(run_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A convert-style report: one accuracy curve, rates and thresholds per normalisation."""
    from snnsim.cli.plot import run_thresholds

    d = copy_run(run_dir, tmp_path / "r")
    report = json.loads((d / "report.json").read_text())
    spn = report["spikes_per_neuron"]
    report.update(
        command="convert",
        best_norm="data",
        accuracy_vs_time={"data": {"1": 0.5, "20": 0.9}},
        spikes_per_neuron={"data": spn, "max": {k: v / 2 for k, v in spn.items()}},
        thresholds={"max": {"conv1": 2.0}, "data": {"conv1": 0.7, "conv2": 0.8}},
    )
    (d / "report.json").write_text(json.dumps(report))
    assert run_thresholds(load_run(d)) == {"conv1": 0.7, "conv2": 0.8}
    assert main(["plot", str(d), "--kind", "rates", "--layers", "conv1", "conv2"]) == 0
    assert main(["plot", str(d), "--kind", "accuracy"]) == 0
    assert main(["plot", str(d), "--kind", "traces", "--layers", "conv2"]) == 0
    assert main(["plot", str(d), "--kind", "rates", "--layers", "nope"]) == 2
    assert "not in the run" in capsys.readouterr().err
    report["thresholds"] = None
    (d / "report.json").write_text(json.dumps(report))
    assert run_thresholds(load_run(d)) is None  # not a builder net: unknown
    report["command"] = "simulate"
    (d / "report.json").write_text(json.dumps(report))
    assert run_thresholds(load_run(d)) == {"conv1": 1.0, "conv2": 1.0, "out": 1.0}  # scnn builder defaults


def test_view_save_and_no_display(run_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "view.png"
    assert (
        main(
            [
                "view",
                str(run_dir),
                "--save",
                str(png),
                "--sample",
                "2",
                "--window",
                "5",
                "15",
                "--layers",
                "conv1",
                "conv2",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(png)
    assert png.read_bytes()[:8] == PNG
    assert main(["view", str(run_dir), "--save", str(tmp_path / "v.jpg")]) == 2
    assert ".png or .svg" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "cannot open the viewer" in err and "--save" in err and len(err.strip().splitlines()) == 1
