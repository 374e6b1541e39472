"""Tests for analysis.synops: exact fan-out, SynOps, ANN MACs and energy."""

from __future__ import annotations

import itertools

import pytest
import torch
from bindsnet.network.nodes import Input
from torch import nn

from analysis import ann_macs, connection_macs, energy, energy_report, fanout, synops
from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import IFNeurons
from snnsim.core.spec import build_network
from snnsim.data.datasets import Split
from snnsim.engine import simulate
from snnsim.engine.evaluate import evaluate


def conn(in_shape, ops):  # type: ignore[no-untyped-def]
    """A ModuleConnection from an input of ``in_shape`` through ``ops`` (target shape inferred)."""
    from snnsim.core.ops import build_ops

    _, out = build_ops(ops, in_shape)
    return ModuleConnection(Input(shape=list(in_shape)), IFNeurons(shape=out), ops=ops)


def hand_conv_fanout(h: int, w: int, k: int, stride: int, pad: int, c_out: int) -> torch.Tensor:
    """Count, for every input pixel, the (output channel, output position) pairs whose
    kernel window covers it, by walking every output position and kernel tap."""
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    count = torch.zeros(h, w, dtype=torch.float64)
    for oy, ox in itertools.product(range(ho), range(wo)):
        for ky, kx in itertools.product(range(k), range(k)):
            y, x = oy * stride - pad + ky, ox * stride - pad + kx
            if 0 <= y < h and 0 <= x < w:  # taps on the zero padding touch no input neuron
                count[y, x] += c_out
    return count


def test_conv_fanout_with_padding_and_stride_is_exact() -> None:
    # 1x4x4 input, 3x3 conv, padding 1, stride 2 -> 2x2 outputs; rows/cols covered by outputs:
    # row 0: window of output 0 only, row 1: outputs 0 and 1, rows 2 and 3: output 1 only.
    c = conn([1, 4, 4], [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}])
    per_row = torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    expected = 3 * per_row[:, None] * per_row[None, :]
    assert torch.equal(hand_conv_fanout(4, 4, 3, 2, 1, 3), expected)
    assert torch.equal(fanout(c), expected[None])
    assert float(fanout(c).sum()) == 3 * 2 * 2 * 9 - 3 * (2 * 2 * 9 - 25)  # all taps minus those on padding
    for h, k, s, p in [(5, 3, 2, 1), (7, 3, 3, 0), (6, 5, 1, 2), (5, 2, 2, 0)]:
        c = conn([2, h, h], [{"op": "conv2d", "out_channels": 4, "kernel_size": k, "stride": s, "padding": p}])
        assert torch.equal(fanout(c), hand_conv_fanout(h, h, k, s, p, 4).expand(2, h, h)), (h, k, s, p)


def test_pooling_is_routing_and_linear_counts_outputs() -> None:
    lin = conn([2, 3, 3], [{"op": "flatten"}, {"op": "linear", "out_features": 5}])
    assert torch.equal(fanout(lin), torch.full((2, 3, 3), 5.0, dtype=torch.float64))
    # 5x5 map, 2x2 average pool: the last row and column fall in no window
    pool = conn([1, 5, 5], [{"op": "avgpool2d", "kernel_size": 2}])
    expected = torch.zeros(1, 5, 5, dtype=torch.float64)
    expected[:, :4, :4] = 1
    assert torch.equal(fanout(pool), expected)
    # avgpool then linear: each routed spike drives every output of the linear op
    pl = conn([1, 4, 4], [{"op": "avgpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 7}])
    assert torch.equal(fanout(pl), torch.full((1, 4, 4), 7.0, dtype=torch.float64))
    # overlapping windows (3x3, stride 1 on 4x4): a pixel is routed once per window holding it
    ov = conn([1, 4, 4], [{"op": "avgpool2d", "kernel_size": 3, "stride": 1}])
    per_row = torch.tensor([1.0, 2.0, 2.0, 1.0], dtype=torch.float64)
    assert torch.equal(fanout(ov)[0], per_row[:, None] * per_row[None, :])
    # avgpool then conv with padding: routes times the conv fan-out of each pooled position
    pc = conn(
        [1, 4, 4],
        [{"op": "avgpool2d", "kernel_size": 2}, {"op": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}],
    )
    pooled = hand_conv_fanout(2, 2, 3, 1, 1, 2)  # every tap of a 2x2 map with padding 1: 4 outputs each
    assert torch.equal(fanout(pc)[0], pooled.repeat_interleave(2, 0).repeat_interleave(2, 1))
    # rate max-pooling is routed like a sum pool (an upper bound)
    mp = conn([1, 4, 4], [{"op": "maxpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 3}])
    assert torch.equal(fanout(mp), torch.full((1, 4, 4), 3.0, dtype=torch.float64))
    # TTFS earliest-spike max-pool: handled by its spiking_max_pool capability, not by
    # subclassing RateMaxPool2d
    from snnsim.core.ops import RateMaxPool2d
    from snnsim.methods.ttfs.nodes import EarliestMaxPool2d

    assert not isinstance(EarliestMaxPool2d(2), RateMaxPool2d)
    tp = conn([1, 4, 4], [{"op": "ttfs_maxpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 3}])
    assert torch.equal(fanout(tp), torch.full((1, 4, 4), 3.0, dtype=torch.float64))
    # dropout and batchnorm are element-wise: they route a spike unchanged
    bn = conn(
        [2, 4, 4],
        [
            {"op": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
            {"op": "batchnorm"},
            {"op": "dropout", "p": 0.3},
        ],
    )
    assert torch.equal(fanout(bn), hand_conv_fanout(4, 4, 3, 2, 1, 3).expand(2, 4, 4))
    assert connection_macs(bn) == 3 * 2 * 2 * (2 * 3 * 3)
    with pytest.raises(TypeError, match="ModuleConnection"):
        fanout(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_ann_macs_count_weight_uses() -> None:
    c = conn([1, 4, 4], [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}])
    assert connection_macs(c) == 3 * 2 * 2 * (1 * 3 * 3)
    pl = conn([4, 6, 6], [{"op": "avgpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 10}])
    assert connection_macs(pl) == 4 * 3 * 3 * 10
    assert connection_macs(conn([1, 4, 4], [{"op": "avgpool2d", "kernel_size": 2}])) == 0


SPEC = {
    "layers": [
        {"name": "input", "type": "input", "shape": [1, 4, 4]},
        {"name": "conv", "type": "if", "thresh": 0.3},
        {"name": "out", "type": "if", "thresh": 0.3},
    ],
    "connections": [
        {
            "source": "input",
            "target": "conv",
            "ops": [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}],
        },
        {"source": "conv", "target": "out", "ops": [{"op": "linear", "out_features": 5}]},
    ],
}


def test_synops_equal_hand_count_and_event_count() -> None:
    torch.manual_seed(0)
    net = build_network(SPEC)
    g = torch.Generator().manual_seed(0)
    s = torch.rand(20, 3, 1, 4, 4, generator=g) < 0.4
    rec = simulate(net, s)
    counts = {k: v.sum((0, 1)) for k, v in rec.spikes.items()}
    res = synops(net, counts, samples=3)
    # hand count: every input spike costs its fan-out, every conv spike costs 5 (linear)
    hand_in = float((counts["input"][0].double() * hand_conv_fanout(4, 4, 3, 2, 1, 3)).sum()) / 3
    assert res["per_connection"]["input->conv"] == pytest.approx(hand_in)
    assert res["per_connection"]["conv->out"] == pytest.approx(int(rec.spikes["conv"].sum()) * 5 / 3)
    assert res["total"] == pytest.approx(sum(res["per_connection"].values()))
    # event count: summing the outputs of the conv with unit weights applied to the spikes
    ones = torch.ones(3, 1, 3, 3)
    events = torch.nn.functional.conv2d(s.flatten(0, 1).float(), ones, stride=2, padding=1).sum()
    assert res["per_connection"]["input->conv"] == pytest.approx(float(events) / 3)
    macs = ann_macs(net)
    assert macs == {"per_connection": {"input->conv": 108, "conv->out": 12 * 5}, "total": 168}
    with pytest.raises(ValueError, match="no spike counts"):
        synops(net, {"input": counts["input"]}, 3)


def test_energy_constants_and_ratio() -> None:
    e = energy(1000.0, 500.0)
    assert e["snn_j"] == pytest.approx(1000 * 0.9e-12)
    assert e["ann_j"] == pytest.approx(500 * 4.6e-12)
    assert e["ann_over_snn"] == pytest.approx(500 * 4.6 / (1000 * 0.9))
    assert e["snn_over_ann"] == pytest.approx(1 / e["ann_over_snn"])
    assert energy(0.0, 10.0)["ann_over_snn"] == float("inf")
    assert energy(10.0, 0.0, snn_macs=2.0)["snn_j"] == pytest.approx(10 * 0.9e-12 + 2 * 4.6e-12)
    with pytest.raises(ValueError, match="synops"):
        energy(-1.0, 1.0)


def test_energy_report_from_an_evaluation() -> None:
    torch.manual_seed(0)
    net = build_network(SPEC)
    g = torch.Generator().manual_seed(0)
    split = Split(torch.rand(10, 1, 4, 4, generator=g), torch.arange(10) % 5)

    def spikes(x: torch.Tensor, t: int) -> torch.Tensor:
        return torch.rand(t, *x.shape, generator=g) < x

    result = evaluate(net, split, spikes, 15, batch_size=4, progress=False, keep_first_batch=2)
    rep = energy_report(net, result)
    direct = synops(net, result.neuron_counts, result.samples)
    assert rep["synops_per_sample"] == pytest.approx(direct["total"])
    assert rep["ann_macs_per_sample"] == 168 and rep["analog_inputs"] == []
    assert rep["energy"]["snn_j"] == pytest.approx(direct["total"] * 0.9e-12)
    assert rep["per_connection"]["conv->out"]["ann_macs"] == 60
    # constant-current input: the first connection does dense MACs every step
    analog = evaluate(
        net,
        split,
        lambda x, t: x.unsqueeze(0).expand(t, *x.shape).clone(),
        15,
        batch_size=4,
        progress=False,
        keep_first_batch=2,
    )
    rep = energy_report(net, analog)
    assert rep["analog_inputs"] == ["input"] and rep["snn_macs_per_sample"] == 108 * 15
    assert (
        "input->conv" not in synops(net, analog.neuron_counts, analog.samples, skip_sources=["input"])["per_connection"]
    )
    assert rep["energy"]["snn_j"] == pytest.approx(rep["synops_per_sample"] * 0.9e-12 + 108 * 15 * 4.6e-12)


def test_stock_bindsnet_connections_count_their_nonzero_weights() -> None:
    """Diehl & Cook's network (stock BindsNET connections): every input reaches all N excitatory
    neurons, each excitatory neuron one inhibitory neuron, each inhibitory neuron the N - 1 others."""
    from bindsnet.models import DiehlAndCook2015

    from analysis.synops import connection_macs, fanout

    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=49, n_neurons=6, dt=1.0)
    fo = {f"{s}->{t}": fanout(c) for (s, t), c in net.connections.items()}
    assert torch.equal(fo["X->Ae"], torch.full((49,), 6.0, dtype=torch.float64))
    assert torch.equal(fo["Ae->Ai"], torch.ones(6, dtype=torch.float64))
    assert torch.equal(fo["Ai->Ae"], torch.full((6,), 5.0, dtype=torch.float64))
    assert connection_macs(net.connections["Ai", "Ae"]) == 30
