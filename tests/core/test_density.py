"""The density-adaptive event-driven linear op: both paths agree, the chooser picks by density
(forward and weight gradient separately), SNNSIM_NATIVE=0 is honoured, the engines keep their
contract when a call goes dense."""

import pytest
import torch

import networks
from snnsim.core import connections, density
from snnsim.core.connections import event_linear
from snnsim.core.density import ALWAYS_DENSE, ALWAYS_EVENTS, CostModel, use_cost_model
from snnsim.native import events as events_native
from tests.helpers import assert_engines_agree, exact_layers, scale_weights

NATIVE = [
    pytest.param(
        True,
        marks=pytest.mark.skipif(
            events_native.native_status() != "loaded", reason="native event kernels not available"
        ),
    ),
    False,
]


def _spy(monkeypatch) -> dict[str, int]:
    """Count the event-driven kernels' calls (native and torch paths)."""
    calls = {"fwd": 0, "wgrad": 0}

    def wrap(name: str, module, attr: str) -> None:
        real = getattr(module, attr)

        def spy(*a, **kw):
            calls[name] += 1
            return real(*a, **kw)

        monkeypatch.setattr(module, attr, spy)

    wrap("fwd", events_native, "bag_sum")
    wrap("wgrad", events_native, "bag_sum_transposed")
    real_bag = connections._bag_sum

    def torch_bag(active, table):  # the forward sums a [N, K] matrix, the gradient its transpose
        calls["fwd" if active.is_contiguous() else "wgrad"] += 1
        return real_bag(active, table)

    monkeypatch.setattr(connections, "_bag_sum", torch_bag)
    return calls


def _run(spikes: torch.Tensor, lin: torch.nn.Linear, model: CostModel, gout: torch.Tensor):
    with use_cost_model(model):
        out = event_linear(spikes, lin)
        gw, gb = torch.autograd.grad((out * gout).sum(), [lin.weight, lin.bias])
    return out.detach(), gw, gb


@pytest.mark.parametrize("native", NATIVE)
@pytest.mark.parametrize("d", [0.02, 0.6])
def test_both_paths_agree_at_low_and_high_density(native, d, monkeypatch):
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    g = torch.Generator().manual_seed(int(d * 100))
    spikes = torch.rand(300, 200, generator=g) < d
    lin = torch.nn.Linear(200, 70)
    gout = torch.randn(300, 70, generator=g)
    ev, dense = _run(spikes, lin, ALWAYS_EVENTS, gout), _run(spikes, lin, ALWAYS_DENSE, gout)
    assert torch.equal(dense[0], lin(spikes.float()).detach())  # the dense path is nn.Linear
    for a, b in zip(ev, dense):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("native", NATIVE)
def test_chooser_picks_by_density_for_784x800(native, monkeypatch):
    """With the injected model (crossovers 0.25 / 0.15): d = 0.02 sums events, d = 0.6 is dense."""
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    calls = _spy(monkeypatch)
    lin = torch.nn.Linear(784, 800, bias=False)
    g = torch.Generator().manual_seed(0)
    for d, expect in ((0.02, 1), (0.6, 0)):
        calls.update(fwd=0, wgrad=0)
        x = torch.rand(64, 784, generator=g) < d
        with use_cost_model(CostModel(forward=0.25, wgrad=0.15)):
            torch.autograd.grad(event_linear(x, lin).sum(), lin.weight)
        assert calls == {"fwd": expect, "wgrad": expect}, d


@pytest.mark.parametrize("native", NATIVE)
@pytest.mark.parametrize("fwd_cross,wgrad_cross", [(0.5, 0.1), (0.1, 0.5)])
def test_forward_and_weight_gradient_choose_separately(native, fwd_cross, wgrad_cross, monkeypatch):
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    calls = _spy(monkeypatch)
    g = torch.Generator().manual_seed(1)
    x, lin, gout = torch.rand(100, 130, generator=g) < 0.3, torch.nn.Linear(130, 20), torch.randn(100, 20, generator=g)
    got = _run(x, lin, CostModel(forward=fwd_cross, wgrad=wgrad_cross), gout)
    assert calls == {"fwd": int(fwd_cross > 0.3), "wgrad": int(wgrad_cross > 0.3)}
    ref = _run(x, lin, ALWAYS_DENSE, gout)
    for a, b in zip(got, ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


def test_native_off_is_honoured(monkeypatch):
    monkeypatch.setenv("SNNSIM_NATIVE", "0")
    calls = _spy(monkeypatch)
    x, lin = torch.rand(40, 100) < 0.05, torch.nn.Linear(100, 8)
    torch.autograd.grad(event_linear(x, lin).sum(), lin.weight)
    assert calls == {"fwd": 1, "wgrad": 1}  # the torch event path (the spy on the C kernels is not reached)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_default_cpu_model_on_784x800(threads, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    model = density.cost_model("cpu", 3200, 784, 800)
    assert model == density.default_models("cpu")[min(threads, 2)]
    n = 3200 * 784
    assert model.event_forward(3200, 784, int(0.02 * n)) and model.event_wgrad(3200, 784, int(0.02 * n))
    assert not model.event_forward(3200, 784, int(0.6 * n)) and not model.event_wgrad(3200, 784, int(0.6 * n))


def test_engines_keep_the_contract_when_a_layer_goes_dense():
    """A densely firing hidden layer: the fast engine's [T * B] call and some steps of the
    BindsNET engine go dense; spikes identical, potentials within the engine contract."""
    net = scale_weights(networks.fc([100, 60, 10], input_shape=(100,), reset="subtract"), 0.5, seed=2)
    x = torch.rand(20, 4, 100, generator=torch.Generator().manual_seed(3)) < 0.5
    with use_cost_model(density.DEFAULTS["cpu"][1]):  # the same crossovers on every CPU
        rec = assert_engines_agree(net, x)
        assert rec.spikes["fc1"].float().mean() > density.cost_model("cpu", 80, 100, 60).forward  # dense enough
        assert exact_layers(net, rec) == {"input"}  # both connections took the dense path


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_both_paths_agree_and_stay_on_device():
    g = torch.Generator().manual_seed(5)
    spikes = (torch.rand(500, 300, generator=g) < 0.1).cuda()
    lin, gout = torch.nn.Linear(300, 90).cuda(), torch.randn(500, 90, generator=g).cuda()
    ev, dense = _run(spikes, lin, ALWAYS_EVENTS, gout), _run(spikes, lin, ALWAYS_DENSE, gout)
    for a, b in zip(ev, dense):
        assert a.is_cuda and torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_always_dense_model_does_not_count_spikes(monkeypatch):
    """With both crossovers at 0 (never event-driven) the op skips the spike count, which on a GPU
    would wait for the device; the result is the dense matmul's."""
    spikes = torch.rand(40, 30) < 0.2
    lin = torch.nn.Linear(30, 7)
    monkeypatch.setattr(connections.events_native, "native_usable", lambda *a: False)

    def no_count(*args, **kwargs):
        raise AssertionError("counted the spikes")

    monkeypatch.setattr(connections, "_count", no_count)
    with density.use_cost_model(density.ALWAYS_DENSE):
        out = connections.event_linear(spikes, lin)
    torch.testing.assert_close(out, lin(spikes.float()))
    with density.use_cost_model(density.ALWAYS_EVENTS), pytest.raises(AssertionError, match="counted"):
        connections.event_linear(spikes, lin)


def test_cpu_defaults_follow_the_vendor(monkeypatch):
    """An AMD CPU gets its own measured crossovers; any other vendor (or none) the Xeon's."""
    for vendor, want in (
        ("AuthenticAMD", density.CPU_BY_VENDOR["AuthenticAMD"]),
        ("GenuineIntel", density.DEFAULTS["cpu"]),
        ("", density.DEFAULTS["cpu"]),
    ):
        monkeypatch.setattr(density, "cpu_vendor", lambda v=vendor: v)
        assert density.default_models("cpu") is want
        assert density.cost_model("cpu", 3200, 784, 800) == want[min(torch.get_num_threads(), 2)]
    assert density.default_models("cuda") is density.DEFAULTS["cuda"]
    assert density.default_models("mps") == {}
