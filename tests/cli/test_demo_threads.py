"""``snnsim demo --threads`` (issue #32: the only run command that lacked it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnsim.cli import main


def test_demo_takes_threads_and_reports_them(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    try:
        assert (
            main(["demo", "--threads", "1", "--epochs", "1", "-T", "5", "--no-progress", "--out", str(tmp_path)]) == 0
        )
        assert json.loads((tmp_path / "report.json").read_text())["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", ["0", "x", "100000"])
def test_demo_refuses_a_bad_threads_value_in_one_line(tmp_path: Path, capsys, value: str) -> None:  # type: ignore[no-untyped-def]
    try:
        code = main(["demo", "--threads", value, "--out", str(tmp_path)])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--threads" in err and len(err.splitlines()) == 1
