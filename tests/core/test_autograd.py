"""The custom autograd IF/LIF equals a naive per-step autograd implementation."""

import math

import pytest
import torch

from snnsim.core.autograd import multistep_neuron
from snnsim.core.dynamics import NeuronParams, initial_state, neuron_step
from snnsim.core.surrogate import ArcTan, FastSigmoid, LeePseudo, Rectangular, get_surrogate, lee_pseudo_derivative


def naive(current, p, sur, detach_reset):
    """Plain per-step autograd through the one step function, dynamics.neuron_step."""
    state = initial_state(current[0], p)
    spikes, volts = [], []
    for t in range(current.shape[0]):
        s, state = neuron_step(current[t], state, p, surrogate=sur, detach_reset=detach_reset)
        spikes.append(s.to(current.dtype))
        volts.append(state.v)
    return torch.stack(spikes), torch.stack(volts)


CASES = [
    (NeuronParams(), Rectangular(1.0), False),
    (NeuronParams(leak=0.9, reset="subtract"), FastSigmoid(10.0), False),
    (NeuronParams(leak=0.25, thresh=0.4), Rectangular(1.0), False),  # STBP settings
    (NeuronParams(leak=0.8, reset="zero"), ArcTan(2.0), True),
    (NeuronParams(leak=0.95, reset="subtract"), ArcTan(2.0), True),
    (NeuronParams(leak=0.9, spiking=False, reset="none"), FastSigmoid(), False),
]


@pytest.mark.parametrize("p, sur, detach", CASES)
def test_gradients_match_naive_bptt(p, sur, detach):
    torch.manual_seed(0)
    cur = (torch.rand(12, 3, 5, dtype=torch.float64) * 0.9).requires_grad_()
    w_s, w_v = torch.randn(12, 3, 5, dtype=torch.float64), torch.randn(12, 3, 5, dtype=torch.float64)
    s1, v1 = multistep_neuron(cur, p, sur, detach)
    (g1,) = torch.autograd.grad((s1 * w_s).sum() + (v1 * w_v).sum(), cur)
    s2, v2 = naive(cur, p, sur, detach)
    (g2,) = torch.autograd.grad((s2 * w_s).sum() + (v2 * w_v).sum(), cur)
    assert torch.equal(s1, s2) and torch.allclose(v1, v2, atol=1e-12)
    assert torch.allclose(g1, g2, atol=1e-5, rtol=1e-5)
    if p.spiking:
        assert s1.sum() > 0 and (g1 != 0).any()


def test_float32_gradients_match_naive():
    torch.manual_seed(1)
    cur = (torch.rand(25, 4, 30) * 0.7).requires_grad_()
    p, sur = NeuronParams(leak=0.9, reset="subtract"), FastSigmoid(100.0)
    s1, v1 = multistep_neuron(cur, p, sur, False)
    (g1,) = torch.autograd.grad(s1.sum() + v1[-1].sum(), cur)
    s2, v2 = naive(cur, p, sur, False)
    (g2,) = torch.autograd.grad(s2.sum() + v2[-1].sum(), cur)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_surrogate_shapes_centred_at_threshold():
    u = torch.tensor([-0.6, -0.4, 0.0, 0.4, 0.6])
    assert Rectangular(1.0).derivative(u).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert FastSigmoid(100.0).derivative(torch.tensor([0.0, 0.01])).tolist() == pytest.approx([1.0, 0.25])
    assert ArcTan(2.0).derivative(torch.tensor([0.0])).item() == pytest.approx(1.0)
    assert get_surrogate({"name": "rectangular", "width": 0.5}) == Rectangular(0.5)
    with pytest.raises(ValueError, match="known"):
        get_surrogate("tanh")
    with pytest.raises(ValueError, match="width"):
        Rectangular(0.0)


def test_lee_pseudo_derivative_by_hand():
    # 3 neurons, T = 4, leak 0.9, V_th = 1:
    # n0 spikes at t = 2 and 4 (1-based): LF = 0.9^2 + 0.9^0 = 1.81, gamma = 2
    # n1 spikes at t = 1:                 LF = 0.9^3 = 0.729,       gamma = 1
    # n2 never spikes: derivative 0
    s = torch.zeros(4, 1, 3, dtype=torch.bool)
    s[1, 0, 0] = s[3, 0, 0] = True
    s[0, 0, 1] = True
    got = lee_pseudo_derivative(s, leak=0.9, thresh=1.0)[0]
    ln = math.log(0.9)
    expected = [1 + ln * 1.81 / 2, 1 + ln * 0.729, 0.0]
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    # IF (leak 1): 1 / V_th for neurons that fired
    assert lee_pseudo_derivative(s, 1.0, 2.0)[0].tolist() == [0.5, 0.5, 0.0]


def test_lee_gradient_is_rate_based():
    cur = torch.full((5, 1, 2), 0.6, requires_grad=True)
    s, _ = multistep_neuron(cur, NeuronParams(leak=1.0), LeePseudo(), False)
    (g,) = torch.autograd.grad(s.sum(), cur)
    # every step of a firing neuron gets the same derivative 1 / V_th
    assert torch.equal(g, torch.ones_like(g))


def test_refractory_rejected_when_differentiable():
    with pytest.raises(ValueError, match="refractory"):
        multistep_neuron(torch.rand(3, 1, 2, requires_grad=True), NeuronParams(refrac=2), FastSigmoid(), False)
