"""Event data trains with the defaults of ``snnsim train`` (issue 26, item 5), in the style of
tests/test_defaults.py: a short run on synthetic event data written in the real formats
(tests/event_files.py) must reach a floor well above chance.

The classes differ only in which inputs fire (N-MNIST: a 6 x 6 patch per digit, SHD: a band of
35 units per class) at random times over random noise, so a net that learns from the binned
events separates them and one that does not stays at chance. Four classes, 30 training and
10 held-out samples each; everything else is the command's default (T = 100, hidden 200,
bins of 3 ms for N-MNIST and 10 ms for SHD):

==========  =========  ========  ==========  =====
dataset     method     epochs    measured    floor
==========  =========  ========  ==========  =====
nmnist      fastsnn    3         1.000       0.75
nmnist      lif        3         1.000       0.75
shd         fastsnn    3         1.000       0.75
shd         lif        3         1.000       0.75
==========  =========  ========  ==========  =====

Chance is 0.25. Measured with seed 0 (``pytest tests/test_event_defaults.py``), about 2 s each; with
the latency-input first-layer gain (``--set weight_gain=6``) the same runs reached 0.75, 1.00, 0.43
and 0.68, which is why event frames default to gain 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnsim.cli import main
from tests.event_files import write_nmnist, write_shd

pytest.importorskip("h5py", reason="SHD files are HDF5")

CLASSES = range(4)
FLOOR = 0.75


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("events")
    return {
        "nmnist": write_nmnist(base / "nmnist", CLASSES, {"Train": 30, "Test": 10}),
        "shd": write_shd(base / "shd", CLASSES, {"train": 30, "test": 10}),
    }


@pytest.mark.parametrize("method", ["fastsnn", "lif"])
@pytest.mark.parametrize("dataset", ["nmnist", "shd"])
def test_event_training_defaults_learn(dataset: str, method: str, roots: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--method",
                method,
                "--dataset",
                dataset,
                "--data-root",
                str(roots[dataset]),
                "--epochs",
                "3",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["rule"]["timesteps"] == 100 and report["rule"]["hidden"] == [200]  # the defaults under test
    assert report["encoder"]["encoder"] == "events" and report["num_classes"] == (10 if dataset == "nmnist" else 20)
    assert report["bin_us"] == pytest.approx(3000.0 if dataset == "nmnist" else 10000.0)
    assert report["final_accuracy"] >= FLOOR, report["epochs"]
    assert report["simulated_accuracy"] >= FLOOR
