"""The command line: simulate end to end, bad input gives exit code 2 and one line."""

import json
import subprocess
import sys

import pytest
import torch

import networks
from snnsim.cli import main
from snnsim.core.io import save_network
from tests.helpers import scale_weights


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "simulate" in capsys.readouterr().out


def test_simulate_writes_report_and_raster(tmp_path):
    out = tmp_path / "run"
    rc = main(
        [
            "simulate",
            "--net",
            "fc",
            "--dataset",
            "digits",
            "--limit",
            "40",
            "--timesteps",
            "20",
            "--batch-size",
            "20",
            "--engine",
            "fast",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 40 and report["timesteps"] == 20 and report["trained"] is False
    assert report["samples_per_s"] > 0
    assert set(report["spikes_per_neuron"]) == {"input", "fc1", "fc2", "out"}
    rec = torch.load(out / "record.pt", weights_only=True)
    assert rec["spikes"]["fc1"].shape == (20, 4, 1200) and rec["spikes"]["fc1"].dtype == torch.bool
    # spikes per neuron of the input layer: mean pixel intensity * T for p = x (1000 Hz, 1 ms)
    assert (out / "raster.png").stat().st_size > 1000


def test_simulate_checkpoint_both_engines_same_accuracy(tmp_path):
    net = scale_weights(networks.fc([784, 50, 10], input_shape=(1, 28, 28)), 0.1)
    save_network(net, tmp_path / "ckpt", extra={"net": "fc-small"})
    accs = []
    for engine in ("fast", "bindsnet"):
        out = tmp_path / engine
        assert (
            main(
                [
                    "simulate",
                    "--checkpoint",
                    str(tmp_path / "ckpt"),
                    "--limit",
                    "20",
                    "-T",
                    "15",
                    "--engine",
                    engine,
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
        report = json.loads((out / "report.json").read_text())
        assert report["trained"] is True and 0.0 <= report["accuracy"] <= 1.0
        accs.append((report["accuracy"], report["spikes_per_neuron"]))
    assert accs[0] == accs[1]  # identical spikes -> identical figures


@pytest.mark.parametrize(
    "args, match",
    [
        (["--timesteps", "0"], "positive integer"),
        (["--dataset", "imagenet"], "invalid choice"),
        (["--engine", "gpu"], "invalid choice"),
    ],
)
def test_simulate_bad_options_exit_2(tmp_path, args, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path / "x")] + args)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, match",
    [
        (["--dataset", "mnist10k", "--data-dir", "/nonexistent"], "t10k-images-idx3-ubyte"),
        (["--checkpoint", "/nonexistent"], "no snnsim checkpoint"),
        (["--encoder", "current", "--max-rate", "50"], "do not apply"),
        (["--device", "cuda:0"], "CUDA")
        if not torch.cuda.is_available()
        else (["--encoder", "latency", "--prob-scale", "0.5"], "do not apply"),
    ],
)
def test_simulate_user_errors_one_line(tmp_path, args, match, capsys):
    rc = main(["simulate", "--out", str(tmp_path / "x"), "--limit", "5", "--no-progress"] + args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and match in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_console_script_module_entry_point(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "snnsim", "simulate", "--out", str(tmp_path), "-T", "0"], capture_output=True, text=True
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
