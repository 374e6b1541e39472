"""Bad luck on the command line (issue 30): a full disk, no permission, a second writer on the same
--out, a training step that produces NaN, a process with a small address space, a network that
uses no energy. Each ends with exit code 2 and one line (or works, where working is the sensible
answer), and a failing command leaves nothing half-written in --out."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from snnsim.cli import main
from snnsim.core.io import read_meta, save_network
from snnsim.core.spec import build_network

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]
SIM = ["simulate", "--limit", "4", "-T", "3", "--batch-size", "4", "--no-progress"]
TRAIN = [
    "train",
    "--method",
    "spikebp",
    "--hidden",
    "8",
    "-T",
    "3",
    "--limit",
    "32",
    "--batch-size",
    "16",
    "--no-progress",
]


def one_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """Run ``argv``; assert exit code 2 and one line on stderr; return that line."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _fail_on(monkeypatch: pytest.MonkeyPatch, name: str, code: int, path_part: str) -> None:
    """Make ``os.replace`` (the last step of every atomic write) fail with ``code`` for ``path_part``."""
    real = os.replace

    def replace(src, dst, *a, **kw):  # type: ignore[no-untyped-def]
        if path_part in str(dst):
            raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, name, replace)


@pytest.mark.parametrize(
    "code, fragment",
    [
        (errno.ENOSPC, "No space left"),
        (errno.EACCES, "permission"),
        (errno.ENAMETOOLONG, "shorter"),
        (errno.EROFS, "read-only"),
    ],
)
def test_write_errors_are_one_line_and_leave_nothing(
    code: int, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _fail_on(monkeypatch, "replace", code, "report.json")  # after record.pt and raster.png
    line = one_line(capsys, [*SIM, "--out", str(out)])
    assert fragment.lower() in line.lower() and "report.json" in line, line
    assert files(out) == [], files(out)  # record.pt and raster.png of the failed run are gone


def test_full_disk_on_a_tiny_tmpfs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        line = one_line(capsys, [*SIM, "--out", str(disk / "run")])
        assert "No space left on device" in line and "--out" in line, line
        assert files(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_unwritable_out_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def refuse(*a, **kw):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)  # root ignores permissions: simulate them
    line = one_line(capsys, [*SIM, "--out", str(tmp_path / "run")])
    assert "Permission denied" in line and "--out" in line, line


def test_second_writer_is_refused_naming_the_first(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(out)!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        line = one_line(capsys, [*TRAIN, "--epochs", "1", "--out", str(out)])
        assert f"pid {holder.pid}" in line and "another snnsim process" in line, line
        assert files(out) == []
    finally:
        holder.kill()
        holder.wait()
    assert main([*SIM, "--out", str(out)]) == 0  # the lock went with its process


def test_nan_step_stops_naming_layer_and_epoch_and_keeps_last_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = torch.optim.Adam.step
    calls = {"n": 0}

    def step(self, *a, **kw):  # type: ignore[no-untyped-def]
        result = real_step(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 3:  # 32 samples * 0.8 / 16 = 2 steps an epoch: the first step of epoch 2
            with torch.no_grad():
                self.param_groups[0]["params"][0].view(-1)[0] = float("nan")
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    out = tmp_path / "run"
    line = one_line(capsys, [*TRAIN, "--epochs", "3", "--out", str(out)])
    assert "epoch 2" in line and "input->fc1" in line and "NaN" in line, line
    assert read_meta(out / "checkpoint")["extra"]["epoch"] == 1  # the last good checkpoint stays
    assert "metrics.csv" in files(out) and "report.json" not in files(out)


def test_train_over_another_run_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    assert main([*TRAIN, "--epochs", "1", "--out", str(out)]) == 0  # the same settings: a plain rerun
    other = [a if a != "8" else "9" for a in TRAIN]
    before = (out / "checkpoint" / "weights.pt").read_bytes()
    line = one_line(capsys, [*other, "--epochs", "1", "--out", str(out)])
    assert "hidden [9] (checkpoint: [8])" in line and "--overwrite" in line, line
    assert (out / "checkpoint" / "weights.pt").read_bytes() == before
    assert main([*other, "--epochs", "1", "--overwrite", "--out", str(out)]) == 0
    assert read_meta(out / "checkpoint")["extra"]["options"]["hidden"] == [9]


def test_network_without_energy_still_writes_a_valid_report(tmp_path: Path) -> None:
    """Nothing reaches the output: no SynOps, so no energy ratio; JSON has no infinity."""
    net = build_network(
        {
            "layers": [
                {"name": "input", "type": "input", "shape": [1, 28, 28]},
                {"name": "out", "type": "if", "shape": [10]},
            ],
            "connections": [],
        }
    )
    save_network(net, tmp_path / "ckpt")
    assert main([*SIM, "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "run")]) == 0
    energy = json.loads((tmp_path / "run" / "report.json").read_text())["synops"]["energy"]
    assert energy["ann_over_snn"] is None and energy["snn_over_ann"] is None
    assert "used no energy" in energy["ratio_note"]


def test_address_space_limit_is_respected(tmp_path: Path) -> None:
    """A 10^9-neuron layer in a process limited to 6 GiB of address space: one line naming RLIMIT_AS."""
    script = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (6 * 1024 ** 3, resource.RLIM_INFINITY))
        from snnsim.core.spec import build_network
        from snnsim.errors import UserError
        try:
            build_network({"layers": [{"name": "input", "type": "input", "shape": [10 ** 9]},
                                      {"name": "out", "type": "if", "shape": [10]}], "connections": []})
        except UserError as err:
            print("refused:", err)
        """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("SNNSIM_MAX_MEMORY", None)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "refused:" in res.stdout and "RLIMIT_AS" in res.stdout, res.stdout + res.stderr[-2000:]
    assert time.perf_counter() - t0 < 120
