"""float64 networks simulate in float64 in both engines (spikes take the weights' dtype)."""

import pytest
import torch
from torch import nn

import networks
from encoders import constant_current
from snnsim.core.connections import ModuleConnection
from snnsim.methods.ttfs import from_relu, simulate_ttfs
from tests.helpers import assert_engines_agree, poisson_input, scale_weights


def _fc64(event_driven: bool = True) -> nn.Module:
    net = scale_weights(networks.fc([30, 20, 6], output="integrator"), 0.5).double()
    for conn in net.connections.values():
        conn.event_driven = event_driven
    return net


@pytest.mark.parametrize("event_driven", [True, False])
@pytest.mark.parametrize("given", [torch.bool, torch.float32, torch.float64])
def test_float64_fc_network_simulates_in_float64(event_driven, given):
    net = _fc64(event_driven)
    x = poisson_input((12, 3, 30), 0.4).to(given)
    rec = assert_engines_agree(net, x)
    assert rec.spikes["fc1"].any()
    assert all(v.dtype == torch.float64 for v in rec.voltages.values())
    # the read-out (an integrator, leak 1) sums float64 currents: float32 arithmetic would be ~1e-6 off
    with torch.no_grad():
        w = net.connections[("fc1", "out")].weighted[0].weight
        expect = (rec.spikes["fc1"].double() @ w.t()).cumsum(0)
    assert torch.allclose(rec.voltages["out"], expect, rtol=0, atol=1e-12)


def test_float64_conv_network_simulates_in_both_engines():
    net = scale_weights(networks.scnn(reset="subtract", output="integrator"), 0.25).double()
    rec = assert_engines_agree(net, poisson_input((10, 2, 1, 28, 28), 0.3))
    assert rec.spikes["conv1"].any() and rec.spikes["conv2"].any()
    assert all(v.dtype == torch.float64 for v in rec.voltages.values())
    # float currents into a float64 conv, pooling and dropout (eval) on the way
    spec_net = scale_weights(networks.lenet(output="integrator"), 0.3).double().eval()
    rec = assert_engines_agree(spec_net, constant_current(torch.rand(2, 1, 28, 28), 6))
    assert rec.voltages["out"].dtype == torch.float64


def test_float64_maxpool_and_dropout_ops_keep_float64():
    from snnsim.core.spec import build_network

    spec = {
        "layers": [
            {"name": "input", "type": "input", "shape": [1, 8, 8]},
            {"name": "c", "type": "if"},
            {"name": "out", "type": "integrator"},
        ],
        "connections": [
            {"source": "input", "target": "c", "ops": [{"op": "conv2d", "out_channels": 3, "kernel_size": 3}]},
            {
                "source": "c",
                "target": "out",
                "ops": [
                    {"op": "maxpool2d", "kernel_size": 2},
                    {"op": "dropout", "p": 0.5},
                    {"op": "avgpool2d", "kernel_size": 3},
                    {"op": "linear", "out_features": 4},
                ],
            },
        ],
    }
    net = scale_weights(build_network(spec), 0.8).double()
    conn = net.connections[("c", "out")]
    assert isinstance(conn, ModuleConnection)
    x = poisson_input((8, 2, 1, 8, 8), 0.5)
    rec = assert_engines_agree(net.eval(), x)
    assert rec.spikes["c"].any() and rec.voltages["out"].dtype == torch.float64
    net.train()  # dropout on: one float64 mask per sample
    s = torch.rand(4, 2, 3, 6, 6) < 0.5
    assert conn.compute_multi(s).dtype == torch.float64
    conn.reset_state_variables()
    assert conn.compute(s[0].flatten(1)).dtype == torch.float64


def test_from_relu_keeps_float64_and_the_mapped_conv_net_simulates():
    g = torch.Generator().manual_seed(0)
    ann = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 3)
    ).double()
    with torch.no_grad():
        for p in ann.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) - 0.3)
    x = torch.rand(4, 1, 8, 8, generator=g, dtype=torch.float64)
    net = from_relu(ann, x)
    assert {p.dtype for p in net.parameters()} == {torch.float64}
    fast = simulate_ttfs(net, x, steps_per_window=32, engine="fast", record_voltage=True)
    ref = simulate_ttfs(net, x, steps_per_window=32, engine="bindsnet", record_voltage=True)
    assert fast.logits.dtype == ref.logits.dtype == torch.float64
    for name in fast.record.spikes:
        assert torch.equal(fast.record.spikes[name], ref.record.spikes[name]), name
    assert fast.record.spikes["l1"].any()
    assert torch.allclose(fast.logits, ref.logits, rtol=0, atol=1e-9)
    with torch.no_grad():  # 32 steps a window: the discretised logits are close to the ANN's
        assert torch.allclose(fast.logits, ann(x), atol=0.1)
