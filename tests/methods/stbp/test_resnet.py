"""Spiking ResNet-19 spec, block helpers, gradients, folding and engine agreement."""

import math

import pytest
import torch
from torch import nn

from snnsim.core.spec import build_network
from snnsim.engine import forward, simulate
from snnsim.methods.stbp.resnet import add_block, basic_block, lif, resnet19, resnet19_spec
from snnsim.methods.stbp.tdbn import has_batchnorm
from snnsim.training import get_rule
from tests.helpers import assert_records_agree

pytestmark = pytest.mark.usefixtures("one_thread")


def _weighted_ops(spec):
    return [
        (c["source"], c["target"], o) for c in spec["connections"] for o in c["ops"] if o["op"] in ("conv2d", "linear")
    ]


def test_resnet19_topology_and_width():
    spec = resnet19_spec((3, 32, 32), 10, width=0.125)
    names = [layer["name"] for layer in spec["layers"]]
    assert names[:2] == ["input", "conv1"] and names[-2:] == ["fc1", "out"]
    blocks = [n for n in names if n.startswith("s") and not n.endswith("_mid")]
    assert blocks == ["s1b1", "s1b2", "s1b3", "s2b1", "s2b2", "s2b3", "s3b1", "s3b2"]
    weighted = _weighted_ops(spec)
    main = [w for w in weighted if not (w[2]["op"] == "conv2d" and w[2]["kernel_size"] == 1)]
    assert len(main) == 19  # conv1 + 8 blocks x 2 convs + FC 256 + FC 10
    channels = sorted({w[2]["out_channels"] for w in weighted if w[2]["op"] == "conv2d"})
    assert channels == [16, 32, 64]
    assert [w[2]["out_features"] for w in weighted if w[2]["op"] == "linear"] == [256, 10]
    shortcuts = [c for c in spec["connections"] if c["target"] in blocks and not c["source"].endswith("_mid")]
    assert [c["ops"][0]["op"] for c in shortcuts] == ["identity"] * 3 + ["conv2d"] + ["identity"] * 2 + [
        "conv2d",
        "identity",
    ]
    for c in spec["connections"]:  # alpha = 1/sqrt(2) exactly on the branches summed into a block output
        for o in c["ops"]:
            if o["op"] == "tdbn":
                assert o["v_th"] == 0.4
                assert o["alpha"] == pytest.approx(1 / math.sqrt(2) if c["target"] in blocks else 1.0)
    for layer in spec["layers"][1:-1]:
        assert (layer["type"], layer["leak"], layer["thresh"], layer["reset"]) == ("lif", 0.25, 0.4, "zero")
    assert spec["layers"][-1]["type"] == "integrator"
    net = build_network(spec)
    assert list(net.layers["s2b1"].shape) == [32, 16, 16] and list(net.layers["s3b2"].shape) == [64, 8, 8]
    assert list(resnet19(input_shape=(1, 28, 28), width=0.0625).layers["s3b1"].shape) == [32, 7, 7]


def test_resnet_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        resnet19_spec(width=0)
    with pytest.raises(ValueError, match="input_shape"):
        resnet19_spec((3, 32))
    with pytest.raises(ValueError, match="square"):
        resnet19_spec((3, 32, 16))
    with pytest.raises(ValueError, match="at least one block"):
        resnet19_spec(stages=((16, 0, 1),))


def test_block_helpers_build_a_custom_topology():
    spec = {
        "layers": [{"name": "input", "type": "input", "shape": [2, 8, 8]}, lif("stem")],
        "connections": [
            {
                "source": "input",
                "target": "stem",
                "ops": [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}],
            }
        ],
    }
    out = add_block(spec, "stem", "blk1", 4, 4)
    out = add_block(spec, out, "blk2", 4, 6, stride=2)
    spec["layers"].append({"name": "out", "type": "integrator"})
    spec["connections"].append({"source": out, "target": "out", "ops": [{"op": "linear", "out_features": 3}]})
    net = build_network(spec)
    assert list(net.layers["blk2"].shape) == [6, 4, 4]
    assert ("stem", "blk1") in net.connections and ("blk1", "blk2") in net.connections
    layers, conns = basic_block("a", "b", 8, 8)
    assert [c["ops"][0]["op"] for c in conns] == ["conv2d", "conv2d", "identity"]
    assert [layer["name"] for layer in layers] == ["b_mid", "b"]


def test_shortcut_current_is_summed_into_the_block_output():
    """An identity shortcut adds the input spikes to the second branch's current."""
    torch.manual_seed(0)
    net = resnet19(input_shape=(1, 8, 8), stages=((4, 1, 1),), stem=4, fc_hidden=None)
    net.train(False)
    x = torch.rand(3, 2, 1, 8, 8)
    rec = simulate(net, x, record_voltage=["s1b1"])
    with torch.no_grad():
        main = net.connections[("s1b1_mid", "s1b1")].compute_multi(rec.spikes["s1b1_mid"])
        current = main + rec.spikes["conv1"].float()
        v, s = torch.zeros_like(current[0]), []
        for t in range(3):
            h = 0.25 * v + current[t]
            s.append(h >= 0.4)
            v = torch.where(s[-1], torch.zeros_like(h), h)
    assert torch.equal(torch.stack(s), rec.spikes["s1b1"])


def test_forward_backward_on_cifar_shaped_data_reaches_every_conv():
    torch.manual_seed(0)
    rule = get_rule("stbp-tdbn", timesteps=2, width=0.0625)
    net = rule.build("resnet19", (3, 32, 32), 10)
    net.train(True)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    out = rule.outputs(net, rule.encode(x))
    assert out.shape == (4, 10)
    rule.loss(out, y).backward()
    n_conv = 0
    for (src, tgt), conn in net.connections.items():
        for m in conn.layers:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                n_conv += isinstance(m, nn.Conv2d)
                assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0, f"no gradient into {src}->{tgt}"
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0, f"no gradient into BN {src}->{tgt}"
    assert n_conv == 19  # 17 3x3 convs + 2 shortcut 1x1 convs


def test_folded_resnet_engines_agree_and_match_unfolded():
    torch.manual_seed(1)
    rule = get_rule("stbp-tdbn", timesteps=3, width=0.0625)
    net = rule.build("resnet19", (3, 32, 32), 10)
    net.train(True)
    with torch.no_grad():  # give the BNs non-trivial running statistics and affine parameters
        for _ in range(3):
            forward(net, rule.encode(torch.rand(8, 3, 32, 32)))
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.8, 1.6)
                m.bias.uniform_(-0.1, 0.2)
    net.train(False)
    folded = rule.export(net)
    assert not has_batchnorm(folded) and has_batchnorm(net)
    x = rule.encode(torch.rand(3, 3, 32, 32))
    unfolded = simulate(net, x, record_voltage=["out"])
    fast = simulate(folded, x, record_voltage=["out"])
    ref = simulate(folded, x, engine="bindsnet", record_voltage=["out"])
    hidden = [n for n in fast.spikes if n not in ("input", "out")]
    assert sum(float(fast.spikes[n].float().mean()) for n in hidden) > 0.05  # the net is active
    for n in hidden:
        assert torch.equal(fast.spikes[n], ref.spikes[n]), f"engines differ at {n}"
    assert_records_agree(folded, fast, ref)  # out sums a dense Linear: within the engine tolerance
    # folding changes the float rounding of the currents only: count spike flips (expected 0)
    flips = sum(int((unfolded.spikes[n] != fast.spikes[n]).sum()) for n in hidden)
    total = sum(fast.spikes[n].numel() for n in hidden)
    assert flips <= 1e-4 * total, f"{flips} of {total} spikes differ after folding"
    assert torch.allclose(unfolded.voltages["out"], fast.voltages["out"], atol=1e-4)
    with torch.no_grad():  # currents of the first connection: allclose
        a = net.connections[("input", "conv1")].compute_multi(x)
        b = folded.connections[("input", "conv1")].compute_multi(x)
    assert torch.allclose(a, b, atol=1e-5)
