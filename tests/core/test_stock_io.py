"""Stock BindsNET networks saved, loaded and described (snnsim.core.stock_spec via save_network)."""

from __future__ import annotations

import json

import pytest
import torch
from bindsnet.learning import MSTDPET, Hebbian, MCC_learning, PostPre, WeightDependentPostPre
from bindsnet.learning.learning import LearningRule
from bindsnet.models import DiehlAndCook2015
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, IFNodes, Input, IzhikevichNodes, LIFNodes
from bindsnet.network.topology import Connection, Conv2dConnection, MulticompartmentConnection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnsim.core.io import WEIGHTS_FILE, load_network, save_network
from snnsim.core.spec import build_network, network_spec
from snnsim.engine import simulate
from snnsim.errors import UserError, UserTypeError

KINDS = {
    "IFNodes": lambda n, g: IFNodes(n, thresh=-58.0, reset=-64.0, refrac=1, traces=True, lbound=-70.0),
    "LIFNodes": lambda n, g: LIFNodes(
        n,
        thresh=(-55.0 - 3 * torch.rand(n, generator=g)).tolist(),
        refrac=2,
        tc_decay=20.0,
        traces=True,
        tc_trace=15.0,
        lbound=-75.0,
    ),
    "AdaptiveLIFNodes": lambda n, g: AdaptiveLIFNodes(
        n, thresh=-56.0, refrac=3, theta_plus=1.0, tc_decay=30.0, traces=True, tc_theta_decay=200.0
    ),
    "DiehlAndCookNodes": lambda n, g: DiehlAndCookNodes(
        n, thresh=-57.0, reset=-60.0, traces=True, theta_plus=0.5, one_spike=False, sum_input=True
    ),
}
RULES = [None, PostPre, Hebbian, WeightDependentPostPre, MSTDPET]


def _stock_net(kinds, sizes, edges, rules, seed: int) -> Network:
    """Input 'in' then stock layers l0..; ``edges`` (src, tgt) indices (-1: input), each with a rule."""
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0)
    net.add_layer(Input(4, traces=True, tc_trace=12.0), "in")
    for i, (kind, n) in enumerate(zip(kinds, sizes)):
        net.add_layer(KINDS[kind](n, g), f"l{i}")
        if hasattr(net.layers[f"l{i}"], "theta"):
            net.layers[f"l{i}"].theta.uniform_(0.0, 2.0, generator=g)
    for (a, b), rule in zip(edges, rules):
        src, tgt = ("in" if a < 0 else f"l{a}"), f"l{b}"
        s, t = net.layers[src], net.layers[tgt]
        w = (torch.rand(s.n, t.n, generator=g) * 2 - 0.6) * 14.0
        kw = {"update_rule": rule, "nu": (1e-2, 2e-2), "wmin": -5.0, "wmax": 10.0} if rule else {}
        if rule is MSTDPET:
            kw.update(tc_plus=15.0, tc_e_trace=30.0)
        if (a + b) % 2:
            kw.update(b=torch.rand(t.n, generator=g), norm=float(t.n) * 3.0)
        net.add_connection(Connection(s, t, w=w, weight_decay=1e-3 if rule else 0.0, **kw), src, tgt)
    return net


@st.composite
def stock_topologies(draw):
    n = draw(st.integers(1, 3))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    pairs = [(a, b) for a in range(-1, n) for b in range(n)]
    edges = sorted(set(draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))) | {(-1, 0)})
    rules = draw(st.lists(st.sampled_from(range(len(RULES))), min_size=len(edges), max_size=len(edges)))
    return kinds, sizes, edges, [RULES[r] for r in rules], draw(st.integers(0, 2**16))


def _rule_state(rule: LearningRule) -> dict:
    keys = ("nu", "reduction", "weight_decay", "tc_plus", "tc_minus", "tc_e_trace", "zero_lag")
    return {k: getattr(rule, k) for k in keys if hasattr(rule, k)}


def _assert_same_network(a: Network, b: Network) -> None:
    assert list(a.layers) == list(b.layers) and list(a.connections) == list(b.connections)
    for name, layer in a.layers.items():
        other = b.layers[name]
        assert type(other) is type(layer), name
        for key, buf in layer.named_buffers():
            if key not in ("s", "x", "v", "refrac_count", "summed"):
                assert torch.equal(buf, dict(other.named_buffers())[key]), (name, key)
    for key, conn in a.connections.items():
        other = b.connections[key]
        assert type(other) is type(conn), key
        assert torch.equal(conn.w, other.w) and conn.w.dtype == other.w.dtype, key
        assert (conn.b is None) == (other.b is None) and (conn.b is None or torch.equal(conn.b, other.b))
        assert torch.equal(conn.wmin, other.wmin) and torch.equal(conn.wmax, other.wmax) and conn.norm == other.norm
        assert type(other.update_rule) is type(conn.update_rule), key
        for k, v in _rule_state(conn.update_rule).items():
            w = getattr(other.update_rule, k)
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w, (key, k)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stock_topologies())
def test_random_stock_topologies_round_trip_and_simulate_the_same(tmp_path_factory, case):
    kinds, sizes, edges, rules, seed = case
    net = _stock_net(kinds, sizes, edges, rules, seed)
    directory = tmp_path_factory.mktemp("stock")
    save_network(net, directory)
    loaded = load_network(directory)
    _assert_same_network(net, loaded)
    assert network_spec(loaded) == network_spec(net)
    x = torch.rand(25, 2, 4, generator=torch.Generator().manual_seed(seed)) < 0.5
    ref = simulate(net, x.clone(), engine="bindsnet", record_voltage=True)
    got = simulate(loaded, x.clone(), engine="bindsnet", record_voltage=True)
    for name in net.layers:
        assert torch.equal(ref.spikes[name], got.spikes[name]), name
        if name != "in":
            assert torch.equal(ref.voltages[name], got.voltages[name]), name
    # learning on (batch 1: BindsNET's default reduction squeeze needs it): the same updates
    assert torch.equal(_learn(net, x[:, :1]), _learn(loaded, x[:, :1]))
    _assert_same_network(net, loaded)


def _learn(net: Network, x: torch.Tensor) -> torch.Tensor:
    """Network.run with learning on (reward 0.7 for the reward-modulated rules); all spikes [T, n]."""
    from bindsnet.network.monitors import Monitor

    for name, layer in net.layers.items():
        net.add_monitor(Monitor(layer, ["s"], time=len(x)), name)
    net.train(True)
    net.reset_state_variables()
    net.run({"in": x.clone()}, time=len(x), one_step=True, reward=0.7)
    out = torch.cat([net.monitors.pop(n).get("s").reshape(len(x), -1).float() for n in net.layers], 1)
    net.reset_state_variables()
    return out


def _train(net: Network, images: torch.Tensor, seed: int) -> dict:
    """Network.run with learning on over each image (Poisson spikes of 50 steps); Ae's spikes."""
    from bindsnet.network.monitors import Monitor

    monitor = Monitor(net.layers["Ae"], ["s"], time=50)
    net.add_monitor(monitor, "Ae_s")
    out = []
    torch.manual_seed(seed)  # DiehlAndCookNodes pick one spiking neuron at random per step
    for img in images:
        spikes = torch.rand(50, 1, img.numel()) < img.reshape(1, 1, -1) * 0.5
        net.run({"X": spikes}, time=50)
        out.append(monitor.get("s").clone())
        net.reset_state_variables()
        monitor.reset_state_variables()
    del net.monitors["Ae_s"]
    return torch.stack(out)


def _multi_weights(net: Network) -> list[torch.Tensor]:
    return [f.value.clone() for c in net.connections.values() for f in c.pipeline]


def test_diehl_and_cook_2015_after_learning_round_trips(tmp_path):
    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=49, n_neurons=16, exc=22.5, inh=120.0, theta_plus=0.5)
    images = torch.rand(6, 49, generator=torch.Generator().manual_seed(1))
    w0 = _multi_weights(net)
    _train(net, images[:4], seed=2)
    assert not torch.equal(w0[0], _multi_weights(net)[0]) and net.layers["Ae"].theta.sum() > 0  # it learned
    save_network(net, tmp_path / "dc")
    loaded = load_network(tmp_path / "dc")
    assert type(loaded) is DiehlAndCook2015  # the network's own class, with its attributes
    assert (loaded.n_inpt, loaded.n_neurons, loaded.exc, loaded.inh, loaded.dt) == (49, 16, 22.5, 120.0, 1.0)
    assert type(loaded.layers["Ae"]) is DiehlAndCookNodes and type(loaded.layers["Ai"]) is LIFNodes
    conn = loaded.connections[("X", "Ae")]
    assert type(conn) is MulticompartmentConnection and type(conn.pipeline[0].learning_rule) is MCC_learning.PostPre
    rule, rule0 = conn.pipeline[0].learning_rule, net.connections[("X", "Ae")].pipeline[0].learning_rule
    assert torch.equal(rule.nu, rule0.nu) and rule.reduction is rule0.reduction and (rule.min, rule.max) == (0.0, 1.0)
    assert conn.pipeline[0].norm == 78.4 and loaded.layers["X"].traces
    assert all(torch.equal(a, b) for a, b in zip(_multi_weights(net), _multi_weights(loaded)))
    assert torch.equal(net.layers["Ae"].theta, loaded.layers["Ae"].theta)
    # learning goes on identically: the same spikes, weights and thresholds after two more images
    s_ref, s_got = _train(net, images[4:], seed=3), _train(loaded, images[4:], seed=3)
    assert s_ref.sum() > 0 and torch.equal(s_ref, s_got)
    assert all(torch.equal(a, b) for a, b in zip(_multi_weights(net), _multi_weights(loaded)))
    assert torch.equal(net.layers["Ae"].theta, loaded.layers["Ae"].theta)
    spec = network_spec(loaded)
    assert spec == network_spec(net) and network_spec(build_network(json.loads(json.dumps(spec)))) == spec


def test_fast_engine_runs_a_loaded_stock_network_like_network_run(tmp_path):
    net = _stock_net(
        ["LIFNodes", "AdaptiveLIFNodes", "IFNodes"],
        [6, 4, 3],
        [(-1, 0), (0, 0), (0, 1), (1, 2), (2, 1)],
        [None] * 5,
        seed=4,
    )
    save_network(net, tmp_path)
    loaded = load_network(tmp_path)
    x = torch.rand(40, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.5
    fast = simulate(loaded, x, engine="fast")
    ref = simulate(net, x, engine="bindsnet")
    assert all(torch.equal(fast.spikes[n], ref.spikes[n]) for n in net.layers)
    assert fast.spikes["l2"].sum() > 0


class _MyRule(PostPre):
    pass


def _tiny(rule=None, conn_cls=Connection, layer=None) -> Network:
    net = Network()
    net.add_layer(Input(3, traces=True), "in")
    net.add_layer(layer or LIFNodes(2, traces=True), "out")
    kw = {"update_rule": rule, "nu": 0.1} if rule else {}
    net.add_connection(conn_cls(net.layers["in"], net.layers["out"], **kw), "in", "out")
    return net


def _conv() -> Network:
    net = Network()
    net.add_layer(Input(shape=[1, 4, 4]), "in")
    net.add_layer(LIFNodes(shape=[2, 2, 2]), "out")
    net.add_connection(Conv2dConnection(net.layers["in"], net.layers["out"], kernel_size=3), "in", "out")
    return net


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: _tiny(layer=IzhikevichNodes(2)), UserTypeError, r"layer 'out'.*IzhikevichNodes.*rebuild it in code"),
        (lambda: _tiny(rule=_MyRule), UserError, r"connection in->out: learning rule .*_MyRule cannot be saved"),
        (lambda: _conv(), UserTypeError, r"connection in->out is a Conv2dConnection, which cannot be saved"),
    ],
)
def test_what_cannot_be_described_is_refused_in_one_line(tmp_path, make, err, match):
    with pytest.raises(err, match=match) as info:
        save_network(make(), tmp_path / "x")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x" / "network.json").exists()


def test_stock_weights_are_sealed(tmp_path):
    save_network(_tiny(rule=PostPre), tmp_path)
    data = bytearray((tmp_path / WEIGHTS_FILE).read_bytes())
    data[-40] ^= 1
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match the checksum"):
        load_network(tmp_path)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda s: s["layers"][1].update(tresh=1.0), r"layers\[1\]\.tresh: unknown key \(did you mean 'thresh'\?\)"),
        (lambda s: s["layers"][1].update(traces="yes"), r"layers\[1\]\.traces: must be of type boolean"),
        (lambda s: s["connections"][0].update(wmax="1"), r"connections\[0\]\.wmax: must be of type number"),
        (
            lambda s: s["connections"][0]["rule"].update(type="Mine"),
            r"connections\[0\]\.rule\.type: unknown rule 'Mine'",
        ),
        (
            lambda s: s["connections"][0].update({"class": "bindsnet.Sparse"}),
            r"connections\[0\]\.class: must be one of",
        ),
        (lambda s: s["connections"][0].update(ops=[]), r"connections\[0\]\.ops: unknown key"),
        (
            lambda s: s["layers"][1].update(thresh=[1.0, 2.0, 3.0]),
            r"layers\[1\] \('out'\): per-neuron thresh has shape \[3\]",
        ),
        (lambda s: s["layers"][0].update(traces=False), r"connections\[0\]: bindsnet refused it: Both pre- and post-"),
    ],
)
def test_bad_stock_spec_names_the_field(mutate, match):
    spec = network_spec(_tiny(rule=PostPre))
    build_network(spec)
    mutate(spec)
    with pytest.raises(UserError, match=match):
        build_network(spec)


def test_a_built_stock_spec_draws_weights_as_bindsnet_does():
    spec = network_spec(_tiny(rule=PostPre))
    spec["connections"][0].update(wmin=0.25, wmax=0.5)
    w = build_network(spec).connections[("in", "out")].w
    assert w.min() >= 0.25 and w.max() <= 0.5 and w.std() > 0


def test_diehl_and_cook_paper_rule_keeps_its_parameters(tmp_path):
    net = DiehlAndCook2015(
        n_inpt=9,
        n_neurons=4,
        learning_rule=MCC_learning.DiehlAndCook,
        learning_rule_kwargs={"x_tar": 0.4, "mu": 0.5},
        nu=(0.0, 0.02),
    )
    save_network(net, tmp_path)
    loaded = load_network(tmp_path)
    rule = loaded.connections[("X", "Ae")].pipeline[0].learning_rule
    assert type(rule) is MCC_learning.DiehlAndCook and (rule.x_tar, rule.mu) == (0.4, 0.5)
    assert rule.nu.tolist() == net.connections[("X", "Ae")].pipeline[0].learning_rule.nu.tolist()
    assert loaded.layers["X"].traces_additive  # the paper's accumulating input traces
    assert network_spec(loaded) == network_spec(net)
