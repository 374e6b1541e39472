"""tdBN: statistics over (T, B, H, W), scale lambda * alpha * V_th, running stats, folding."""

import math

import pytest
import torch
from torch import nn

from snnsim.core.ops import build_ops
from snnsim.core.spec import build_network
from snnsim.engine import simulate
from snnsim.methods.stbp.tdbn import TDBatchNorm1d, TDBatchNorm2d, fold_into, fold_network, has_batchnorm

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(t=3, b=5, c=4, h=6, w=6, seed=0):
    """[T, B, C, H, W] with a different mean and std per channel AND a drift over time."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(t, b, c, h, w, generator=g)
    scale = torch.arange(1, c + 1).view(1, 1, c, 1, 1).float()
    drift = torch.arange(t).view(t, 1, 1, 1, 1).float() * 4.0
    return x * scale + 3.0 + drift


@pytest.mark.parametrize("alpha", [1.0, 1 / math.sqrt(2)])
def test_tdbn2d_output_statistics_per_channel(alpha):
    x = _data()
    bn = TDBatchNorm2d(4, alpha=alpha, v_th=0.4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5]))  # lambda
        bn.bias.copy_(torch.tensor([0.0, 0.1, -0.2, 0.3]))  # beta
    y = bn(x)  # [T, B, C, H, W]: statistics over T and B together
    assert y.shape == x.shape
    dims = (0, 1, 3, 4)
    assert torch.allclose(y.mean(dims), bn.bias.detach(), atol=1e-5)
    assert torch.allclose(y.std(dims, unbiased=False), bn.weight.detach() * alpha * 0.4, rtol=1e-3)
    # not per time step: with the drift, each step's own mean is far from beta
    assert (y[0].mean((0, 2, 3)) - bn.bias).abs().min() > 0.05


def test_flattened_time_batch_is_the_same_statistic():
    """The fast engine hands ops [T*B, C, H, W]: ordinary BN statistics over that batch
    are exactly the (T, B, H, W) statistics."""
    x = _data()
    a, b = TDBatchNorm2d(4), TDBatchNorm2d(4)
    y1 = a(x)
    y2 = b(x.flatten(0, 1)).unflatten(0, x.shape[:2])
    assert torch.equal(y1, y2)
    mean = x.mean((0, 1, 3, 4))
    var = x.var((0, 1, 3, 4), unbiased=False)
    manual = 0.4 * (x - mean.view(1, 1, -1, 1, 1)) / torch.sqrt(var.view(1, 1, -1, 1, 1) + 1e-5)
    assert torch.allclose(y1, manual, atol=1e-5)
    # running statistics: momentum 0.1 from (0, 1), unbiased variance as nn.BatchNorm
    n = x.numel() / 4
    assert torch.allclose(a.running_mean, 0.1 * mean, atol=1e-5)
    assert torch.allclose(a.running_var, 0.9 + 0.1 * var * n / (n - 1), atol=1e-4)


def test_tdbn_op_in_a_connection_sees_T_times_B():
    """The 'tdbn' op inside a connection run by the fast engine normalises over (T, B, H, W)."""
    net = build_network(
        {
            "layers": [{"name": "input", "type": "input", "shape": [2, 5, 5]}, {"name": "out", "type": "integrator"}],
            "connections": [{"source": "input", "target": "out", "ops": [{"op": "tdbn", "alpha": 0.5}]}],
        }
    )
    x = _data(t=4, b=3, c=2, h=5, w=5)
    net.train(True)
    rec = simulate(net, x, record_voltage=True)  # simulate switches nothing: still training mode
    v = rec.voltages["out"]
    current = torch.cat([v[:1], v[1:] - v[:-1]])  # the integrator (leak 1) accumulates its input
    assert torch.allclose(current.mean((0, 1, 3, 4)), torch.zeros(2), atol=1e-4)
    assert torch.allclose(current.std((0, 1, 3, 4), unbiased=False), torch.full((2,), 0.5 * 0.4), rtol=1e-3)


def test_tdbn1d_and_eval_mode_uses_running_stats():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 8, 6, generator=g) * 2 + 1  # [T, B, C]
    bn = TDBatchNorm1d(6, alpha=1.0, v_th=0.4)
    y = bn(x)
    assert torch.allclose(y.mean((0, 1)), torch.zeros(6), atol=1e-5)
    assert torch.allclose(y.std((0, 1), unbiased=False), torch.full((6,), 0.4), rtol=1e-3)
    bn.eval()
    y_eval = bn(x[0])
    expect = 0.4 * (x[0] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(y_eval, expect, atol=1e-6)


def test_tdbn_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        TDBatchNorm2d(3, alpha=0)
    with pytest.raises(ValueError, match="v_th"):
        TDBatchNorm1d(3, v_th=float("nan"))
    with pytest.raises(ValueError, match="expects"):
        TDBatchNorm2d(3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="channels"):
        TDBatchNorm1d(3)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="tdbn needs"):
        build_ops([{"op": "tdbn"}], [2, 3])


def _trained_bn(bn, x):
    bn.train(True)
    for k in range(3):
        bn(x + k)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-0.3, 0.3)
    return bn.train(False)


@pytest.mark.parametrize("bias", [False, True])
def test_fold_into_conv_and_linear_is_exact_in_eval_mode(bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=bias)
    x = torch.rand(7, 3, 8, 8)
    bn = _trained_bn(TDBatchNorm2d(5, alpha=1 / math.sqrt(2)), conv(x).detach())
    with torch.no_grad():
        assert torch.allclose(fold_into(conv, bn)(x), bn(conv(x)), atol=1e-5)
    lin = nn.Linear(12, 4, bias=bias)
    z = torch.rand(9, 12)
    bn1 = _trained_bn(TDBatchNorm1d(4), lin(z).detach())
    with torch.no_grad():
        folded = fold_into(lin, bn1)
        assert torch.allclose(folded(z), bn1(lin(z)), atol=1e-5)
    assert lin.bias is None or not torch.equal(lin.bias, folded.bias)  # the original is untouched
    with pytest.raises(ValueError, match="channels"):
        fold_into(lin, TDBatchNorm1d(5))
    with pytest.raises(TypeError, match="Linear or nn.Conv2d"):
        fold_into(nn.Identity(), bn1)


def test_fold_network_currents_and_bad_placement():
    spec = {
        "layers": [
            {"name": "input", "type": "input", "shape": [2, 6, 6]},
            {"name": "c1", "type": "lif", "leak": 0.25, "thresh": 0.4},
            {"name": "out", "type": "integrator"},
        ],
        "connections": [
            {
                "source": "input",
                "target": "c1",
                "ops": [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1}, {"op": "tdbn"}],
            },
            {
                "source": "c1",
                "target": "out",
                "ops": [
                    {"op": "avgpool2d", "kernel_size": 2},
                    {"op": "linear", "out_features": 4},
                    {"op": "batchnorm"},
                ],
            },
        ],
    }
    torch.manual_seed(0)
    net = build_network(spec)
    x = torch.rand(3, 6, 2, 6, 6)
    net.train(True)
    for k in range(3):
        simulate(net, x * (k + 1))
    net.train(False)
    folded = fold_network(net)
    assert has_batchnorm(net) and not has_batchnorm(folded)
    assert [o["op"] for o in folded.connections[("input", "c1")].ops] == ["conv2d"]
    assert folded.connections[("input", "c1")].ops[0]["bias"] is True
    with torch.no_grad():
        for key, conn in net.connections.items():
            src = x if key[0] == "input" else (torch.rand(3, 6, 3, 6, 6) < 0.3).float()
            assert torch.allclose(conn.compute_multi(src), folded.connections[key].compute_multi(src), atol=1e-5)
    a, b = simulate(net, x, record_voltage=True), simulate(folded, x, record_voltage=True)
    assert torch.equal(a.spikes["c1"], b.spikes["c1"])
    assert torch.allclose(a.voltages["out"], b.voltages["out"], atol=1e-5)
    bad = {
        **spec,
        "connections": [
            dict(spec["connections"][0]),
            {
                "source": "c1",
                "target": "out",
                "ops": [
                    {"op": "avgpool2d", "kernel_size": 2},
                    {"op": "flatten"},
                    {"op": "batchnorm"},
                    {"op": "linear", "out_features": 4},
                ],
            },
        ],
    }
    with pytest.raises(ValueError, match="cannot be folded"):
        fold_network(build_network(bad))
