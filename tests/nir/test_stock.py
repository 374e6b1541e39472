"""NIR export of stock BindsNET IF/LIF node groups and dense connections (snnsim.nir.stock)."""

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from bindsnet.learning import PostPre
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, IFNodes, Input, LIFNodes
from bindsnet.network.topology import Connection

from snnsim.engine import simulate
from snnsim.errors import UserError
from snnsim.nir.graph import load_nir, save_nir, to_nir


def _net(hidden=None, out=None, rule=None) -> Network:
    """in [2, 3] -> h (LIF, self-connection) -> o (IF, bias), BindsNET's own classes."""
    g = torch.Generator().manual_seed(0)
    net = Network(dt=1.0)
    net.add_layer(Input(shape=[2, 3], traces=rule is not None), "in")
    net.add_layer(
        hidden or LIFNodes(8, thresh=1.0, rest=0.2, reset=0.2, refrac=0, tc_decay=15.0, traces=rule is not None), "h"
    )
    net.add_layer(out or IFNodes(4, thresh=0.9, reset=0.0, refrac=0), "o")
    kw = {"update_rule": rule, "nu": 0.01} if rule else {}
    for src, tgt, lo, hi, bias in [
        ("in", "h", -0.2, 0.9, False),
        ("h", "h", -0.5, 0.2, False),
        ("h", "o", -0.3, 0.8, True),
    ]:
        s, t = net.layers[src], net.layers[tgt]
        w = lo + torch.rand(s.n, t.n, generator=g) * (hi - lo)
        b = torch.rand(t.n, generator=g) * 0.1 if bias else None
        net.add_connection(Connection(s, t, w=w, b=b, **(kw if src == "in" else {})), src, tgt)
    return net


def test_stock_if_lif_export_reimports_to_the_same_spikes(tmp_path):
    net = _net()
    graph = to_nir(net)
    assert isinstance(graph.nodes["h"], nir.LIF) and isinstance(graph.nodes["o"], nir.IF)
    assert [type(graph.nodes[f"in__h__{i}"]).__name__ for i in range(2)] == ["Flatten", "Linear"]
    assert isinstance(graph.nodes["h__o__0"], nir.Affine)
    loaded = load_nir(save_nir(net, tmp_path / "stock.nir"))
    x = torch.rand(60, 3, 2, 3, generator=torch.Generator().manual_seed(1)) < 0.4
    ref = simulate(net, x, engine="bindsnet", record_voltage=True)
    got = simulate(loaded, x, engine="fast", record_voltage=True)
    for name in ("h", "o"):
        assert ref.spikes[name].sum() > 0 and not ref.spikes[name].all(), name
        assert torch.equal(ref.spikes[name], got.spikes[name]), name
        assert torch.allclose(ref.voltages[name], got.voltages[name], atol=1e-5), name


def test_bindsnet_default_units_export_as_the_euler_step_of_the_file():
    """mV and ms as BindsNET has them (rest = reset = -65, thresh = -52): snnsim's reader wants
    thresholds > 0, so the file is checked against its own Euler reading, step by step."""
    net = Network(dt=0.5)
    net.add_layer(Input(5), "in")
    net.add_layer(LIFNodes(6, refrac=0, reset=-65.0, tc_decay=20.0), "h")
    w = torch.rand(5, 6, generator=torch.Generator().manual_seed(2)) * 9.0
    net.add_connection(Connection(net.layers["in"], net.layers["h"], w=w), "in", "h")
    graph = to_nir(net)
    node, lin = graph.nodes["h"], graph.nodes["in__h__0"]
    assert np.allclose(node.v_leak, -65.0) and np.allclose(node.tau, 0.5 / (1 - np.exp(-0.5 / 20.0)), rtol=1e-4)
    x = torch.rand(80, 1, 5, generator=torch.Generator().manual_seed(3)) < 0.3
    ref = simulate(net, x, engine="fast")
    dt, v, spikes = 0.5, np.array(node.v_reset, np.float64), []
    for t in range(x.shape[0]):
        current = np.asarray(lin.weight, np.float64) @ x[t, 0].numpy().astype(np.float64)
        v = (1 - dt / node.tau) * v + dt / node.tau * node.v_leak + dt * node.r / node.tau * current
        s = v > node.v_threshold
        v = np.where(s, node.v_reset, v)
        spikes.append(s)
    assert ref.spikes["h"].sum() > 5
    assert np.array_equal(np.array(spikes), ref.spikes["h"][:, 0].numpy())


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"hidden": LIFNodes(8)}, r"layer 'h' \(LIFNodes\) has a refractory period \(refrac=5 ms\).*refrac=0"),
        ({"hidden": LIFNodes(8, refrac=0, lbound=-70.0)}, r"layer 'h' \(LIFNodes\) has a lower bound"),
        ({"hidden": LIFNodes(8, refrac=0, rest=-65.0, reset=-60.0)}, r"layer 'h' \(LIFNodes\) has rest != reset"),
        ({"hidden": AdaptiveLIFNodes(8, refrac=0)}, r"layer 'h' \(AdaptiveLIFNodes\) has no NIR equivalent"),
        ({"out": DiehlAndCookNodes(4)}, r"layer 'o' \(DiehlAndCookNodes\) has no NIR equivalent"),
        ({"rule": PostPre}, r"connection in->h has the learning rule PostPre"),
    ],
)
def test_what_nir_cannot_express_is_refused_in_one_line(kw, match):
    with pytest.raises(UserError, match=match) as info:
        to_nir(_net(**kw))
    assert "\n" not in str(info.value)
