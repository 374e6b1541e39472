"""The event-driven conv (snnsim.core.event_conv) equals F.conv2d within float rounding."""

import pytest
import torch
import torch.nn.functional as F

from snnsim.core import event_conv
from snnsim.core.density import ALWAYS_DENSE, ALWAYS_EVENTS, CostModel, use_cost_model
from snnsim.core.event_conv import conv_module, event_conv2d
from snnsim.engine import simulate
from snnsim.native import event_conv as native
from snnsim.native.event_conv import weight_table

NATIVE = native.native_status() == "loaded"
# (N, C, H, W, O, K, stride, padding): 1-channel input layers, channels below / across the
# 16-entry lists and the 8/16-wide vectors, more than 128 outputs (two register blocks), 1x1
# and strided shortcuts, padding wider than the kernel's reach, non-square inputs
SHAPES = [
    (3, 1, 28, 28, 12, 5, 1, 0),
    (4, 12, 12, 12, 64, 5, 1, 0),
    (2, 20, 12, 12, 50, 5, 1, 0),
    (3, 16, 14, 14, 32, 3, 2, 1),
    (2, 32, 14, 14, 64, 1, 2, 0),
    (2, 3, 7, 9, 130, 3, 1, 2),
    (1, 17, 6, 5, 9, 3, 3, 1),
    (2, 2, 5, 5, 3, 5, 1, 4),
]
DENSITIES = [0.0, 0.02, 0.1, 0.34, 1.0]
PATHS = ["gather", "scatter", "torch"] if NATIVE else ["torch"]


def _run(x, weight, bias, stride, padding, path, monkeypatch):
    monkeypatch.setenv("SNNSIM_EVENT_CONV", "0" if path == "torch" else "1")
    method = "auto" if path == "torch" else path
    return event_conv2d(x, weight, bias, stride, padding, method=method)


def _inputs(shape, density, seed):
    n, c, h, w, o, k, _, _ = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g) < density
    return x, torch.randn(o, c, k, k, generator=g), torch.randn(o, generator=g), g


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_conv2d_on_spikes(shape, density, path, monkeypatch):
    x, weight, bias, _ = _inputs(shape, density, seed=sum(shape))
    stride, padding = shape[6], shape[7]
    for b in (None, bias):
        out = _run(x, weight, b, stride, padding, path, monkeypatch)
        ref = F.conv2d(x.float(), weight, b, stride, padding)
        assert out.shape == ref.shape and out.dtype == torch.float32 and out.is_contiguous()
        # sums of up to C * K * K terms in another order: MKLDNN's own rounding without AVX
        # (ATEN_CPU_CAPABILITY=default) differed by up to 2.8e-5 at density 1
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES[:4])
def test_float_input_values_multiply_their_weights(shape, path, monkeypatch):
    """Average-pooled spikes (float, mostly zero) feed a conv in SCNN/LeNet."""
    x, weight, bias, g = _inputs(shape, 0.2, seed=7)
    xf = x * torch.rand(x.shape, generator=g)
    out = _run(xf, weight, bias, shape[6], shape[7], path, monkeypatch)
    torch.testing.assert_close(out, F.conv2d(xf, weight, bias, shape[6], shape[7]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_float64_uses_the_torch_path_and_matches(path, monkeypatch):
    x, weight, bias, _ = _inputs(SHAPES[3], 0.1, seed=3)
    out = _run(x, weight.double(), bias.double(), 2, 1, path, monkeypatch)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, F.conv2d(x.double(), weight.double(), bias.double(), 2, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_empty_input_and_empty_batch(path, monkeypatch):
    x, weight, bias, _ = _inputs(SHAPES[1], 0.0, seed=1)
    out = _run(x, weight, bias, 1, 0, path, monkeypatch)
    assert torch.equal(out, bias.view(1, -1, 1, 1).expand_as(out))  # no input: exactly the bias
    none = _run(x[:0], weight, bias, 1, 0, path, monkeypatch)
    assert none.shape == (0, 64, 8, 8)


def test_results_do_not_depend_on_batch_or_threads():
    """A sample's sums run in one thread in a fixed order: the same bits in any batch."""
    if not NATIVE:
        pytest.skip(f"native event conv not available: {native.native_status()}")
    x, weight, bias, _ = _inputs((40, 16, 14, 14, 32, 3, 1, 1), 0.15, seed=5)
    threads = torch.get_num_threads()
    try:
        whole = event_conv2d(x, weight, bias, 1, 1, method="gather")
        torch.set_num_threads(1)
        alone = torch.cat([event_conv2d(x[i : i + 1], weight, bias, 1, 1, method="gather") for i in range(3)])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(whole[:3], alone)


def test_weight_table_layout():
    w = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    t = weight_table(w, 8)
    assert t.shape == (12, 8) and torch.equal(t[:, 2:], torch.zeros(12, 6))
    assert torch.equal(t[(1 * 2 + 0) * 3 + 2, :2], w[:, 2, 1, 0])


def test_conv_module_and_bad_arguments():
    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=True)
    x = torch.rand(5, 4, 9, 9) < 0.2
    with torch.no_grad():
        torch.testing.assert_close(conv_module(x, conv), conv(x.float()), rtol=1e-5, atol=1e-5)
        rect = torch.nn.Conv2d(4, 6, (3, 1))  # not square: F.conv2d itself
        torch.testing.assert_close(conv_module(x, rect), rect(x.float()))
    with pytest.raises(ValueError, match="square weight"):
        event_conv2d(x, torch.randn(6, 3, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        event_conv2d(x, torch.randn(6, 4, 11, 11))
    with pytest.raises(ValueError, match="method"):
        event_conv2d(x, conv.weight.detach(), method="sparse")


# --- the density-adaptive conv of a connection (snnsim.core.connections) ------------------------
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native event conv: {native.native_status()}")


def _spy(monkeypatch):
    """Counts the calls of the event-driven conv that connections make."""
    calls, original = [], event_conv.conv_module

    def spy(x, conv):
        calls.append(tuple(x.shape))
        return original(x, conv)

    monkeypatch.setattr(event_conv, "conv_module", spy)
    return calls


def _scnn():
    import networks
    from tests.helpers import scale_weights

    return scale_weights(networks.scnn(reset="subtract"), 0.25)


@needs_native
def test_engines_agree_bit_for_bit_where_both_sum_conv_events(monkeypatch):
    from tests.helpers import assert_engines_agree, poisson_input

    net, x = _scnn(), poisson_input((20, 3, 1, 28, 28), 0.3)
    calls = _spy(monkeypatch)
    with use_cost_model(ALWAYS_EVENTS):
        fast = assert_engines_agree(net, x)
        ref = simulate(net, x, engine="bindsnet", record_voltage=True)
    assert (60, 1, 28, 28) in calls and (3, 1, 28, 28) in calls  # both engines' calls
    assert (60, 12, 12, 12) in calls  # the pooled (float) input of conv2
    assert all(fast.spikes[n].any() for n in ("conv1", "conv2"))
    for name in ("conv1", "conv2"):  # a sample's sums do not depend on the batch
        assert torch.equal(fast.voltages[name], ref.voltages[name]), name


@needs_native
def test_event_and_dense_conv_give_the_same_simulation(monkeypatch):
    from tests.helpers import engine_tolerance, poisson_input

    net, x = _scnn(), poisson_input((20, 3, 1, 28, 28), 0.3)
    calls = _spy(monkeypatch)
    with use_cost_model(ALWAYS_DENSE):
        dense = simulate(net, x, engine="fast", record_voltage=True)
    assert calls == []
    with use_cost_model(ALWAYS_EVENTS):
        events = simulate(net, x, engine="fast", record_voltage=True)
    assert len(calls) == 2
    for name, v in dense.voltages.items():
        assert torch.equal(events.spikes[name], dense.spikes[name]), name
        assert float((events.voltages[name] - v).abs().max()) <= engine_tolerance(v), name


@needs_native
def test_crossover_and_autograd_choose_the_dense_conv(monkeypatch):
    conn = _scnn().connections[("input", "conv1")]
    x = torch.rand(4, 1, 28, 28) < 0.2
    calls = _spy(monkeypatch)
    with use_cost_model(CostModel(forward=0.2, wgrad=0.2, conv=0.15)):
        conn.compute(x)  # density ~0.2 >= 0.15: dense
        assert calls == []
        conn.compute(x & (torch.rand(x.shape) < 0.5))  # ~0.1: events
        assert len(calls) == 1
    with use_cost_model(ALWAYS_EVENTS):
        out = conn.compute_step(x)  # autograd on and the weight requires grad: dense
        assert len(calls) == 1 and out.requires_grad
        with torch.no_grad():
            ev = conn.compute_step(x)
        assert len(calls) == 2
    torch.testing.assert_close(ev, out.detach(), rtol=1e-5, atol=1e-5)
