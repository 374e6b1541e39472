"""Row-wise sequential MNIST (issue 16 item 7): ``snnsim train --method lif --encoding rows``.

Each image is 28 steps of 28 inputs, row t of the image as the input current of step t
(:func:`encoders.rows`). The slow test trains a recurrent LIF net (28 -> 128
recurrent LIF -> 10 read-out) and the same net without its recurrent weights on mnist10k
(8,000 train / 2,000 held out) with the same short budget; see the README for the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import encoders
from encoders import rows as row_sequence
from snnsim.cli import main
from snnsim.cli.parsers import build_parser
from snnsim.cli.train import rule_params
from snnsim.data.datasets import default_mnist_dir
from snnsim.errors import UserError
from snnsim.training import get_rule


def test_row_sequence_step_t_is_row_t():
    x = torch.rand(3, 1, 28, 28)
    seq = row_sequence(x)
    assert seq.shape == (28, 3, 28) and seq.dtype == torch.float32
    for t in (0, 5, 27):
        assert torch.equal(seq[t], x[:, 0, t, :])
    two = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 2, 3, 4)  # channels side by side
    assert torch.equal(row_sequence(two)[1, 0], torch.cat([two[0, 0, 1], two[0, 1, 1]]))
    with pytest.raises(UserError, match=r"\[B, C, H, W\]"):
        row_sequence(torch.zeros(28, 28))


def test_lif_rows_rule_builds_a_28_input_net_and_encodes_rows():
    rule = get_rule("lif", encoding="rows", recurrent=True, hidden=[8])
    assert rule.timesteps == 28
    net = rule.build("fc", (1, 28, 28), 10)
    assert list(net.layers["input"].shape) == [28] and ("fc1", "fc1") in net.connections
    x = torch.rand(2, 1, 28, 28)
    enc = rule.encode(x)
    assert torch.equal(enc, row_sequence(x))
    assert rule.outputs(net, enc).shape == (2, 10)
    assert rule.config()["encoding"] == "rows" and rule.encoder_config() == {"encoder": "rows", "timesteps": 28}
    with pytest.raises(UserError, match="image height"):
        get_rule("lif", encoding="rows", timesteps=20).build("fc", (1, 28, 28), 10)
    with pytest.raises(UserError, match="encoding"):
        get_rule("lif", encoding="columns")


def test_cli_recurrent_and_encoding_flags_reach_the_rule():
    args = build_parser().parse_args(["train", "--method", "lif", "--recurrent", "--encoding", "rows", "--out", "x"])
    assert rule_params(args) == {"recurrent": True, "encoding": "rows"}
    plain = build_parser().parse_args(["train", "--method", "lif", "--out", "x"])
    assert rule_params(plain) == {}


def test_cli_trains_rows_on_a_tiny_slice(tmp_path: Path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--method",
                "lif",
                "--recurrent",
                "--encoding",
                "rows",
                "--hidden",
                "8",
                "--epochs",
                "1",
                "--dataset",
                "digits",
                "--limit",
                "64",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["rule"]["recurrent"] is True and report["rule"]["encoding"] == "rows"
    assert report["encoder"] == {"encoder": "rows", "timesteps": 28}
    # the checkpoint simulates with its own row coding (was refused: input [28] vs [1, 28, 28])
    sim = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--checkpoint",
                str(out / "checkpoint"),
                "--dataset",
                "digits",
                "--limit",
                "64",
                "--engine",
                "bindsnet",
                "--no-progress",
                "--out",
                str(sim),
            ]
        )
        == 0
    )
    sim_report = json.loads((sim / "report.json").read_text())
    assert sim_report["timesteps"] == 28 and 0.0 <= sim_report["accuracy"] <= 1.0


def test_rows_encoder_is_registered_and_checks_timesteps():
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(encoders.get_encoder("rows")(x, 28), row_sequence(x))
    with pytest.raises(ValueError, match="image height 28"):
        encoders.get_encoder("rows")(x, 20)


# 6 epochs, these options, 2026-12-04 on the shared 2-core AMD EPYC (about 6 s and 9 s per run):
# held-out without / with the recurrent weights 0.7575 / 0.871 (seed 0), 0.7875 / 0.896 (seed 1),
# 0.765 / 0.873 (seed 2). At 3 epochs seed 0 gave 0.679 / 0.693 here (0.6635 / 0.7530 on the
# machine that first set these floors; seed 1: 0.6975 / 0.831): too short to separate the two for
# every seed and rounding, so the test trains 6 epochs.
SHORT = [
    "--hidden",
    "128",
    "--epochs",
    "6",
    "--lr",
    "2e-3",
    "--set",
    "weight_gain=1",
    "--set",
    "slope=5",
    "--seed",
    "0",
    "--dataset",
    "mnist10k",
    "--no-progress",
]


@pytest.mark.slow
@pytest.mark.skipif(default_mnist_dir() is None, reason="mnist10k IDX files not found (../shared/data/mnist)")
def test_recurrent_beats_feedforward_on_row_mnist(tmp_path: Path):
    acc = {}
    for name, extra in (("ff", []), ("rec", ["--recurrent"])):
        out = tmp_path / name
        assert main(["train", "--method", "lif", "--encoding", "rows", *extra, *SHORT, "--out", str(out)]) == 0
        acc[name] = json.loads((out / "report.json").read_text())["final_accuracy"]
    assert acc["rec"] >= 0.82 and acc["rec"] - acc["ff"] >= 0.05, acc
