"""Crash-safe training (SIGKILL mid-epoch, then --resume); DDP: tests/training/test_distributed.py."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from snnsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "train",
    "--method",
    "spikebp",
    "--net",
    "fc",
    "--hidden",
    "60",
    "-T",
    "8",
    "--limit",
    "300",
    "--batch-size",
    "20",
    "--no-progress",
    "--threads",
    "1",
    "--seed",
    "5",
]


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoint" / "weights.pt", weights_only=True)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    args = [a for a in ARGS]
    args[args.index("-T") + 1] = "25"
    args[args.index("--limit") + 1] = "1000"
    args[args.index("--hidden") + 1] = "300"
    assert main(args + ["--epochs", "3", "--out", str(full)]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snnsim", *args, "--epochs", "3", "--out", str(crashed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    state = crashed / "checkpoint" / "trainer.pt"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert state.exists(), "the first epoch's checkpoint never appeared"
    time.sleep(0.2)  # well inside epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = torch.load(state, weights_only=True)["epoch"]
    assert done < 3, "training finished before the kill; make the epochs longer"
    assert main(args + ["--epochs", "3", "--out", str(crashed), "--resume"]) == 0
    a, b = weights(full), weights(crashed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_corrupt_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(ARGS + ["--epochs", "1", "--out", str(run)]) == 0
    w = run / "checkpoint" / "weights.pt"
    w.write_bytes(w.read_bytes()[:100])
    assert main(ARGS + ["--epochs", "2", "--out", str(run), "--resume"]) == 2
    assert "checksum" in capsys.readouterr().err
