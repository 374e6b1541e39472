"""Tests for analysis.recording: the record() context manager on both engines."""

from __future__ import annotations

import pytest
import torch

from analysis import Recording, RecordingLimitError, estimate_bytes, plot_raster, record
from snnsim.engine import RECORDERS_ATTR, Record, simulate
from tests.analysis.test_analysis import make_input, make_net


def test_collects_both_engines_along_batch() -> None:
    net = make_net()
    x1, x2 = make_input(20, 3, seed=1), make_input(20, 2, seed=2)
    ref1 = simulate(net, x1, engine="fast", record_voltage=True)
    ref2 = simulate(net, x2, engine="bindsnet", record_voltage=True)
    with record(net, variables=("s", "v")) as rec:
        out1 = simulate(net, x1, engine="fast")
        out2 = simulate(net, x2, engine="bindsnet")
    assert isinstance(rec, Record) and isinstance(rec, Recording)
    assert rec.calls == 2 and rec.batch_size == 5 and rec.timesteps == 20 and rec.dt == 1.0
    assert list(rec.spikes) == list(net.layers) and list(rec.voltages) == ["conv1", "fc1", "out"]
    for name in net.layers:
        assert rec.spikes[name].dtype == torch.bool
        assert torch.equal(rec.spikes[name], torch.cat([ref1.spikes[name], ref2.spikes[name]], 1))
    for name in rec.voltages:
        assert torch.equal(rec.voltages[name], torch.cat([ref1.voltages[name], ref2.voltages[name]], 1))
    assert out1.voltages and out2.voltages  # the hook asked the engines for potentials
    assert RECORDERS_ATTR not in net.__dict__
    plain = rec.freeze()
    assert type(plain) is Record and plain.total_spikes() == rec.total_spikes()
    plot_raster(rec, sample=4)  # a Recording plots like any Record


def test_chosen_layers_and_cleanup_on_error() -> None:
    net = make_net()
    x = make_input(10, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with record(net, layers=["fc1"], variables="v") as rec:
            assert net.__dict__[RECORDERS_ATTR] == [rec]
            simulate(net, x)
            raise RuntimeError("boom")
    assert RECORDERS_ATTR not in net.__dict__
    assert rec.spikes == {} and list(rec.voltages) == ["fc1"] and rec.voltages["fc1"].shape == (10, 2, 16)
    assert simulate(net, x).voltages == {}  # no recorder left asking for potentials
    with record(net, ["input", "out"]) as outer:
        with record(net, ["out"]) as inner:
            simulate(net, x)
        assert net.__dict__[RECORDERS_ATTR] == [outer]
        simulate(net, x)
    assert inner.batch_size == 2 and outer.batch_size == 4 and RECORDERS_ATTR not in net.__dict__


def test_cap_is_enforced_before_storing() -> None:
    net = make_net()
    x = make_input(10, 4)
    need = estimate_bytes(net, 10, 4, variables=("s", "v"))
    sizes = {"input": 64, "conv1": 144, "fc1": 16, "out": 5}
    assert need == 10 * 4 * (sum(sizes.values()) + 4 * (144 + 16 + 5))
    assert estimate_bytes(net, 10, 4, ["conv1"]) == 10 * 4 * 144
    with record(net, variables=("s", "v"), max_bytes=need) as rec:
        simulate(net, x)
        assert rec.nbytes == need
        with pytest.raises(RecordingLimitError, match=r"max_bytes") as err:
            simulate(net, x)
    assert isinstance(err.value, ValueError) and isinstance(err.value, MemoryError)
    assert "raise it with record(..., max_bytes=" in str(err.value) and "MiB" in str(err.value)
    assert rec.calls == 1 and rec.batch_size == 4  # the batch over the cap was not stored
    assert RECORDERS_ATTR not in net.__dict__


def test_bad_arguments() -> None:
    net = make_net()
    with pytest.raises(ValueError, match="variables"):
        with record(net, variables=("spikes",)):
            pass
    with pytest.raises(ValueError, match="unknown"):
        with record(net, layers=["nope"]):
            pass
    with pytest.raises(ValueError, match="no membrane potential"):
        with record(net, layers=["input"], variables=("v",)):
            pass
    with pytest.raises(ValueError, match="max_bytes"):
        with record(net, max_bytes=0):
            pass
    with pytest.raises(TypeError, match="Network"):
        with record("net"):  # type: ignore[arg-type]
            pass
    with record(net):
        simulate(net, make_input(10, 1))
        with pytest.raises(ValueError, match="same number of steps"):
            simulate(net, make_input(12, 1))
    assert RECORDERS_ATTR not in net.__dict__


def test_analog_input_kept_as_float_and_copied() -> None:
    net = make_net()
    x = torch.rand(8, 2, 1, 8, 8)
    with record(net, ["input", "conv1"]) as rec:
        simulate(net, x)
    assert rec.spikes["input"].dtype == torch.float32 and torch.equal(rec.spikes["input"], x)
    assert rec.spikes["conv1"].dtype == torch.bool
    assert rec.nbytes == x.numel() * 4 + 8 * 2 * 144
    x.zero_()  # the caller reusing its buffer does not change the recording
    assert float(rec.spikes["input"].sum()) > 0
