"""Errors of the command line (issue 14, items 4 and 7): argument errors and user errors are
one line with exit 2, bugs keep their traceback (exit 1), --out is checked, warnings of
snnsim reach stderr although BindsNET silences warnings when imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnsim.cli import main, simulate
from snnsim.errors import UserError

TINY = ["simulate", "--net", "fc", "--limit", "4", "--timesteps", "3", "--batch-size", "4", "--no-progress"]


def _snnsim(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnsim", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--out", "x", "--timesteps", "0"],
        ["simulate", "--out", "x", "--engine", "warp"],
        ["train-ann", "--out", "x", "--bogus"],
        ["frobnicate"],
    ],
)
def test_argument_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    cmd = "snnsim" if argv[0] == "frobnicate" else f"snnsim {argv[0]}"
    assert err.startswith(f"{cmd}: error: ") and err.rstrip().endswith(f"(see {cmd} --help)"), err


def test_user_error_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def bad_input(args: object) -> int:
        raise UserError("--thing must be positive, got -1")

    monkeypatch.setattr(simulate, "run", bad_input)
    assert main([*TINY, "--out", "x"]) == 2
    assert capsys.readouterr().err == "snnsim simulate: error: --thing must be positive, got -1\n"


def test_a_bug_is_not_a_user_error(tmp_path: Path) -> None:
    """A plain ValueError inside a command is a bug: traceback and exit 1 (it was one line, exit 2)."""
    code = (
        "import sys; from snnsim.cli import simulate\n"
        "def buggy(args): raise ValueError('shape mismatch inside the engine')\n"
        "simulate.run = buggy\n"
        "from snnsim.cli import main; sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *TINY, "--out", "x"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ValueError: shape mismatch inside the engine" in done.stderr


def _unwritable_dir(tmp_path: Path) -> str:
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing: use a read-only sysfs
        return "/sys"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return str(locked)


@pytest.mark.parametrize("kind", ["empty", "under_a_file", "unwritable", "a_file"])
def test_bad_out_ends_with_one_clear_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    out = {
        "empty": "",
        "under_a_file": str(tmp_path / "file" / "x"),
        "unwritable": _unwritable_dir(tmp_path),
        "a_file": str(tmp_path / "file"),
    }[kind]
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, "--out", out]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("snnsim simulate: error: --out"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] + (["locked"] if "locked" in out else [])


def test_dev_null_out_is_one_line(tmp_path: Path) -> None:
    done = _snnsim(*TINY, "--out", "/dev/null/x", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "snnsim simulate: error: --out /dev/null/x: cannot create or write this directory (Not a directory)"
    ]


def test_snnsim_warning_reaches_stderr_through_the_cli(tmp_path: Path) -> None:
    """train-ann warns when the output ReLUs died; BindsNET's import used to silence it. The net
    is zeroed just before the real check, so every output is 0 and the warning must fire."""
    code = (
        "import sys, torch, snnsim.training.ann as ann\n"
        "check = ann._warn_if_dead\n"
        "def dead(model, *a, **k):\n"
        "    with torch.no_grad():\n"
        "        [p.zero_() for p in model.parameters()]\n"
        "    check(model, *a, **k)\n"
        "ann._warn_if_dead = dead\n"
        "from snnsim.cli import main; sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "train-ann",
            "--net",
            "fc",
            "--hidden",
            "8",
            "--limit",
            "32",
            "--epochs",
            "1",
            "--no-progress",
            "--out",
            "ann",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning: every output of the trained ANN is 0" in done.stderr, done.stderr


def test_importing_bindsnet_through_snnsim_keeps_the_warning_filters() -> None:
    code = (
        "import warnings, sys, torch\n"
        "before = list(warnings.filters)\n"
        "import snnsim.engine, networks, analysis\n"
        "assert 'bindsnet' in sys.modules\n"
        "print(warnings.filters == before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "True", done.stdout + done.stderr
