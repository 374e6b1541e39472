"""Data-parallel training (snnsim.training.distributed): 2 gloo processes on CPU equal 1 process,
with dropout and an uneven last batch; a missing or hung rank is a clear error in time."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
# 29 training samples, batch 16: batches of 16 (8/8) and 13 (7/6 on 2 ranks); default dropout (0.2)
ARGS = [
    "train",
    "--method",
    "spikebp",
    "--net",
    "fc",
    "--hidden",
    "24",
    "-T",
    "6",
    "--limit",
    "29",
    "--batch-size",
    "16",
    "--no-progress",
    "--threads",
    "1",
    "--seed",
    "5",
    "--epochs",
    "2",
]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoint" / "weights.pt", weights_only=True)


def metrics(run: Path) -> list:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def run_both(tmp_path: Path, args: list) -> tuple[dict, dict]:
    """Weights after training ``args`` in this process and with torchrun on 2 gloo ranks."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    assert main(args + ["--out", str(tmp_path / "single")]) == 0
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
            str(tmp_path / "ddp"),
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
    return weights(tmp_path / "single"), weights(tmp_path / "ddp")


def test_two_processes_with_dropout_and_uneven_last_batch_match_one_process(tmp_path):
    a, b = run_both(tmp_path, ARGS)
    assert a.keys() == b.keys()
    for key in a:
        # same masks, same samples, same weighting: only the order of the gradient sums differs
        assert torch.allclose(a[key], b[key], rtol=0, atol=1e-6), (key, (a[key] - b[key]).abs().max())
    assert any((a[key] != 0).any() for key in a)
    # the reported training metrics cover the whole epoch, not rank 0's share
    rows_a, rows_b = metrics(tmp_path / "single"), metrics(tmp_path / "ddp")
    assert len(rows_a) == len(rows_b) == 2
    for ra, rb in zip(rows_a, rows_b):
        assert abs(float(ra["train_loss"]) - float(rb["train_loss"])) < 1e-5, (ra, rb)
        assert ra["train_accuracy"] == rb["train_accuracy"] and ra["test_accuracy"] == rb["test_accuracy"], (ra, rb)


def test_distributed_outside_torchrun_is_a_clear_error(tmp_path, capsys, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert main(ARGS + ["--out", str(tmp_path), "--distributed"]) == 2
    assert "torchrun" in capsys.readouterr().err


def test_timeout_from_option_environment_or_default(monkeypatch):
    from snnsim.errors import UserError
    from snnsim.training import distributed as ddp

    monkeypatch.delenv(ddp.TIMEOUT_ENV, raising=False)
    assert ddp.resolve_timeout() == ddp.DEFAULT_TIMEOUT_S
    monkeypatch.setenv(ddp.TIMEOUT_ENV, "7.5")
    assert ddp.resolve_timeout() == 7.5 and ddp.resolve_timeout(3) == 3.0
    for bad in ("abc", "0", "-1", "nan", "inf"):
        monkeypatch.setenv(ddp.TIMEOUT_ENV, bad)
        with pytest.raises(UserError, match="SNNSIM_DIST_TIMEOUT"):
            ddp.resolve_timeout()


def test_rank_that_never_joins_is_a_clear_error_within_the_timeout(tmp_path):
    env = {**ENV, "RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "snnsim", *ARGS, "--out", str(tmp_path / "run"), "--distributed", "--dist-timeout", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    waited = time.monotonic() - t0
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "1 of 2 ranks" in lines[0] and "--dist-timeout" in lines[0], lines[0]
    assert waited < 5 + 40, waited  # the 5 s timeout plus interpreter start-up on a busy machine


HUNG_RANK = """
import sys, time, torch
from snnsim.training import distributed as ddp
rank, world = ddp.init("cpu", timeout=float(sys.argv[1]))
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 1))
if rank == 1:
    time.sleep(60)  # hung: never reaches the gradient all-reduce
else:
    t0 = time.monotonic()
    try:
        with ddp.collective_timeouts():
            model(torch.ones(2, 3)).sum().backward()
    except ddp.RankTimeout as err:
        print(f"{time.monotonic() - t0:.1f}|{err}", flush=True)
ddp.shutdown()
"""


def test_hung_rank_in_a_collective_is_a_clear_error_within_the_timeout(tmp_path):
    env = {**ENV, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HUNG_RANK, "4"],
            env={**env, "RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (1, 0)
    ]
    try:
        out, err = procs[1].communicate(timeout=120)
    finally:
        procs[0].kill()
        procs[0].wait()
    waited, _, message = out.strip().rpartition("\n")[2].partition("|")
    assert message, (out, err[-2000:])
    assert float(waited) < 4 + 10, waited
    assert "did not answer within 4 s" in message and "--dist-timeout" in message, message


def test_rank_dropout_masks_equal_the_rows_of_the_whole_batch_mask():
    from snnsim.core.ops import TemporalDropout, dropout_masks

    drop = TemporalDropout(0.2).train()
    x = torch.ones(3, 13, 40)  # [T, B, N]: a last batch of 13 samples, split 7/6 on 2 ranks
    with dropout_masks(drop, torch.Generator().manual_seed(9), 13):
        whole = drop.multi(x)
    for rank in (0, 1):
        with dropout_masks(drop, torch.Generator().manual_seed(9), 13, rank, 2):
            part = drop.multi(x[:, rank::2])
        assert torch.equal(part, whole[:, rank::2])
    assert torch.equal(whole[0], whole[2]) and 0 < (whole[0] == 0).float().mean() < 0.5  # one mask for all steps
    assert drop.generator is None and drop.rows is None  # restored after the block


def test_rank_losses_scaled_for_ddp_average_to_the_batch_mean(monkeypatch):
    from snnsim.errors import UserError
    from snnsim.training import distributed as ddp

    per_sample = torch.rand(13, dtype=torch.float64)
    monkeypatch.setattr(ddp, "rank_world", lambda: (0, 2))
    shares = [per_sample[r::2] for r in (0, 1)]
    ddp_mean = sum(s.mean() * ddp.loss_scale(len(s), 13) for s in shares) / 2  # DDP: sum / world
    assert torch.allclose(ddp_mean, per_sample.mean(), rtol=1e-12)
    ddp.check_batches(29, 16)  # 16 + 13: every rank gets samples
    with pytest.raises(UserError, match="batch of 1 samples"):
        ddp.check_batches(29, 14)  # 14 + 14 + 1


def test_ttfs_rank_share_keeps_the_exact_input_times(monkeypatch):
    from snnsim.methods.ttfs.rule import TTFSRule
    from snnsim.training import distributed as ddp

    torch.manual_seed(0)
    rule = TTFSRule(hidden=(16,), timesteps=64)
    net = rule.build("fc", (1, 8, 8), 10)
    x, y = torch.rand(13, 1, 8, 8), torch.arange(13) % 10
    rule.calibrate(net, type("Split", (), {"x": x})())
    net.train(False)
    inputs = rule.encode(x)
    with torch.no_grad():
        whole = rule.outputs(net, inputs)
        quantised = rule.outputs(net, inputs.spikes)  # no exact times: read from the spikes
        assert not torch.allclose(whole, quantised)
        for rank in (0, 1):
            monkeypatch.setattr(ddp, "rank_world", lambda rank=rank: (rank, 2))
            part, labels = ddp.shard(rule, inputs, y)
            assert torch.equal(labels, y[rank::2])
            assert torch.allclose(rule.outputs(net, part), whole[rank::2], rtol=0, atol=1e-12)


@pytest.mark.slow  # about 40 s on a busy 2-core machine
def test_ttfs_two_processes_match_one_process(tmp_path):
    # exact input times reach both ranks (else: quantised times, 0.02 off); windows grow on the global minimum
    args = [
        "train",
        "--method",
        "ttfs",
        "--net",
        "fc",
        "--hidden",
        "16",
        "--lr",
        "3e-3",
        "--limit",
        "29",
        "--batch-size",
        "16",
        "--no-progress",
        "--threads",
        "1",
        "--seed",
        "5",
        "--epochs",
        "2",
    ]
    a, b = run_both(tmp_path, args)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=0, atol=1e-6), (key, (a[key] - b[key]).abs().max())
    wa, wb = (json.loads((tmp_path / r / "report.json").read_text())["rule"]["windows"] for r in ("single", "ddp"))
    assert wa == pytest.approx(wb, rel=1e-9)
