"""benchmarks/stdp.py: options, a tiny Diehl & Cook run of the BindsNET contender writing JSON,
the snnsim and Brian2 contenders reported as unavailable (or measured) rather than failing."""

import json
from pathlib import Path

import pytest

from benchmarks import stdp as bench

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [
    "--neurons",
    "10",
    "--threads",
    "1",
    "--time",
    "20",
    "--rest",
    "5",
    "--images",
    "1",
    "--rounds",
    "1",
    "--check-images",
    "1",
]


def test_options_parse():
    args = bench.parse_args(["--neurons", "100,400", "--threads", "1,2", "--rest", "0"])
    assert args.neurons == [100, 400] and args.threads == [1, 2] and args.rest == 0
    assert args.time == 250 and args.intensity == 128.0
    assert args.contenders == ["bindsnet", "snnsim", "brian2"]
    assert bench.parse_args(["--check-images", "0"]).check_images == 1  # the warm-up stays
    for bad in (["--neurons", "0"], ["--threads", "x"], ["--contenders", "brian2"], ["--rest", "-1"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)


def test_encoding_has_the_resting_period():
    import torch

    x = torch.ones(2, 784)
    spikes = bench.encode(x, 20, 5, 128.0, seed=0)
    assert len(spikes) == 2 and tuple(spikes[0].shape) == (25, 1, 784) and spikes[0].dtype == torch.bool
    assert spikes[0][:20].any() and not spikes[0][20:].any()


def test_tiny_run_writes_json(tmp_path):
    out = tmp_path / "stdp.json"
    payload = bench.main(
        TINY
        + [
            "--contenders",
            "bindsnet,snnsim,brian2",
            "--brian2-python",
            str(tmp_path / "missing" / "python"),
            "--out",
            str(out),
        ]
    )
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(payload))
    assert data["cpu_model"] is not None and "load_average_start" in data and data["torch_threads"] == [1]
    (run,) = data["runs"]
    assert run["n_neurons"] == 10 and run["threads"] == 1
    ref = run["results"]["bindsnet"]
    assert ref["images_per_s"] > 0 and ref["x_bindsnet"] == 1.0 and len(ref["times_s"]) == 1
    assert run["results"]["brian2"]["unavailable"].startswith("no Brian2 virtualenv")
    snn = run["results"]["snnsim"]
    assert "images_per_s" in snn or snn["unavailable"]  # measured once the fast engine learns
    check = run["check"]["per_contender"]["bindsnet"]
    assert len(check["exc_spikes"]) == 1 and check["mean_abs_dw"][0] >= 0


def test_snnsim_contender_calls_the_fast_engine_with_learning(monkeypatch):
    """The contender calls simulate(net, {"X": copy}, engine="fast", learning=True)."""
    import torch

    import snnsim.engine as engine

    seen = {}

    class Rec:
        spikes = {"Ae": torch.zeros(3, 1, 10), "Ai": torch.ones(3, 1, 10)}

    def fake(net, inputs, **kw):
        seen.update(kw, inputs=inputs)
        return Rec()

    monkeypatch.setattr(engine, "simulate", fake)
    x = [torch.ones(3, 1, 784, dtype=torch.bool)]
    c = bench.SnnsimContender("snnsim", bench.make_network(10, 0), x)
    res = c.run([0], record=True)
    assert seen["engine"] == "fast" and seen["learning"] is True
    assert seen["inputs"]["X"] is not x[0] and torch.equal(seen["inputs"]["X"], x[0])
    assert res["exc_spikes"] == [0] and res["inh_spikes"] == [30]


BRIAN2_PY = Path(bench.ROOT) / bench.DEFAULT_BRIAN2_PYTHON


@pytest.mark.slow
@pytest.mark.skipif(not BRIAN2_PY.exists(), reason="no .venv-brian2 (make bench-stdp creates it)")
def test_brian2_contender_tiny(tmp_path):
    out = tmp_path / "stdp.json"
    bench.main(TINY + ["--contenders", "bindsnet,brian2", "--out", str(out)])
    b2 = json.loads(out.read_text())["runs"][0]["results"]["brian2"]
    assert b2["images_per_s"] > 0 and b2["code_object"], b2
