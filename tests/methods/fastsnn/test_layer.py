"""FastSNN kernels and node types: equality with a sequential single-spike LIF, gradients."""

import math

import pytest
import torch
from bindsnet.network import Network

from snnsim.core.dynamics import NeuronParams, neuron_multistep
from snnsim.core.io import load_network, save_network
from snnsim.core.nodes import LIFNeurons
from snnsim.core.spec import build_network, network_spec
from snnsim.engine import forward, simulate
from snnsim.methods.fastsnn import layer as fs
from snnsim.methods.fastsnn.nodes import FastLIFNeurons, PeakIntegrator

BETAS = (0.5, math.exp(-1 / 10), 0.99, 1.0)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["native", "torch"])
def backend(request):
    loaded = fs.native_status() == "loaded"
    if request.param == "native" and not loaded:
        pytest.skip(f"native kernels not available: {fs.native_status()}")
    if request.param == "torch":
        fs.set_native(False)
    yield request.param
    if loaded:
        fs.set_native(True)


def currents(t: int, shape=(6, 40), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((t, *shape), generator=g) * 0.4 + 0.05


def single_layer(layer) -> Network:
    net = Network(dt=1.0)
    net.add_layer(layer, name="layer")
    return net


@pytest.mark.parametrize("t", [8, 64, 512])
@pytest.mark.parametrize("beta", BETAS)
def test_fastlif_equals_sequential_single_spike_lif(t, beta, backend):
    x = currents(t, seed=t)
    ref = simulate(
        single_layer(LIFNeurons(shape=[40], leak=beta, reset="zero", refrac=t)), {"layer": x}, engine="bindsnet"
    ).spikes["layer"]
    fast_net = single_layer(FastLIFNeurons(shape=[40], leak=beta))
    fast = simulate(fast_net, {"layer": x}, engine="fast").spikes["layer"]
    stepped = simulate(fast_net, {"layer": x}, engine="bindsnet").spikes["layer"]
    assert ref.sum() > 0 and (ref.sum(0) <= 1).all()
    assert torch.equal(fast, ref)
    assert torch.equal(stepped, ref)
    with torch.enable_grad():  # the differentiable path fires the same spikes
        s, _ = fs.fast_lif(x.clone().requires_grad_(), beta)
    assert torch.equal(s.bool(), ref)


def test_potential_is_the_no_reset_potential_until_the_spike():
    t, beta = 50, 0.9
    x = currents(t)
    p = NeuronParams(1.0, beta, "zero", 0.0, t, True)
    ref_s, ref_v, _ = neuron_multistep(x, p, record_voltage=True)
    s, v = fs.fast_lif(x, beta, return_potential=True)
    before = ref_s.long().cumsum(0) == 0  # steps before the spike: same potential
    assert torch.equal(v[before], ref_v[before])
    assert (ref_v[~before & ~ref_s] == 0).all()  # the reference sits at 0 after its spike


@pytest.mark.parametrize("t", [1, 8, 100])
def test_decay_conv_methods(t, backend):
    x = currents(t, shape=(3, 7))
    _, ref, _ = neuron_multistep(x, NeuronParams(1.0, 0.9, "none", 0.0, 0, False), record_voltage=True)
    assert torch.equal(fs.decay_conv(x, 0.9, "scan"), ref)  # bit-identical to the recurrence
    for method in ("matmul", "fft"):
        assert torch.allclose(fs.decay_conv(x, 0.9, method), ref, atol=1e-5)
    # the backward pass is the anti-causal decay (the transpose of the causal one)
    xg = x.clone().requires_grad_()
    g = torch.randn_like(x)
    (gx,) = torch.autograd.grad(fs.decay_conv(xg, 0.9), xg, g)
    expect = fs.decay_conv(g.flip(0), 0.9, "matmul").flip(0)
    assert torch.allclose(gx, expect, atol=1e-5)


def test_first_crossing_formula_and_kernel_agree():
    v = currents(30).cumsum(0)
    z = (v >= 1.0).float()
    formula = fs.first_crossing_formula(z)
    assert set(formula.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(formula.bool(), fs.spikes_at(fs.first_crossing(v), 30))
    assert fs.g_first(torch.tensor([0.0, 1.0, 2.0, 3.0, 7.0])).tolist() == [0, 1, 0, 0, 0]


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g / (100 * u.abs() + 1) ** 2


def test_trick_gradient_is_the_derivative_of_the_formula(backend):
    x = currents(40, shape=(4, 30)).requires_grad_()
    g = torch.randn(40, 4, 30)
    s, _ = fs.fast_lif(x, 0.9, grad="trick")
    (ours,) = torch.autograd.grad(s, x, g)
    literal = fs.first_crossing_formula(_Heaviside.apply(fs.decay_conv(x, 0.9) - 1.0))
    assert torch.equal(literal, s)
    (expect,) = torch.autograd.grad(literal, x, g)
    assert torch.allclose(ours, expect, rtol=1e-4, atol=1e-5)


def test_sequential_gradient_is_bptt_of_the_stepped_neuron(backend):
    x = currents(40, shape=(4, 30)).requires_grad_()
    g = torch.randn(40, 4, 30)
    s, _ = fs.fast_lif(x, 0.9, grad="sequential")
    (ours,) = torch.autograd.grad(s, x, g)
    v, fired, out = torch.zeros(4, 30), torch.zeros(4, 30, dtype=torch.bool), []
    for t in range(40):  # step by step, the gating by an earlier spike detached
        v = v * 0.9 + x[t]
        st = _Heaviside.apply(v - 1.0) * (~fired)
        fired = fired | st.detach().bool()
        out.append(st)
    assert torch.equal(torch.stack(out), s)
    (expect,) = torch.autograd.grad(torch.stack(out), x, g)
    assert torch.allclose(ours, expect, rtol=1e-4, atol=1e-5)


def test_backends_agree_on_spikes_and_gradients():
    if fs.native_status() != "loaded":
        pytest.skip("native kernels not available")
    x = currents(64, shape=(8, 50), seed=3)
    g = torch.randn(64, 8, 50)
    results = []
    for native in (True, False):
        fs.set_native(native)
        for grad in fs.GRAD_MODES:
            xg = x.clone().requires_grad_()
            s, v = fs.fast_lif(xg, 0.95, grad=grad, return_potential=True)
            results.append((s, v, torch.autograd.grad(s, xg, g)[0]))
    fs.set_native(True)  # loaded before, as checked above
    for (s1, v1, g1), (s2, v2, g2) in zip(results[:2], results[2:]):
        assert torch.equal(s1, s2) and torch.equal(v1, v2)
        assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-6)


def three_layer_spec():
    return {
        "layers": [
            {"name": "input", "type": "input", "shape": [30]},
            {"name": "h1", "type": "fastlif"},
            {"name": "h2", "type": "fastlif", "leak": 0.8},
            {"name": "out", "type": "peak_integrator"},
        ],
        "connections": [
            {"source": "input", "target": "h1", "ops": [{"op": "linear", "out_features": 40}]},
            {"source": "h1", "target": "h2", "ops": [{"op": "linear", "out_features": 25}]},
            {"source": "h2", "target": "out", "ops": [{"op": "linear", "out_features": 5}]},
        ],
    }


def scaled_net(gain: float = 4.0) -> Network:
    torch.manual_seed(0)
    net = build_network(three_layer_spec())
    with torch.no_grad():
        for conn in net.connections.values():
            for m in conn.weighted:
                m.weight.mul_(gain)
    return net


@pytest.mark.parametrize("grad", fs.GRAD_MODES)
def test_gradients_reach_every_layer(grad):
    net = scaled_net()
    for layer in net.layers.values():
        if isinstance(layer, FastLIFNeurons):
            layer.grad = grad
    x = torch.rand(60, 8, 30, generator=torch.Generator().manual_seed(1)) < 0.2
    rec = forward(net, x)
    assert rec.spikes["h1"].sum() > 0 and rec.spikes["h2"].sum() > 0
    loss = torch.nn.functional.cross_entropy(rec.voltages["out"][-1], torch.arange(8) % 5)
    loss.backward()
    for (src, tgt), conn in net.connections.items():
        w = conn.weighted[0].weight.grad
        assert w is not None and torch.isfinite(w).all() and w.abs().sum() > 0, f"no gradient into {src}->{tgt}"


def test_engines_agree_on_a_three_layer_net_and_peak_readout():
    net = scaled_net()
    x = torch.rand(64, 8, 30, generator=torch.Generator().manual_seed(2)) < 0.2
    a = simulate(net, x, engine="fast", record_voltage=True)
    b = simulate(net, x, engine="bindsnet", record_voltage=True)
    for name in ("h1", "h2", "out"):
        assert torch.equal(a.spikes[name], b.spikes[name])
        assert torch.equal(a.voltages[name], b.voltages[name])
    peak = a.voltages["out"]
    assert (peak[1:] >= peak[:-1]).all()  # a running maximum
    with torch.no_grad():
        cur = net.connections[("h2", "out")].compute_multi(a.spikes["h2"])
    assert torch.equal(peak[-1], fs.decay_conv(cur, net.layers["out"].params.leak).amax(0))


def test_spec_and_checkpoint_roundtrip(tmp_path):
    net = scaled_net()
    spec = network_spec(net)
    assert [layer["type"] for layer in spec["layers"]] == ["input", "fastlif", "fastlif", "peak_integrator"]
    assert spec["layers"][2]["leak"] == 0.8 and spec["layers"][1]["grad"] == "sequential"
    save_network(net, tmp_path / "ck")
    again = load_network(tmp_path / "ck")
    x = torch.rand(20, 4, 30, generator=torch.Generator().manual_seed(3)) < 0.3
    a, b = simulate(net, x, record_voltage=["out"]), simulate(again, x, record_voltage=["out"])
    assert torch.equal(a.voltages["out"], b.voltages["out"])


def test_bad_arguments_are_rejected():
    x = currents(5)
    with pytest.raises(ValueError, match="beta"):
        fs.fast_lif(x, 1.5)
    with pytest.raises(ValueError, match="method"):
        fs.decay_conv(x, 0.9, "magic")
    with pytest.raises(ValueError, match="grad"):
        fs.fast_lif(x, 0.9, grad="nope")
    with pytest.raises(TypeError, match="floating point"):
        fs.fast_lif(torch.ones(5, 3, dtype=torch.long), 0.9)
    with pytest.raises(ValueError, match="single spike"):
        FastLIFNeurons(shape=[3], reset="subtract")
    with pytest.raises(ValueError, match="method"):
        PeakIntegrator(shape=[3], method="nope")


def test_float64_and_odd_shapes_use_the_torch_path():
    x = currents(12, shape=(2, 3, 4)).double()
    s, v = fs.fast_lif(x, 0.9, return_potential=True)
    ref, _, _ = neuron_multistep(x, NeuronParams(1.0, 0.9, "zero", 0.0, 12, True))
    assert s.shape == x.shape and v.dtype == torch.float64 and torch.equal(s, ref)


@pytest.mark.parametrize("variable", ["SNNSIM_NATIVE", "SNNSIM_FASTSNN_NATIVE"])
def test_native_switch_is_read_at_every_call(monkeypatch, variable):
    """``SNNSIM_NATIVE=0`` turns the FastSNN kernels off (and back on) also after they were loaded."""
    monkeypatch.delenv("SNNSIM_NATIVE", raising=False)
    monkeypatch.delenv("SNNSIM_FASTSNN_NATIVE", raising=False)
    if fs.native_status() != "loaded":
        pytest.skip(f"native kernels not available: {fs.native_status()}")
    calls = []
    torch_scan = fs._scan_torch
    monkeypatch.setattr(fs, "_scan_torch", lambda *a, **k: calls.append(1) or torch_scan(*a, **k))
    x = currents(20)
    ref = fs.decay_conv(x, 0.9, "scan")
    assert not calls  # the C kernel ran
    monkeypatch.setenv(variable, "0")
    assert fs.native_status() == f"disabled by {variable}=0"
    fs.set_native(True)  # the environment wins over the API switch
    assert torch.equal(fs.decay_conv(x, 0.9, "scan"), ref) and len(calls) == 1  # the torch path ran
    monkeypatch.setenv(variable, "1")
    assert fs.native_status() == "loaded"
    fs.decay_conv(x, 0.9, "scan")
    assert len(calls) == 1


def test_fast_sigmoid_is_one_function():
    """FastSNN's backward and the FastSigmoid surrogate share surrogate.fast_sigmoid."""
    import snnsim.methods.fastsnn.layer as fs
    from snnsim.core.surrogate import FastSigmoid, fast_sigmoid

    u = torch.linspace(-1, 1, 101, dtype=torch.float64)
    expected = 1.0 / (25.0 * u.abs() + 1.0) ** 2
    assert torch.allclose(fast_sigmoid(u, 25.0), expected, rtol=1e-15)
    assert torch.equal(FastSigmoid(25.0).derivative(u), fast_sigmoid(u, 25.0))
    assert fs.fast_sigmoid is fast_sigmoid
