"""ANN-to-SNN conversion: factors, BatchNorm folding, graph tracing, equivalences."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from encoders import constant_current
from snnsim.core.io import load_network, save_network
from snnsim.data.datasets import load_dataset
from snnsim.engine import simulate
from snnsim.methods.conversion import (
    convert,
    fold_batchnorm,
    forward_blocks,
    group_blocks,
    model_factor,
    percentile,
    trace_chain,
)
from tests.helpers import poisson_input


def _set(linear: nn.Module, w) -> nn.Module:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(w, dtype=torch.float32))
    return linear


def hand_net() -> nn.Sequential:
    """2-3-2 ReLU net with hand-picked weights (see the expected factors below)."""
    return nn.Sequential(
        _set(nn.Linear(2, 3, bias=False), [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]),
        nn.ReLU(),
        _set(nn.Linear(3, 2, bias=False), [[2.0, 1.0, -1.0], [0.5, -0.5, 0.25]]),
        nn.ReLU(),
    )


HAND_DATA = torch.tensor([[1.0, 0.0], [0.0, 0.5], [0.5, 0.5]])


def test_model_factors_by_hand():
    net = hand_net()
    conv = convert(net, norm="model")
    # s_1 = max(1, 0.5 + 0.5, 3) = 3; s_2 = max(2 + 1, 0.5 + 0.25) = 3
    assert conv.factors == {"fc1": 3.0, "out": 3.0}
    w1 = conv.network.connections[("input", "fc1")].weighted[0].weight
    w2 = conv.network.connections[("fc1", "out")].weighted[0].weight
    assert torch.allclose(w1, net[0].weight / 3)
    assert torch.allclose(w2, net[2].weight / 3)
    # conv: per output channel, the sum of the positive kernel weights over all input channels
    w = torch.zeros(2, 2, 2, 2)
    w[0, 0, 0, 0], w[0, 1, 1, 1], w[0, 0, 1, 0] = 0.5, 0.25, -3.0
    w[1, 1, 0, 1] = 0.7
    assert model_factor(w) == pytest.approx(0.75)


def test_data_factors_by_hand():
    net = hand_net()
    conv = convert(net, norm="data", data=HAND_DATA)
    # layer 1 activations: [1, .5, 0], [0, .25, 1.5], [0, .5, 1] -> max 1.5 < max weight 3 -> lambda_1 = 3
    # layer 2 activations: [2.5, .25], [0, .25], [0, 0] -> max 2.5 > max weight 2 -> lambda_2 = 2.5
    assert conv.factors == {"fc1": 3.0, "out": 2.5}
    assert conv.max_activations == {"fc1": 1.5, "out": 2.5}
    assert conv.weight_scales == pytest.approx({"fc1": 1 / 3, "out": 3 / 2.5})
    w2 = conv.network.connections[("fc1", "out")].weighted[0].weight
    assert torch.allclose(w2, net[2].weight * 3 / 2.5)


def test_percentile_known_values():
    v = torch.arange(1, 1001, dtype=torch.float32)
    for p in (50, 90, 99.9, 100):
        assert percentile(v, p) == pytest.approx(float(np.percentile(v.numpy(), p)))
    assert percentile(v, 99.9) == pytest.approx(999.001)
    # chain 1 -> 1 -> 1 with weights 1 and 2; data x = k/1000, k = 0..1000:
    # positive activations of layer 1 are k/1000 (k >= 1), of layer 2 twice that.
    net = nn.Sequential(
        _set(nn.Linear(1, 1, bias=False), [[1.0]]), nn.ReLU(), _set(nn.Linear(1, 1, bias=False), [[2.0]]), nn.ReLU()
    )
    x = (torch.arange(0, 1001, dtype=torch.float64) / 1000).float().unsqueeze(1)
    conv = convert(net, norm="percentile", data=x, percentile=99.9)
    assert conv.factors["fc1"] == pytest.approx(0.999001, rel=1e-6)
    assert conv.factors["out"] == pytest.approx(1.998002, rel=1e-6)
    w2 = conv.network.connections[("fc1", "out")].weighted[0].weight
    assert w2.item() == pytest.approx(1.0, rel=1e-6)  # 2 * lambda_1 / lambda_2


def test_biases_scaled_and_errors():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU())
    conv = convert(net, norm="data", data=HAND_DATA)
    lam = list(conv.factors.values())
    b1 = conv.network.connections[("input", "fc1")].weighted[0].bias
    b2 = conv.network.connections[("fc1", "out")].weighted[0].bias
    assert torch.allclose(b1, net[0].bias / lam[0]) and torch.allclose(b2, net[2].bias / lam[1])
    with pytest.raises(ValueError, match="needs data"):
        convert(net, norm="data")
    with pytest.raises(ValueError, match="norm must be one of"):
        convert(net, norm="max")
    with pytest.raises(ValueError, match="reset must be one of"):
        convert(net, norm="none", reset="soft")
    with pytest.raises(ValueError, match=r"data must be \[N, 2\]"):
        convert(net, norm="data", data=torch.rand(4, 3))
    with pytest.raises(TypeError, match="nn.Module"):
        convert("not a model", norm="none")


def test_input_shape_inference():
    mlp = nn.Sequential(nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10), nn.ReLU())
    assert convert(mlp, norm="none").input_shape == (784,)
    # an MLP without Flatten given images keeps the image shape for the input layer
    conv = convert(mlp, norm="data", data=torch.rand(30, 1, 28, 28))
    assert conv.input_shape == (1, 28, 28) and conv.spec["layers"][0]["shape"] == [1, 28, 28]
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    with pytest.raises(ValueError, match="input_shape"):
        convert(cnn, norm="none")
    net = convert(cnn, norm="none", input_shape=(1, 8, 8)).network
    assert list(net.layers["conv1"].shape) == [2, 6, 6]


# --------------------------------------------------------------------------- BatchNorm folding
def _random_bn(bn: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=g))
        bn.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
        if bn.affine:
            bn.weight.copy_(torch.randn(n, generator=g))
            bn.bias.copy_(torch.randn(n, generator=g))
    return bn.eval()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("affine", [True, False])
def test_fold_bn1d_after_linear(bias, affine):
    lin = nn.Linear(7, 5, bias=bias)
    bn = _random_bn(nn.BatchNorm1d(5, affine=affine), 1)
    x = torch.randn(32, 7)
    folded = fold_batchnorm(lin, bn)
    assert torch.allclose(folded(x), bn(lin(x)), atol=1e-5)
    assert (lin.bias is None) == (not bias)  # the original is untouched


def test_fold_bn2d_after_conv():
    conv = nn.Conv2d(3, 6, 3, padding=1, stride=2)
    bn = _random_bn(nn.BatchNorm2d(6), 2)
    x = torch.randn(4, 3, 9, 9)
    assert torch.allclose(fold_batchnorm(conv, bn)(x), bn(conv(x)), atol=1e-5)
    with pytest.raises(ValueError, match="BatchNorm1d"):
        fold_batchnorm(nn.Linear(3, 6), _random_bn(nn.BatchNorm2d(6), 3))
    # whole model: the blocks reproduce the eval-mode ANN
    model = nn.Sequential(conv, bn, nn.ReLU(), nn.Flatten(), nn.Linear(6 * 25, 4), nn.BatchNorm1d(4), nn.ReLU()).eval()
    _random_bn(model[5], 4)
    blocks = group_blocks(trace_chain(model))
    assert [b.batchnorm for b in blocks] == [["1"], ["5"]]
    assert torch.allclose(forward_blocks(blocks, x)[-1], model(x), atol=1e-5)


def test_one_grouper_for_conversion_and_ttfs_bn_rules():
    """Two BatchNorms in a row fold into the layer; BatchNorm after a ReLU is refused for
    conversion and kept as the next block's affine map (g, c) for the TTFS mapping."""
    lin1, lin2 = nn.Linear(5, 4), nn.Linear(4, 3)
    bn_a, bn_b, bn_post = (_random_bn(nn.BatchNorm1d(4), s) for s in (5, 6, 7))
    model = nn.Sequential(lin1, bn_a, bn_b, nn.ReLU(), lin2).eval()
    x = torch.randn(16, 5)
    blocks = group_blocks(trace_chain(model))
    assert blocks[0].batchnorm == ["1", "2"]
    assert torch.allclose(forward_blocks(blocks, x)[-1], model(x), atol=1e-5)
    post = nn.Sequential(lin1, nn.ReLU(), bn_post, lin2).eval()
    with pytest.raises(ValueError, match="must directly follow"):
        group_blocks(trace_chain(post))
    kept = group_blocks(trace_chain(post), input_shape=[5], bn_after_relu=True, dtype=torch.float64)
    g, c = kept[1].affine
    assert kept[1].module.weight.dtype == torch.float64 and lin2.weight.dtype == torch.float32
    assert kept[0].in_shape == [5] and kept[1].in_shape == [4]
    h = torch.relu(lin1(x)).double()
    assert torch.allclose(kept[1].module(g * h + c).float(), post(x), atol=1e-5)


# --------------------------------------------------------------------------- graph tracing
class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBlock(1, 4),
            nn.MaxPool2d(2),
            nn.Sequential(nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Dropout(0.2)),
            nn.AvgPool2d(2),
        )
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return torch.relu(self.fc(x))


def test_fx_nested_sequential_and_functional_relu():
    model = Custom().eval()
    _random_bn(model.features[0].bn, 5)
    conv = convert(model, norm="none", input_shape=(1, 12, 12))
    ops = [[o["op"] for o in c["ops"]] for c in conv.spec["connections"]]
    assert ops == [["conv2d"], ["maxpool2d", "conv2d"], ["avgpool2d", "linear"]]
    assert [layer["name"] for layer in conv.spec["layers"]] == ["input", "conv1", "conv2", "out"]
    assert conv.spec["connections"][0]["ops"][0]["bias"] is True  # from the folded BatchNorm
    assert conv.spec["layers"][-1]["type"] == "if"  # ReLU output -> spiking
    logits = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    assert convert(logits, norm="none", input_shape=(1, 4, 4)).spec["layers"][-1]["type"] == "integrator"


def test_sequential_fallback_when_tracing_fails(monkeypatch):
    import torch.fx

    def fail(*a, **k):
        raise RuntimeError("no tracing today")

    monkeypatch.setattr(torch.fx, "symbolic_trace", fail)
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Sequential(nn.Linear(3, 2), nn.ReLU()))
    assert [s.kind for s in trace_chain(model)] == ["linear", "relu", "linear", "relu"]
    with pytest.raises(TypeError, match="could not trace"):
        trace_chain(Custom())


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 4)

    def forward(self, x):
        return self.rnn(x)[0]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return F.relu(self.fc(x)) + x


@pytest.mark.parametrize(
    "model,match",
    [
        (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid()), "Sigmoid"),
        (WithLSTM(), "LSTM"),
        (nn.Sequential(nn.Linear(4, 3), nn.Tanh()), "Tanh"),
        (Residual(), "not a linear chain|add"),
        (nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), "without a ReLU"),
        (nn.Sequential(nn.Linear(4, 3), nn.BatchNorm2d(3)), "BatchNorm1d"),
    ],
)
def test_unsupported_layers_named(model, match):
    with pytest.raises(ValueError, match=match) as err:
        convert(model, norm="none", input_shape=(4,))
    if match in ("Sigmoid", "LSTM", "Tanh"):
        assert "supported:" in str(err.value) and "Conv2d" in str(err.value)


# --------------------------------------------------------------------------- equivalences
def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(16 * 3 * 3, 10),
    )


@pytest.fixture(scope="module")
def digits16():
    return load_dataset("digits", image_size=16)


@pytest.fixture(scope="module")
def trained_cnn(digits16):
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        model.train()
        for x, y in digits16.train.batches(64, shuffle=True, generator=g):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval()


def test_cnn_with_bn_avgpool_maxpool_agrees_with_ann(trained_cnn, digits16):
    x, _ = digits16.test.x, digits16.test.y
    with torch.no_grad():
        ann_pred = trained_cnn(x).argmax(1)
    conv = convert(trained_cnn, norm="data", data=digits16.train.x[:500], reset="subtract")
    assert conv.readout == "voltage"  # logits output -> integrator
    rec = simulate(conv.network, constant_current(x, 200), record_voltage=["out"])
    snn_pred = rec.predict("out")
    agree = float((snn_pred == ann_pred).float().mean())
    assert agree >= 0.99, agree
    assert all(rec.spikes[n].any() for n in ("conv1", "conv2"))


def test_engines_agree_on_converted_net(trained_cnn, digits16):
    conv = convert(trained_cnn, norm="percentile", data=digits16.train.x[:300], reset="subtract", output="spiking")
    x = poisson_input((25, 4, 1, 16, 16), 0.4, seed=3)
    a = simulate(conv.network, x, engine="fast", record_voltage=True)
    b = simulate(conv.network, x, engine="bindsnet", record_voltage=True)
    for name in a.spikes:
        assert torch.equal(a.spikes[name], b.spikes[name]), name
    assert a.spikes["out"].any()


def test_save_load_roundtrip(trained_cnn, digits16, tmp_path):
    conv = convert(trained_cnn, norm="data", data=digits16.train.x[:200])
    loaded = load_network(save_network(conv.network, tmp_path / "snn"))
    x = poisson_input((10, 3, 1, 16, 16), 0.3, seed=4)
    a, b = simulate(conv.network, x), simulate(loaded, x)
    assert all(torch.equal(a.spikes[n], b.spikes[n]) for n in a.spikes)


@pytest.mark.parametrize("norm,reset", [("data", "zero"), ("percentile", "subtract"), ("model", "subtract")])
def test_threshold_balancing_equals_weight_scaling(norm, reset):
    """Scaling layer l's input by c_l with threshold 1 equals the unscaled input with
    threshold 1/c_l. The products c*W are rounded differently from W, so a neuron whose
    potential lands within rounding error of its threshold may fire one step apart;
    we allow at most 0.1% differing spikes (in practice there are none or a handful)."""
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(64, 80), nn.ReLU(), nn.Linear(80, 40), nn.ReLU(), nn.Linear(40, 10), nn.ReLU())
    data = torch.rand(300, 64)
    kw = dict(norm=norm, data=data, reset=reset, input_shape=(64,))
    w = convert(ann, **kw)
    t = convert(ann, threshold_balancing=True, **kw)
    lam = list(w.factors.values()) if norm != "model" else np.cumprod(list(w.factors.values())).tolist()
    prev = [1.0] + lam[:-1]
    assert list(t.thresholds.values()) == pytest.approx([a / b for a, b in zip(lam, prev)])
    assert set(t.weight_scales.values()) == {1.0}
    x = poisson_input((60, 8, 64), 0.5, seed=1)
    a, b = simulate(w.network, x), simulate(t.network, x)
    total = diff = 0
    for name in ("fc1", "fc2", "out"):
        # model norm is conservative: its output layer stays silent on this small net
        assert a.spikes[name].any() or (norm == "model" and name == "out"), name
        diff += int((a.spikes[name] != b.spikes[name]).sum())
        total += a.spikes[name].numel()
    assert diff <= 1e-3 * total, (diff, total)
