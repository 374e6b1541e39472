"""Property-based tests (hypothesis) of the engines, and CUDA checks (skipped without a GPU)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import networks
from snnsim.core.density import ALWAYS_EVENTS, use_cost_model
from snnsim.core.spec import build_network
from snnsim.engine import simulate
from snnsim.methods.conversion import convert
from snnsim.methods.conversion.normalize import cumulative_scales
from tests.helpers import assert_engines_agree, exact_layers

layer_params = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["if", "lif"]),
        "thresh": st.floats(0.2, 2.0),
        "reset": st.sampled_from(["zero", "subtract", "none"]),
        "refrac": st.integers(0, 3),
    }
)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4),
    layers=st.lists(layer_params, min_size=3, max_size=3),
    leak=st.floats(0.5, 1.0),
    steps=st.integers(1, 12),
    batch=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_engines_agree_on_random_networks(sizes, layers, leak, steps, batch, density, seed):
    g = torch.Generator().manual_seed(seed)
    spec_layers = [{"name": "input", "type": "input", "shape": [sizes[0]]}]
    conns = []
    for i, n in enumerate(sizes[1:]):
        p = dict(layers[i % 3])
        if p["type"] == "lif":
            p["leak"] = leak
        spec_layers.append({"name": f"l{i}", **p})
        conns.append(
            {
                "source": spec_layers[-2]["name"],
                "target": f"l{i}",
                "ops": [{"op": "linear", "out_features": n, "bias": bool(i % 2)}],
            }
        )
    net = build_network({"layers": spec_layers, "connections": conns})
    with torch.no_grad():
        for conn in net.connections.values():
            for prm in conn.layers[0].parameters():
                prm.copy_(torch.rand(prm.shape, generator=g) * 2 - 0.5)
    x = torch.rand((steps, batch, sizes[0]), generator=g) < density
    with use_cost_model(ALWAYS_EVENTS):  # the dense choice: tests/core/test_density.py
        rec = assert_engines_agree(net, x)
        assert exact_layers(net, rec) == set(net.layers)  # event-driven linear ops: bit-identical


@settings(max_examples=20, deadline=None)
@given(steps=st.integers(1, 30), rate=st.floats(0.0, 1.0))
def test_if_neuron_rate_never_exceeds_one_spike_per_step(steps, rate):
    net = networks.fc([5, 4], reset="subtract")
    with torch.no_grad():
        net.connections[("input", "out")].layers[0].weight.fill_(3.0)
    x = torch.rand(steps, 2, 5) < rate
    rec = simulate(net, x)
    assert rec.spikes["out"].dtype == torch.bool
    assert int(rec.counts("out").max()) <= steps


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_cuda_engines_agree_and_stay_on_device():
    net = networks.scnn(reset="subtract").to("cuda")
    x = torch.rand(10, 4, 1, 28, 28, device="cuda") < 0.3
    a = simulate(net, x, engine="fast")
    b = simulate(net, x, engine="bindsnet")
    assert a.spikes["out"].is_cuda
    for k in a.spikes:
        assert torch.equal(a.spikes[k].cpu(), b.spikes[k].cpu())


@cuda
def test_cuda_training_step():
    from snnsim.methods.spikebp.rule import SpikeBP

    rule = SpikeBP(timesteps=5, hidden=(50,))
    net = rule.build("fc", (1, 28, 28), 10).to("cuda")
    x, y = torch.rand(8, 1, 28, 28, device="cuda"), torch.randint(0, 10, (8,), device="cuda")
    loss = rule.loss(rule.outputs(net, rule.encode(x)), y)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


# --- normalisation (conversion) properties ------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(2, 12), min_size=2, max_size=4),
    norm=st.sampled_from(["none", "model", "data", "percentile"]),
    bias=st.booleans(),
    scale=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**16),
)
def test_normalised_weights_represent_scaled_activations(widths, norm, bias, scale, seed):
    """The converted weights, run as a ReLU net, give layer l's ANN activation / Lambda_l;
    data norm keeps every activation of the calibration data <= 1 (at most the threshold)."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    sizes = [6] + widths
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(a, b, bias=bias)
        with torch.no_grad():
            lin.weight.copy_((torch.rand(lin.weight.shape, generator=g) * 2 - 0.7) * scale)
            if bias:
                lin.bias.copy_((torch.rand(b, generator=g) - 0.3) * scale)
        layers += [lin, torch.nn.ReLU()]
    ann = torch.nn.Sequential(*layers).eval()
    data = torch.rand(64, 6, generator=g)
    conv = convert(ann, norm=norm, data=data if norm in ("data", "percentile") else None)
    lams = cumulative_scales(norm, list(conv.factors.values()))
    x_ann, x_snn = data, data
    with torch.no_grad():
        for (lin, lam), conn in zip(zip(ann[::2], lams), conv.network.connections.values()):
            x_ann = torch.relu(lin(x_ann))
            x_snn = torch.relu(conn.layers[0](x_snn))
            assert torch.allclose(x_snn, x_ann / lam, rtol=1e-4, atol=1e-5)
            if norm == "data":
                assert float(x_snn.max()) <= 1.0 + 1e-5
    for f in conv.factors.values():
        assert f > 0 and torch.isfinite(torch.tensor(f))
