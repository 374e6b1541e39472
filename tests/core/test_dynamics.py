import math

import pytest
import torch

from snnsim.core.dynamics import (
    NeuronParams,
    NeuronState,
    check_params,
    initial_state,
    leak_from_tau,
    neuron_multistep,
    neuron_step,
)


def run_steps(xs, p):
    state = initial_state(torch.zeros(1), p)
    out = []
    for x in xs:
        s, state = neuron_step(torch.tensor([x]), state, p)
        out.append((bool(s), float(state.v)))
    return out


def test_if_reset_to_zero_by_hand():
    # v: 0.4, 0.8, 1.2 -> spike, reset 0; 0.4
    out = run_steps([0.4, 0.4, 0.4, 0.4], NeuronParams())
    assert [s for s, _ in out] == [False, False, True, False]
    assert [v for _, v in out] == pytest.approx([0.4, 0.8, 0.0, 0.4])


def test_if_reset_by_subtraction_keeps_residue():
    out = run_steps([0.7, 0.7, 0.7], NeuronParams(reset="subtract"))
    assert [s for s, _ in out] == [False, True, True]
    assert out[1][1] == pytest.approx(0.4) and out[2][1] == pytest.approx(0.1)


def test_lif_leak_applied_before_integration():
    out = run_steps([0.5, 0.5], NeuronParams(leak=0.5))
    assert out[1][1] == pytest.approx(0.5 * 0.5 + 0.5)


def test_refractory_period_ignores_input():
    out = run_steps([1.0, 1.0, 1.0, 1.0], NeuronParams(refrac=2))
    assert [s for s, _ in out] == [True, False, False, True]


def test_integrator_never_spikes_and_accumulates():
    out = run_steps([2.0, 3.0], NeuronParams(spiking=False, reset="none"))
    assert [s for s, _ in out] == [False, False] and out[-1][1] == 5.0


def test_multistep_matches_step_loop_and_records_voltage():
    torch.manual_seed(0)
    cur = torch.rand(30, 4, 7) * 0.6
    p = NeuronParams(leak=0.9, reset="subtract", refrac=1)
    spikes, volts, _ = neuron_multistep(cur, p, record_voltage=True)
    state = initial_state(cur[0], p)
    for t in range(30):
        s, state = neuron_step(cur[t], state, p)
        assert torch.equal(s, spikes[t]) and torch.equal(state.v, volts[t])
    assert spikes.any()


def test_step_does_not_modify_inputs():
    x = torch.full((3,), 2.0)
    v = torch.zeros(3)
    neuron_step(x, NeuronState(v), NeuronParams())
    assert torch.equal(x, torch.full((3,), 2.0)) and torch.equal(v, torch.zeros(3))


def test_leak_from_tau():
    assert leak_from_tau(10.0, 1.0) == pytest.approx(math.exp(-0.1))
    with pytest.raises(ValueError):
        leak_from_tau(0.0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(thresh=0.0), "thresh"),
        (dict(thresh=float("nan")), "thresh"),
        (dict(leak=1.5), "leak"),
        (dict(leak=-0.1), "leak"),
        (dict(reset="soft"), "reset"),
        (dict(refrac=-1), "refrac"),
        (dict(refrac=1.5), "refrac"),
        (dict(v_reset=float("inf")), "v_reset"),
    ],
)
def test_bad_params(bad, match):
    with pytest.raises(ValueError, match=match):
        check_params(NeuronParams(**bad))


def test_zero_leak_is_the_memoryless_neuron_but_not_a_lif_layer():
    """``leak = 0`` is valid dynamics (NIR's Threshold: ``v = x[t]``), yet a ``lif`` layer in a
    spec keeps refusing it: a LIF with no memory is a typo, not a model."""
    p = NeuronParams(leak=0.0)
    check_params(p)
    v = torch.full((3,), 0.7)
    s, state = neuron_step(torch.tensor([0.2, 1.0, 1.5]), NeuronState(v), p)
    assert s.tolist() == [False, True, True]
    assert torch.allclose(state.v, torch.tensor([0.2, 0.0, 0.0]))
    from snnsim.core.spec import build_network

    spec = {
        "layers": [{"name": "input", "type": "input", "shape": [3]}, {"name": "h", "type": "lif", "leak": 0.0}],
        "connections": [{"source": "input", "target": "h", "ops": [{"op": "linear", "out_features": 2}]}],
    }
    with pytest.raises(ValueError, match="leak"):
        build_network(spec)
