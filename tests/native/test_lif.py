"""The native (C) multi-step IF/LIF equals the torch path of MultiStepNeuron."""

import pytest
import torch

from snnsim.core import autograd
from snnsim.core.autograd import multistep_neuron
from snnsim.core.dynamics import NeuronParams, neuron_multistep
from snnsim.core.surrogate import ArcTan, FastSigmoid, LeePseudo, Rectangular, lee_pseudo_derivative
from snnsim.native import lif as lif_native

pytestmark = pytest.mark.skipif(
    lif_native.native_status() != "loaded", reason=f"native LIF kernels not available: {lif_native.native_status()}"
)

SURROGATES = [Rectangular(1.0), Rectangular(0.3), FastSigmoid(10.0), FastSigmoid(100.0), ArcTan(2.0), LeePseudo()]
PARAMS = [
    NeuronParams(reset="zero"),
    NeuronParams(leak=0.9, reset="zero", v_reset=-0.2),
    NeuronParams(leak=0.25, thresh=0.4, reset="zero"),
    NeuronParams(reset="subtract"),
    NeuronParams(leak=0.9, reset="subtract", thresh=0.7),
    NeuronParams(reset="none"),
    NeuronParams(leak=0.8, reset="none"),
    NeuronParams(leak=0.9, reset="none", spiking=False),
    NeuronParams(leak=1.0, reset="zero", spiking=False),
]


def _run(cur, p, sur, detach, native, monkeypatch, w_s=None, w_v=None):
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    x = cur.clone().requires_grad_()
    assert autograd.native_usable(x, p, sur) == native
    s, v = multistep_neuron(x, p, sur, detach)
    loss = 0
    if w_s is not None:
        loss = loss + (s * w_s).sum()
    if w_v is not None:
        loss = loss + (v * w_v).sum()
    (g,) = torch.autograd.grad(loss, x)
    return s.detach(), v.detach(), g


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("sur", SURROGATES, ids=repr)
@pytest.mark.parametrize("p", PARAMS, ids=repr)
def test_native_matches_torch(p, sur, detach, monkeypatch):
    torch.manual_seed(0)
    cur = torch.rand(25, 4, 3, 50) * 0.8 - 0.1  # N = 600: more than one column block
    w_s, w_v = torch.randn(25, 4, 3, 50), torch.randn(25, 4, 3, 50)
    s1, v1, g1 = _run(cur, p, sur, detach, True, monkeypatch, w_s, w_v)
    s2, v2, g2 = _run(cur, p, sur, detach, False, monkeypatch, w_s, w_v)
    assert s1.dtype == s2.dtype == torch.float32
    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-5)
    if p.spiking:
        assert 0 < s1.sum() < s1.numel()
    assert (g1 != 0).any()


@pytest.mark.parametrize("which", ["spikes", "volts"])
def test_native_one_output_gradient(which, monkeypatch):
    """Only one output used: the other incoming gradient is None."""
    torch.manual_seed(1)
    cur = torch.rand(20, 8, 70) * 0.6
    p, sur = NeuronParams(leak=0.9, reset="subtract"), ArcTan(2.0)
    w = torch.randn(20, 8, 70)
    kw = {"w_s": w} if which == "spikes" else {"w_v": w}
    s1, v1, g1 = _run(cur, p, sur, False, True, monkeypatch, **kw)
    s2, v2, g2 = _run(cur, p, sur, False, False, monkeypatch, **kw)
    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("which", ["spikes", "volts", "both"])
@pytest.mark.parametrize(
    "p",
    [NeuronParams(leak=0.99, reset="zero"), NeuronParams(leak=0.9, thresh=0.7), NeuronParams(leak=1.0, thresh=0.75)],
    ids=repr,
)
def test_lee_kernels_match_the_torch_path(p, which, monkeypatch):
    """Lee's pseudo-derivative in the C kernels: the forward pass keeps it per neuron ([B, ...],
    not the [T, B, ...] potentials), equal to lee_pseudo_derivative of the spikes (0 for a silent
    neuron); the gradient is dL/ds * pseudo, dL/dv does not enter, as in the torch path."""
    torch.manual_seed(3)
    cur = torch.rand(60, 5, 700) * 0.25  # N = 3500: several blocks and thread ranges
    cur[:, :, :50] = 0.0  # silent neurons
    spikes, volts, pseudo = lif_native.lif_forward(cur, *autograd._scalars(p), LeePseudo().kernel()[0])
    assert pseudo.shape == cur.shape[1:] and pseudo.dtype == torch.float32
    ref = lee_pseudo_derivative(spikes, p.leak, p.thresh)
    assert torch.allclose(pseudo, ref, rtol=1e-6, atol=0) and (pseudo[:, :50] == 0).all()
    assert (pseudo[:, 50:] != 0).any() and (spikes.sum(0) > 1).any()
    w = torch.randn_like(cur)
    kw = {"w_s": w, "w_v": -w} if which == "both" else {"w_s": w} if which == "spikes" else {"w_v": w}
    s1, v1, g1 = _run(cur, p, LeePseudo(), True, True, monkeypatch, **kw)
    s2, v2, g2 = _run(cur, p, LeePseudo(), True, False, monkeypatch, **kw)
    assert torch.equal(s1, s2) and torch.equal(v1, v2) and torch.equal(s1, spikes) and torch.equal(v1, volts)
    assert torch.allclose(g1, g2, rtol=1e-6, atol=0)
    if which == "volts":
        assert (g1 == 0).all()
    else:
        assert torch.allclose(g1, w * pseudo, rtol=1e-6, atol=0) and (g1 != 0).any()


def test_native_large_threaded_and_noncontiguous(monkeypatch):
    """N large enough to split over threads; a non-contiguous input; a broadcast gradient."""
    torch.manual_seed(2)
    cur = (torch.rand(128, 25, 800) * 0.3).transpose(0, 1)  # [T, B, N], not contiguous
    p, sur = NeuronParams(leak=0.9, reset="subtract"), ArcTan(2.0)
    out = []
    for native in (True, False):
        monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
        x = cur.clone().requires_grad_() if not native else cur.detach().requires_grad_()
        s, v = multistep_neuron(x, p, sur, False)
        (g,) = torch.autograd.grad(s.sum() + v[-1].sum(), x)
        out.append((s, v, g))
    (s1, v1, g1), (s2, v2, g2) = out
    assert torch.equal(s1, s2) and torch.equal(v1, v2)
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-5)


def test_native_matches_dynamics(monkeypatch):
    """Spikes / potentials equal the plain (non-differentiable) simulation."""
    monkeypatch.setenv("SNNSIM_NATIVE", "1")
    torch.manual_seed(3)
    cur = torch.rand(30, 5, 40) * 0.7
    for p in PARAMS:
        s, v = multistep_neuron(cur.clone().requires_grad_(), p, FastSigmoid(), False)
        s_ref, v_ref, _ = neuron_multistep(cur, p, record_voltage=True)
        assert torch.equal(s.bool(), s_ref) and torch.equal(v.detach(), v_ref)


def test_fallbacks(monkeypatch):
    monkeypatch.setenv("SNNSIM_NATIVE", "1")
    x = torch.rand(5, 2, 3)
    p = NeuronParams()
    assert autograd.native_usable(x, p, ArcTan())
    assert autograd.native_usable(x, p, LeePseudo())
    assert not autograd.native_usable(x.double(), p, LeePseudo())
    assert not autograd.native_usable(x.double(), p, ArcTan())
    assert not autograd.native_usable(x, NeuronParams(refrac=2), ArcTan())
    monkeypatch.setenv("SNNSIM_NATIVE", "0")
    assert not autograd.native_usable(x, p, ArcTan())
    assert lif_native.native_status().startswith("disabled")


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: f"{p.reset}-{p.leak}-{p.spiking}")
@pytest.mark.parametrize("shape", [(1, 1), (13, 3, 7), (40, 2, 700)])  # 1400 neurons: several blocks
def test_simulation_kernel_is_bit_identical_to_the_torch_step_loop(p, shape):
    """The no-autograd C pass (SpikingNodes.multi_step without grad) gives the spikes and the
    potentials of the torch loop bit for bit, threshold crossings at exactly thresh included."""
    g = torch.Generator().manual_seed(sum(shape))
    cur = torch.rand(shape, generator=g) * 0.8
    cur[0].view(-1)[::3] = p.thresh  # exactly at threshold: fires (>=)
    ref_s, ref_v, _ = neuron_multistep(cur, p, record_voltage=True)
    spikes, volts = autograd.simulate(cur, p, record_voltage=True)
    assert spikes.dtype == torch.bool and torch.equal(spikes, ref_s)
    assert torch.equal(volts, ref_v)
    assert autograd.simulate(cur, p)[1] is None


def test_nodes_take_the_simulation_kernel_only_where_it_applies(monkeypatch):
    from snnsim.core.nodes import LIFNeurons

    layer = LIFNeurons(shape=(5,), leak=0.9, thresh=0.5)
    cur = torch.rand(20, 3, 5)
    with torch.no_grad():
        s_native, v_native = layer.multi_step(cur, record_voltage=True)
    monkeypatch.setenv("SNNSIM_NATIVE", "0")
    assert not autograd.simulate_usable(cur, layer.params)
    with torch.no_grad():
        s_torch, v_torch = layer.multi_step(cur, record_voltage=True)
    assert torch.equal(s_native, s_torch) and torch.equal(v_native, v_torch)
    monkeypatch.setenv("SNNSIM_NATIVE", "1")
    assert not autograd.simulate_usable(cur.double(), layer.params)  # float64 runs the torch loop
    refrac = LIFNeurons(shape=(5,), refrac=2)
    assert not autograd.simulate_usable(cur, refrac.params)


def test_each_surrogate_states_its_kernel_and_the_kernels_take_plain_numbers():
    """The backward kernel called with the numbers a surrogate states equals the torch derivative
    path; Lee's pseudo-derivative, computed from whole spike trains, states kind LEE with no
    parameters (its forward kernel computes it: test_lee_kernels_match_the_torch_path)."""
    for sur in SURROGATES:
        kind, p1, p2 = sur.kernel()
        assert kind in lif_native.KERNEL_KINDS and all(isinstance(v, float) for v in (p1, p2))
    assert LeePseudo().kernel() == (lif_native.LEE, 0.0, 0.0) and lif_native.LEE in lif_native.KERNEL_KINDS
    torch.manual_seed(1)
    cur = torch.rand(9, 2, 40) * 0.8
    g_s = torch.randn_like(cur)
    for sur in [s for s in SURROGATES if not isinstance(s, LeePseudo)]:  # per-step derivatives
        spikes, volts, pre = lif_native.lif_forward(cur, 0.9, 0.5, 0.0, "subtract", True)
        got = lif_native.lif_backward(pre, g_s, None, 0.9, 0.5, 0.0, "subtract", True, True, sur.kernel())
        x = cur.clone().requires_grad_()
        s, _ = multistep_neuron(x, NeuronParams(leak=0.9, thresh=0.5, reset="subtract"), sur, True)
        (ref,) = torch.autograd.grad((s * g_s).sum(), x)
        assert torch.equal(spikes, s.detach()) and torch.allclose(got, ref, atol=1e-5, rtol=1e-5), sur


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize(
    "p", [PARAMS[1], PARAMS[3], PARAMS[6], PARAMS[7]], ids=["zero", "subtract", "none", "nonspiking"]
)
@pytest.mark.parametrize("sur", [FastSigmoid(10.0), LeePseudo()], ids=["fastsigmoid", "lee"])
def test_potentials_not_wanted_are_not_returned_and_change_nothing(p, sur, native, monkeypatch):
    """want_volts=False (a layer whose potentials nobody records): None instead of the potentials,
    the same spikes and the same gradient, bit for bit."""
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    g = torch.Generator().manual_seed(3)
    cur, w_s = torch.rand(12, 5, 70, generator=g) * 0.6, torch.randn(12, 5, 70, generator=g)
    out = []
    for want in (True, False):
        x = cur.clone().requires_grad_()
        s, v = multistep_neuron(x, p, sur, False, want_volts=want)
        assert (v is None) != want
        (grad,) = torch.autograd.grad((s * w_s).sum(), x)
        out.append((s.detach(), grad))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])
