"""TTFS closed form: exact ReLU identity mapping (values and gradients, float64),
windows (calibration, growth rule by hand), metrics, and what the mapping rejects."""

import math

import pytest
import torch
from torch import nn

from snnsim.methods.ttfs import (
    batch_min_times,
    build_fc,
    calibrate_windows,
    from_relu,
    grow_windows,
    hidden_layers,
    input_times,
    max_activations,
    readout_time,
    set_windows,
    spike_metrics,
    ttfs_forward,
    ttfs_layers,
    windows,
)
from snnsim.training.ann import ann_fc

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                w = torch.randn(m.weight.shape, generator=g, dtype=torch.float64)
                m.weight.copy_(w / math.sqrt(m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g, dtype=torch.float64))
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g, dtype=torch.float64))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g, dtype=torch.float64))
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g, dtype=torch.float64))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g, dtype=torch.float64))
    return model.eval()


def _data(shape, n=24, seed=1):
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def fc_net(sizes, seed):
    layers = [nn.Flatten()]
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(0.3)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return _randomize(nn.Sequential(*layers).double(), seed)


def conv_net(seed, bn_after_relu=False):
    layers = [nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2)]
    if bn_after_relu:
        layers.append(nn.BatchNorm2d(5))  # fused into the next (padded) conv: a bias map
    layers += [
        nn.Conv2d(5, 6, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 12),
        nn.ReLU(),
    ]
    if bn_after_relu:
        layers.append(nn.BatchNorm1d(12))
    layers.append(nn.Linear(12, 4))
    return _randomize(nn.Sequential(*layers).double(), seed)


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


def _check_same_gradients(ann, net, x):
    """d(logits . v)/d(weights, biases, x) of the ReLU net and of the TTFS net."""
    v = torch.randn(x.shape[0], ann(x).shape[1], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    xa = x.clone().requires_grad_(True)
    weighted = [m for m in ann.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    ga = _grads((ann(xa) * v).sum(), [xa] + [m.weight for m in weighted] + [m.bias for m in weighted])
    xt = x.clone().requires_grad_(True)
    layers = ttfs_layers(net)
    tw = [[m for m in lay.conn.layers if isinstance(m, (nn.Linear, nn.Conv2d))][0].weight for lay in layers]
    gt = _grads((ttfs_forward(net, xt).logits * v).sum(), [xt] + tw + [lay.node.bias for lay in layers])
    for a, b in zip(ga, gt):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=0, atol=1e-9), (a - b).abs().max()


@pytest.mark.parametrize("sizes,seed", [([20, 16, 5], 0), ([30, 25, 20, 15, 7], 1), ([12, 40, 3, 9, 4], 2)])
def test_mapped_fc_logits_and_gradients_equal_relu(sizes, seed):
    ann = fc_net(sizes, seed)
    x = _data([sizes[0]], seed=seed)
    net = from_relu(ann, x)
    assert [type(layer.node).__name__ for layer in ttfs_layers(net)][-1] == "TTFSReadout"
    res = ttfs_forward(net, x)
    assert res.logits.dtype == torch.float64
    assert torch.allclose(res.logits, ann(x), rtol=0, atol=1e-9)
    _check_same_gradients(ann, net, x)


@pytest.mark.parametrize("bn_after_relu", [False, True])
def test_mapped_conv_pool_net_equals_relu(bn_after_relu):
    ann = conv_net(3, bn_after_relu)
    x = _data([2, 8, 8])
    net = from_relu(ann, x)
    bias_shapes = [tuple(layer.node.bias.shape) for layer in ttfs_layers(net)]
    assert bias_shapes[1] == ((6, 4, 4) if bn_after_relu else (6,))  # padded conv after BN: per-neuron bias
    assert torch.allclose(ttfs_forward(net, x).logits, ann(x), rtol=0, atol=1e-9)
    if not bn_after_relu:  # weights are the ANN's up to the folded BatchNorm of layer 1
        ann2 = _randomize(
            nn.Sequential(
                nn.Conv2d(2, 5, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(5, 6, 3, padding=1),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Flatten(),
                nn.Linear(24, 4),
            ).double(),
            4,
        )
        _check_same_gradients(ann2, from_relu(ann2, x), x)


def test_output_relu_and_bias_free_ann():
    ann = ann_fc(input_shape=(1, 4, 4), n_classes=3, hidden=(10,)).double().eval()  # Diehl: no bias, final ReLU
    x = _data([1, 4, 4])
    net = from_relu(ann, x)
    assert ttfs_layers(net)[-1].node.relu
    assert torch.allclose(ttfs_forward(net, x).logits, ann(x), rtol=0, atol=1e-12)


def test_spike_time_derivative_is_the_weight():
    ann = fc_net([6, 5, 2], 7)
    x = _data([6], n=1, seed=3)
    net = from_relu(ann, x)
    t_in = input_times(x).requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda t: ttfs_forward(net, times=t).times["l1"], t_in)[0, :, 0, :]
    w = ttfs_layers(net)[0].conn.layers[0].weight
    active = ttfs_forward(net, x).activations("l1")[0] > 0
    assert active.any()
    assert torch.allclose(jac[active], w[active], atol=1e-12)  # d t_i / d t_j = W_ij
    assert torch.all(jac[~active] == 0)  # forced at t_max: no dependence


def test_times_lie_in_windows_and_window_condition():
    ann = fc_net([10, 8, 3], 9)
    x = _data([10])
    net = from_relu(ann, x, margin=0.5)
    res = ttfs_forward(net, x)
    for layer in hidden_layers(net):
        t = res.times[layer.name]
        assert t.min() >= layer.node.t_min and t.max() <= layer.node.t_max
        assert torch.isclose(layer.node.t_max - t.min(), torch.tensor(layer.node.window / 1.5, dtype=t.dtype))
    # a window shorter than the largest activation clips it: no longer the ReLU net
    set_windows(net, [0.5 * w / 1.5 for w in windows(net)])
    assert not torch.allclose(ttfs_forward(net, x).logits, ann(x), atol=1e-6)
    assert torch.allclose(ttfs_forward(net, x, domain="relu").logits, ann(x), atol=1e-12)


def test_calibration_is_one_and_a_half_times_the_largest_activation():
    ann = fc_net([10, 8, 6, 3], 11)
    x = _data([10])
    net = from_relu(ann, None, input_shape=[10])
    assert windows(net) == [1.0, 1.0]
    with torch.no_grad():
        h1 = torch.relu(ann[1](x))
        h2 = torch.relu(ann[4](h1))
    assert max_activations(net, x) == pytest.approx([float(h1.max()), float(h2.max())], abs=1e-12)
    calibrate_windows(net, x, margin=0.5)
    assert windows(net) == pytest.approx([1.5 * float(h1.max()), 1.5 * float(h2.max())], abs=1e-12)
    edges = [(layer.node.t_min, layer.node.t_max) for layer in hidden_layers(net)]
    assert edges[0][0] == 1.0 and edges[1][0] == edges[0][1] and readout_time(net) == edges[1][1]


def test_growth_rule_by_hand():
    net = build_fc([4, 3, 3, 2])
    set_windows(net, [2.0, 3.0])  # l1: [1, 3], l2: [3, 6]
    # earliest spikes of the batch: l1 at 2.5 (largest activation 0.5), l2 at 3.2 (2.8)
    new = grow_windows(net, [2.5, 3.2], growth=10.0)
    # t_max^1 = 1 + max(2, 10 * (3 - 2.5)) = 6;  t_max^2 = 6 + max(3, 10 * (6 - 3.2)) = 34
    assert new == pytest.approx([5.0, 28.0])
    assert [(la.node.t_min, la.node.t_max) for la in hidden_layers(net)] == [(1.0, 6.0), (6.0, pytest.approx(34.0))]
    assert readout_time(net) == pytest.approx(34.0)
    # windows never shrink: small activations keep them
    assert grow_windows(net, [5.9, 33.5], growth=10.0) == pytest.approx([5.0, 28.0])
    with pytest.raises(ValueError, match="one per hidden layer"):
        grow_windows(net, [1.0])


def test_batch_min_times_feed_the_growth_rule():
    ann = fc_net([10, 8, 3], 13)
    x = _data([10])
    net = from_relu(ann, x)
    with torch.no_grad():
        res = ttfs_forward(net, x)
    (t_first,) = batch_min_times(net, res)
    largest = float(res.activations("l1").max())
    assert hidden_layers(net)[0].node.t_max - t_first == pytest.approx(largest)
    assert grow_windows(net, [t_first]) == pytest.approx([10 * largest])


def test_spike_metrics_by_hand():
    net = build_fc([4, 2, 2])
    set_windows(net, [2.0])  # l1 window [1, 3]
    with torch.no_grad():
        ttfs_layers(net)[0].conn.layers[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
    x = torch.tensor([[0.5, 0.0, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0]])
    m = spike_metrics(ttfs_forward(net, x), net)
    # input: 3 of 8 pixels > 0; l1: neuron 0 fires at 3 - x0 (x0 = 0.5, 1.0), neuron 1 never (forced)
    assert m["layers"]["input"]["spikes_per_neuron"] == pytest.approx(3 / 8)
    assert m["layers"]["fc1"]["spikes_per_neuron"] == pytest.approx(2 / 4)
    assert m["layers"]["fc1"]["latency"] == pytest.approx(((2.0 - 0.5) + (2.0 - 1.0)) / 2)
    assert m["spikes_per_neuron"] == pytest.approx(5 / 12)
    assert m["spikes_per_neuron_hidden"] == pytest.approx(0.5) and m["decision_time"] == 3.0


def test_mapping_rejects_what_it_cannot_map():
    x = _data([4])
    with pytest.raises(ValueError, match="unsupported layer"):
        from_relu(nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)).double(), x)
    with pytest.raises(ValueError, match="without a ReLU"):
        from_relu(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).double(), x)
    bn = nn.BatchNorm2d(2).double().eval()
    with torch.no_grad():
        bn.weight.fill_(-1.0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), bn, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2)).double()
    with pytest.raises(ValueError, match="negative scale"):
        from_relu(net, _data([1, 4, 4]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        from_relu(fc_net([4, 3, 2], 0), 2 * x)
    with pytest.raises(TypeError):
        from_relu("not a model", x)
