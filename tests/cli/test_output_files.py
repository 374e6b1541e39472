"""Clean output (issue 14, item 10): progress bars only on a terminal, per-epoch lines with
``--no-progress``, compact ``record.pt``, one file mode for everything a run writes, and a
"wrote" line naming every file a command wrote."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from pathlib import Path

import pytest
import torch

from analysis import load_record, save_record
from snnsim.cli import main
from snnsim.core.io import atomic_write_bytes, atomic_write_json
from snnsim.engine import Record
from snnsim.progress import PROGRESS_ENV, bars_enabled, progress_bar

DIGITS = ["--dataset", "digits"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert bars_enabled(True, _Tty()) and not bars_enabled(True, io.StringIO())
    assert not bars_enabled(False, _Tty())  # --no-progress wins
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert bars_enabled(True, io.StringIO()) and not bars_enabled(False, io.StringIO())
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert not bars_enabled(True, _Tty())
    monkeypatch.delenv(PROGRESS_ENV)
    with contextlib.redirect_stderr(io.StringIO()):  # stderr to a file, as in `make demo 2>log`
        assert progress_bar(10, "x", "it").disable


def test_train_ann_prints_epoch_accuracy_and_no_bars_into_a_file(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Progress left on (no --no-progress), stderr captured (not a terminal): no bar
    updates in stderr, one line per epoch with the held-out accuracy on stdout."""
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert main(["train-ann", "--hidden", "16", "--epochs", "2", "--limit", "64", *DIGITS, "--out", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert "epoch 1/2" not in cap.err and "\r" not in cap.err  # the trainer's bar
    lines = [line for line in cap.out.splitlines() if line.startswith("epoch ")]  # snnsim train's line
    assert len(lines) == 2 and all("held-out" in line for line in lines)


# --------------------------------------------------------------------------- record.pt
def test_save_record_writes_compact_copies_of_slices(tmp_path: Path) -> None:
    big = torch.rand(20, 500, 100)  # [T, B, N]: 4 MB
    rec = Record(
        {"input": big[:, :4] > 0.5, "out": big[:, :4] > 0.9},
        {"out": big[:, :4]},
        1.0,
        {"input": "input", "out": "spiking"},
    )
    labels = torch.arange(500)[:4]
    path = save_record(tmp_path / "record.pt", rec, labels)
    data = sum(t.numel() * t.element_size() for t in [*rec.spikes.values(), *rec.voltages.values(), labels])
    assert path.stat().st_size < 1.2 * data + 8192  # not the 4 MB the slices view
    loaded, lab = load_record(path)
    assert torch.equal(loaded.voltages["out"], rec.voltages["out"]) and torch.equal(lab, labels)
    assert loaded.kinds == rec.kinds and loaded.dt == 1.0


# --------------------------------------------------------------------------- file modes
@contextlib.contextmanager
def umask(mask: int):  # type: ignore[no-untyped-def]
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    with umask(mask):
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        atomic_write_json(tmp_path / "a.json", {"a": 1})
        atomic_write_bytes(tmp_path / "a.bin", b"y")  # replacing keeps the rule
    for name in ("a.bin", "a.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.json"]  # no temporary left


# --------------------------------------------------------------------------- wrote lines
def run_quiet(argv: list[str]) -> list[str]:
    """Run ``snnsim ARGV`` under umask 022; return its stdout lines."""
    buf = io.StringIO()
    with umask(0o022), contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue().splitlines()


def wrote(lines: list[str], out: Path) -> set[str]:
    """The files named by the one "wrote OUT/: a, b" line."""
    rows = [line for line in lines if line.startswith("wrote ")]
    assert len(rows) == 1, lines
    head, _, names = rows[0].partition(": ")
    assert head == f"wrote {out}/"
    return set(names.split(", "))


def files_under(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    """Small runs of every command that writes a run directory, under umask 022."""
    root = tmp_path_factory.mktemp("runs")
    small = [*DIGITS, "--limit", "48", "--no-progress"]
    cmds = {
        "train-ann": ["train-ann", "--hidden", "16", "--epochs", "1", *small],
        "convert": [
            "convert",
            "--net",
            "fc",
            "--epochs",
            "1",
            "-T",
            "10",
            "--tune-none",
            "--tune-thresholds",
            "1",
            "--tune-rates",
            "1000",
            *small,
        ],
        "train": ["train", "--method", "lif", "--hidden", "8", "-T", "5", "--epochs", "2", *small],
        "stbp": [
            "train",
            "--method",
            "stbp-tdbn",
            "--set",
            "width=0.0625",
            "-T",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            *small,
        ],
        "demo": ["demo", "--epochs", "1", "-T", "10", "--no-progress"],
    }
    done = {}
    for name, argv in cmds.items():
        out = root / name
        done[name] = out, run_quiet([*argv, "--out", str(out)])
    sim = root / "simulate"
    done["simulate"] = (
        sim,
        run_quiet(
            [
                "simulate",
                "--checkpoint",
                str(root / "train" / "checkpoint"),
                *small,
                "--batch-size",
                "48",
                "--out",
                str(sim),
            ]
        ),
    )
    fold = root / "fold"
    done["fold"] = (
        fold,
        run_quiet(
            [
                "fold",
                "--checkpoint",
                str(root / "stbp" / "checkpoint" / "training"),
                *DIGITS,
                "--limit",
                "4",
                "--no-progress",
                "--out",
                str(fold),
            ]
        ),
    )
    return done


@pytest.mark.parametrize("command", ["train-ann", "convert", "train", "stbp", "demo", "simulate", "fold"])
def test_wrote_line_names_every_file_and_modes_agree(runs, command: str) -> None:  # type: ignore[no-untyped-def]
    out, lines = runs[command]
    assert wrote(lines, out) == files_under(out)
    modes = {name: stat.S_IMODE(os.stat(out / name).st_mode) for name in files_under(out)}
    assert set(modes.values()) == {0o644}, modes  # report.json, weights, PNGs, record.pt alike


def test_train_prints_epoch_lines_with_no_progress(runs) -> None:  # type: ignore[no-untyped-def]
    _, lines = runs["train"]
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1", "epoch 2"]


def test_record_pt_is_about_the_size_of_its_data(runs) -> None:  # type: ignore[no-untyped-def]
    """simulate keeps 4 samples of a 48-sample batch: the file holds those, not the batch."""
    out, _ = runs["simulate"]
    rec, labels = load_record(out / "record.pt")
    assert rec.batch_size == 4
    data = sum(t.numel() * t.element_size() for t in [*rec.spikes.values(), *rec.voltages.values(), labels])
    assert (out / "record.pt").stat().st_size < 1.2 * data + 8192
