"""The two engines agree spike for spike; potentials as the engine contract says
(``tests.helpers.assert_records_agree``: bit-identical where both engines do the same
arithmetic, else within ``ENGINE_ULPS``)."""

import pytest
import torch

import networks
from encoders import constant_current, poisson
from snnsim.core.density import ALWAYS_EVENTS, use_cost_model
from snnsim.core.spec import build_network
from snnsim.engine import simulate
from tests.helpers import assert_engines_agree, assert_records_agree, exact_layers, poisson_input, scale_weights


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fc_engines_identical_poisson(reset):
    net = scale_weights(networks.fc([784, 300, 200, 10], input_shape=(1, 28, 28), reset=reset), 0.08)
    x = poisson(torch.rand(6, 1, 28, 28), 40, prob_scale=0.5, generator=torch.Generator().manual_seed(1))
    with use_cost_model(ALWAYS_EVENTS):  # the dense choice: tests/core/test_density.py
        rec = assert_engines_agree(net, x)
        assert exact_layers(net, rec) == set(net.layers)  # event-driven sums only: bit-identical
    # the comparison is only meaningful if every layer is active
    for name in ("fc1", "fc2", "out"):
        assert rec.spikes[name].any(), name


def test_scnn_engines_agree():
    net = scale_weights(networks.scnn(reset="subtract"), 0.25)
    x = poisson_input((25, 3, 1, 28, 28), 0.3)
    rec = assert_engines_agree(net, x)
    assert all(rec.spikes[n].any() for n in ("conv1", "conv2", "out"))
    assert exact_layers(net, rec) == {"input"}  # convolutions and a Linear on pooled floats


def test_engine_contract_rejects_a_wrong_potential():
    """The tolerance is tight: the weights of one read-out neuron moved by 1e-6 (~30 float32
    ulps of weights ~0.25) break it (measured: 2.6e-3 against a tolerance of 3.1e-4)."""
    net = scale_weights(networks.scnn(reset="subtract", output="integrator"), 0.25)
    x = poisson_input((25, 3, 1, 28, 28), 0.3)
    fast = simulate(net, x, engine="fast", record_voltage=True)
    with torch.no_grad():
        net.connections[("conv2", "out")].weighted[0].weight[0] += 1e-6
    ref = simulate(net, x, engine="bindsnet", record_voltage=True)
    assert torch.equal(fast.spikes["conv2"], ref.spikes["conv2"])
    with pytest.raises(AssertionError, match="potentials of layer out differ"):
        assert_records_agree(net, fast, ref)


def test_maxpool_lif_integrator_and_current_input_agree():
    spec = {
        "layers": [
            {"name": "input", "type": "input", "shape": [1, 12, 12]},
            {"name": "c1", "type": "lif", "leak": 0.9, "reset": "subtract"},
            {"name": "c2", "type": "if", "refrac": 2},
            {"name": "out", "type": "integrator"},
        ],
        "connections": [
            {
                "source": "input",
                "target": "c1",
                "ops": [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": True}],
            },
            {
                "source": "c1",
                "target": "c2",
                "ops": [{"op": "maxpool2d", "kernel_size": 2}, {"op": "conv2d", "out_channels": 6, "kernel_size": 3}],
            },
            {"source": "c2", "target": "out", "ops": [{"op": "linear", "out_features": 5}]},
            {
                "source": "c1",
                "target": "out",
                "ops": [{"op": "avgpool2d", "kernel_size": 3}, {"op": "linear", "out_features": 5}],
            },
        ],
    }
    net = scale_weights(build_network(spec), 0.6)
    x = constant_current(torch.rand(4, 1, 12, 12), 30)
    rec = assert_engines_agree(net, x)
    assert rec.spikes["c1"].any() and rec.spikes["c2"].any()
    assert not rec.spikes["out"].any()  # integrator


def test_input_not_modified_and_repeatable():
    net = scale_weights(networks.fc([20, 15, 3]), 0.5)
    x = poisson_input((10, 2, 20), 0.4)
    keep = x.clone()
    r1 = simulate(net, x, engine="bindsnet")
    r2 = simulate(net, x, engine="bindsnet")
    assert torch.equal(x, keep)
    assert all(torch.equal(r1.spikes[k], r2.spikes[k]) for k in r1.spikes)


def test_no_per_layer_delay():
    # one spike at t=0 with weights above threshold reaches the last layer at t=0
    net = networks.fc([1, 1, 1])
    with torch.no_grad():
        for conn in net.connections.values():
            conn.layers[0].weight.fill_(1.5)
    x = torch.zeros(5, 1, 1, dtype=torch.bool)
    x[0] = True
    for engine in ("fast", "bindsnet"):
        rec = simulate(net, x, engine=engine)
        assert rec.spikes["out"][:, 0, 0].nonzero().flatten().tolist() == [0]


def test_fast_engine_runs_recurrent_connection():
    spec = {
        "layers": [{"name": "input", "type": "input", "shape": [3]}, {"name": "a", "type": "if", "shape": [3]}],
        "connections": [
            {"source": "input", "target": "a", "ops": [{"op": "linear", "out_features": 3}]},
            {"source": "a", "target": "a", "ops": [{"op": "linear", "out_features": 3}]},
        ],
    }
    net = build_network(spec)
    x = poisson_input((12, 2, 3), 0.5)
    assert_engines_agree(
        net, x
    )  # the self-connection delivers the previous step's spikes (tests/engine/test_recurrent.py)


@pytest.mark.parametrize(
    "x, kw, err, match",
    [
        (torch.zeros(4, 2, 10), {}, ValueError, "shape"),
        (torch.zeros(2, 20), {}, ValueError, r"\[T, B"),
        (torch.full((2, 1, 20), float("nan")), {}, ValueError, "NaN"),
        ([[0.0]], {}, TypeError, "tensor"),
        (torch.zeros(2, 1, 20), {"engine": "gpu"}, ValueError, "engine"),
        (torch.zeros(2, 1, 20), {"record_voltage": ["nope"]}, ValueError, "unknown layers"),
        ({"other": torch.zeros(2, 1, 20)}, {}, ValueError, "unknown layer"),
    ],
)
def test_simulate_bad_input(x, kw, err, match):
    net = networks.fc([20, 5, 2])
    with pytest.raises(err, match=match):
        simulate(net, x, **kw)


def test_record_readouts():
    net = scale_weights(networks.fc([20, 30, 4], output="integrator"), 0.5)
    rec = simulate(net, poisson_input((15, 3, 20), 0.5), record_voltage=True)
    assert rec.predict("out").shape == (3,)
    assert torch.equal(rec.predict("out", "voltage"), rec.voltages["out"][-1].argmax(1))
    assert rec.counts("fc1").shape == (3, 30)
    assert rec.rates("fc1").max() <= 1.0
