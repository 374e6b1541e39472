"""TTFS layers in discrete time (node types ttfs / ttfs_readout, op ttfs_maxpool2d):
one neuron by hand, both engines against each other and against the exact times."""

import pytest
import torch
from torch import nn

import encoders
from snnsim.core.io import load_network, save_network
from snnsim.core.spec import build_network
from snnsim.data.datasets import load_dataset
from snnsim.engine import simulate
from snnsim.methods.ttfs import (
    EarliestMaxPool2d,
    SpikeStats,
    encode_spikes,
    from_relu,
    set_dt,
    sim_dt,
    simulate_ttfs,
    spike_metrics,
    ttfs_forward,
    ttfs_layers,
    windows,
)
from snnsim.training.ann import train_ann

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits_net():
    """A small ReLU net trained on 8x8 digits, mapped to TTFS (windows 1.5 x max)."""
    torch.manual_seed(0)
    data = load_dataset("digits", image_size=8)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    train_ann(ann, data.train, epochs=10, lr=3e-3, batch_size=32, progress=False)
    return ann, from_relu(ann, data.train), data


def test_bindsnet_simulation_at_dt_window_over_1000_gives_the_exact_argmax(digits_net):
    ann, net, data = digits_net
    x = data.test.x
    with torch.no_grad():
        exact = ttfs_forward(net, x).logits
    assert torch.allclose(exact, ann(x), atol=1e-5)
    dt = sim_dt(net, steps_per_window=1000)  # a power of two <= shortest window / 1000
    assert dt <= min([1.0, *windows(net)]) / 1000 < 2 * dt
    ref = simulate_ttfs(net, x[:100], dt=dt, engine="bindsnet")
    assert (ref.logits.argmax(1) == exact[:100].argmax(1)).float().mean() >= 0.99
    fast = simulate_ttfs(net, x[:100], dt=dt, engine="fast")
    for name in ref.record.spikes:  # the engines agree spike for spike
        assert torch.equal(ref.record.spikes[name], fast.record.spikes[name]), name
    agree = (fast.logits.argmax(1) == exact[:100].argmax(1)).sum()
    for i in range(100, len(x), 130):
        agree += (simulate_ttfs(net, x[i : i + 130], dt=dt).logits.argmax(1) == exact[i : i + 130].argmax(1)).sum()
    assert agree / len(x) >= 0.99
    # every hidden neuron spikes exactly once; informative spikes match the exact count
    s = fast.record.spikes["l1"]
    assert torch.all(s.sum(0) == 1)
    stats = SpikeStats()
    stats.add_record(net, fast.record)
    m_sim, m_exact = stats.summary(net), spike_metrics(ttfs_forward(net, x[:100]), net)
    sim_l1, exact_l1 = m_sim["layers"]["l1"], m_exact["layers"]["l1"]
    assert sim_l1["spikes_per_neuron"] == pytest.approx(exact_l1["spikes_per_neuron"], abs=0.01)
    assert sim_l1["latency"] == pytest.approx(exact_l1["latency"], rel=0.01)


def _one_neuron_net(w_in: float, bias: float, w_out: float, out_bias: float):
    spec = {
        "dt": 0.125,
        "layers": [
            {"name": "input", "type": "input", "shape": [2]},
            {"name": "h", "type": "ttfs", "shape": [2], "t_min": 1.0, "t_max": 3.0, "bias": [bias, 0.0]},
            {"name": "out", "type": "ttfs_readout", "shape": [1], "t_min": 3.0, "bias": [out_bias]},
        ],
        "connections": [
            {"source": "input", "target": "h", "ops": [{"op": "linear", "out_features": 2}]},
            {"source": "h", "target": "out", "ops": [{"op": "linear", "out_features": 1}]},
        ],
    }
    net = build_network(spec)
    with torch.no_grad():
        net.connections[("input", "h")].layers[0].weight.copy_(torch.tensor([[w_in, 0.0], [-1.0, 0.0]]))
        net.connections[("h", "out")].layers[0].weight.copy_(torch.tensor([[w_out, 1.0]]))
    return net


@pytest.mark.parametrize("engine", ["fast", "bindsnet"])
def test_one_neuron_by_hand(engine):
    # x = 0.75 spikes at t = 0.25; V(t_min = 1) = 1.5 * 0.75 = 1.125; with D = 0.5 the
    # activation is 1.625, so the neuron fires at 3 - 1.625 = 1.375 = step 11 (dt = 1/8);
    # the neuron with weight -1 never reaches threshold and is forced at t_max = 3 (step 24)
    net = _one_neuron_net(1.5, 0.5, 2.0, -0.25)
    x = torch.tensor([[0.75, 0.0]])
    t = set_dt(net, 0.125)
    assert t == 25
    rec = simulate(net, encode_spikes(x, 0.125, t), engine=engine, record_voltage=True)
    assert rec.spikes["input"][:, 0, 0].nonzero().flatten().tolist() == [2]
    assert rec.spikes["input"][:, 0, 1].nonzero().flatten().tolist() == [8]  # x = 0 fires at t = 1
    assert rec.spikes["h"][:, 0, 0].nonzero().flatten().tolist() == [11]
    assert rec.spikes["h"][:, 0, 1].nonzero().flatten().tolist() == [24]
    assert rec.voltages["h"][8, 0, 0].item() == pytest.approx(1.125)  # V(t_min)
    # read-out: D + 2 * (3 - 1.375) + 1 * (3 - 3) = 3.0, frozen from t = 3 on
    assert rec.voltages["out"][-1, 0, 0].item() == pytest.approx(3.0)
    assert not rec.spikes["out"].any()
    assert ttfs_forward(net, x).logits.item() == pytest.approx(3.0)


def test_earliest_max_pool_passes_the_first_spike_once():
    pool = EarliestMaxPool2d(2)
    s = torch.zeros(6, 1, 1, 2, 2, dtype=torch.bool)
    s[3, 0, 0, 0, 0] = s[1, 0, 0, 1, 1] = s[4, 0, 0, 0, 1] = True
    multi = pool.multi(s)
    steps = torch.stack([pool.step(s[k]) for k in range(6)])
    assert torch.equal(multi, steps)
    assert multi[:, 0, 0, 0, 0].nonzero().flatten().tolist() == [1]
    assert torch.equal(pool(torch.tensor([[[[0.2, 0.9], [0.5, 0.1]]]])), torch.tensor([[[[0.9]]]]))


def _conv_ttfs(seed=0):
    g = torch.Generator().manual_seed(seed)
    ann = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).eval()
    with torch.no_grad():
        for p in ann.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.rand(12, 1, 8, 8, generator=g)
    return ann, from_relu(ann, x), x


def test_engines_agree_on_a_conv_pool_net_and_approach_the_exact_logits():
    ann, net, x = _conv_ttfs()
    ops = [o["op"] for c in net.connections.values() for o in c.ops]
    assert "ttfs_maxpool2d" in ops and "avgpool2d" in ops
    a = simulate_ttfs(net, x, steps_per_window=32, engine="fast", record_voltage=True)
    b = simulate_ttfs(net, x, steps_per_window=32, engine="bindsnet", record_voltage=True)
    for name in a.record.spikes:
        assert torch.equal(a.record.spikes[name], b.record.spikes[name]), name
    assert torch.allclose(a.logits, b.logits, atol=1e-5)
    with torch.no_grad():
        exact = ttfs_forward(net, x).logits
    fine = simulate_ttfs(net, x, steps_per_window=500)
    scale = exact.abs().max()
    assert (fine.logits - exact).abs().max() < 0.02 * scale
    assert (fine.logits - exact).abs().max() < (a.logits - exact).abs().max()  # finer dt, closer


def test_save_load_keeps_windows_bias_maps_and_dt(tmp_path):
    ann = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(2),
        nn.Conv2d(2, 2, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 3),
    ).eval()
    with torch.no_grad():
        ann[2].running_mean.fill_(0.3)
        ann[2].bias.fill_(0.2)
    x = torch.rand(5, 1, 4, 4)
    net = from_relu(ann, x)
    set_dt(net, sim_dt(net, 64))
    save_network(net, tmp_path / "ttfs")
    back = load_network(tmp_path / "ttfs")
    assert windows(back) == windows(net) and back.dt == net.dt
    assert [la.node.bias.shape for la in ttfs_layers(back)] == [la.node.bias.shape for la in ttfs_layers(net)]
    with torch.no_grad():
        assert torch.allclose(ttfs_forward(back, x).logits, ann(x), atol=1e-5)


def test_encoding_and_validation():
    x = torch.rand(3, 1, 4, 4)
    assert torch.equal(encode_spikes(x, 2**-6, 100), encoders.latency(x, 100, window=65, zero_spikes=True))
    _, net, _ = _conv_ttfs()
    with pytest.raises(ValueError, match="1/k"):
        set_dt(net, 0.3)
    spec = {
        "layers": [
            {"name": "input", "type": "input", "shape": [1, 4, 4]},
            {"name": "h", "type": "ttfs", "t_min": 1.0, "t_max": 2.0},
            {"name": "out", "type": "ttfs_readout", "t_min": 2.0},
        ],
        "connections": [
            {"source": "input", "target": "h", "ops": [{"op": "maxpool2d", "kernel_size": 2}]},
            {"source": "h", "target": "out", "ops": [{"op": "linear", "out_features": 2}]},
        ],
    }
    with pytest.raises(ValueError, match="ttfs_maxpool2d"):
        ttfs_layers(build_network(spec))
    spec["connections"][0]["ops"] = [{"op": "linear", "out_features": 3, "bias": True}]
    spec["layers"][1]["shape"] = [3]
    with pytest.raises(ValueError, match="bias=False"):
        ttfs_layers(build_network(spec))
    spec["connections"][0]["ops"] = [{"op": "linear", "out_features": 3}]
    spec["layers"][2]["t_min"] = 2.5
    with pytest.raises(ValueError, match="t_min"):
        ttfs_layers(build_network(spec))
    with pytest.raises(ValueError, match="t_max"):
        build_network({"layers": [{"name": "h", "type": "ttfs", "shape": [2], "t_min": 2.0, "t_max": 1.0}]})
    with pytest.raises(ValueError, match="bias"):
        build_network({"layers": [{"name": "h", "type": "ttfs", "shape": [2], "bias": [1.0, 2.0, 3.0]}]})


@pytest.mark.slow
def test_mnist_fc2_mapped_runs_in_bindsnet_with_the_exact_argmax():
    """FC2 (784-340-10) ReLU net on MNIST, mapped; BindsNET engine at dt <= window / 1000."""
    try:
        data = load_dataset("mnist10k", limit=3000)
    except FileNotFoundError:
        pytest.skip("mnist10k not available")
    from snnsim.training.ann import ann_fc

    torch.manual_seed(0)
    ann = ann_fc(input_shape=data.input_shape, n_classes=10, hidden=(340,), dropout=0.0)
    train_ann(ann, data.train, epochs=2, lr=1e-3, batch_size=64, progress=False)
    net = from_relu(ann, data.train)
    x = data.test.x[:60]
    with torch.no_grad():
        exact = ttfs_forward(net, x).logits
    assert torch.allclose(exact, ann(x), atol=1e-4)
    agree = 0
    for i in range(0, len(x), 20):  # BindsNET monitors keep [T, B, n] for every layer
        sim = simulate_ttfs(net, x[i : i + 20], steps_per_window=1000, engine="bindsnet")
        agree += int((sim.logits.argmax(1) == exact[i : i + 20].argmax(1)).sum())
    assert agree / len(x) >= 0.99
