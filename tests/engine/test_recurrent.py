"""Recurrent and stock-BindsNET networks in the fast engine (issue 16): spikes as Network.run(one_step=True)."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from bindsnet.learning import PostPre
from bindsnet.models import DiehlAndCook2015
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, IFNodes, Input, LIFNodes
from bindsnet.network.topology import Connection, MulticompartmentConnection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnsim.core.connections import ModuleConnection
from snnsim.core.nodes import IFNeurons, LIFNeurons
from snnsim.core.spec import build_network, network_spec
from snnsim.engine import forward, simulate
from snnsim.engine.graph import execution_plan, plan_network, strongly_connected
from snnsim.errors import UserError
from tests.helpers import assert_engines_agree

STOCK = {
    "LIFNodes": lambda n: LIFNodes(n, thresh=-55.0, refrac=2, tc_decay=20.0),
    "IFNodes": lambda n: IFNodes(n, thresh=-58.0, refrac=1),
    "AdaptiveLIFNodes": lambda n: AdaptiveLIFNodes(n, thresh=-56.0, refrac=3, theta_plus=1.0, tc_decay=30.0),
}
SNNSIM = {"if": lambda n: IFNeurons(n, thresh=1.0), "lif": lambda n: LIFNeurons(n, leak=0.9, refrac=1)}


def _random_net(draw_kinds, sizes, edges, seed: int) -> Network:
    """Input 'in' (4 neurons) then layers l0.. of the given kinds; ``edges`` (src, tgt) indices, -1 = input."""
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0)
    net.add_layer(Input(4), "in")
    for i, (kind, n) in enumerate(zip(draw_kinds, sizes)):
        net.add_layer((STOCK.get(kind) or SNNSIM[kind])(n), f"l{i}")
    for a, b in edges:
        src, tgt = ("in" if a < 0 else f"l{a}"), f"l{b}"
        s, t = net.layers[src], net.layers[tgt]
        scale = 14.0 if draw_kinds[b] in STOCK else 1.0
        w = (torch.rand(s.n, t.n, generator=g) * 2 - 0.6) * scale
        if a < 0 or draw_kinds[b] in STOCK or (a + b) % 2:
            conn = Connection(s, t, w=w)
        else:
            conn = ModuleConnection(s, t, ops=[{"op": "linear", "out_features": t.n, "bias": False}])
            conn.layers[0].weight.data.copy_(w.t())
        net.add_connection(conn, src, tgt)
    return net


@st.composite
def topologies(draw):
    n = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(sorted(STOCK) + sorted(SNNSIM)), min_size=n, max_size=n))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    pairs = [(a, b) for a in range(-1, n) for b in range(n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    edges = sorted(set(edges) | {(-1, 0)}, key=lambda e: draw(st.integers(0, 99)))  # random connection order
    return kinds, sizes, edges, draw(st.integers(0, 2**16)), draw(st.integers(1, 12)), draw(st.integers(1, 2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_random_recurrent_topologies_match_network_run(case):
    kinds, sizes, edges, seed, t, b = case
    net = _random_net(kinds, sizes, edges, seed)
    x = torch.rand(t, b, 4, generator=torch.Generator().manual_seed(seed)) < 0.5
    assert_engines_agree(net, x)


def _stock_chain(dt: float, lbound) -> Network:
    """in -> a (LIF, self-inhibition) <-> b (adaptive LIF) -> c (IF), refractory periods in ms."""
    g = torch.Generator().manual_seed(3)
    net = Network(dt=dt)
    net.add_layer(Input(6), "in")
    net.add_layer(LIFNodes(8, thresh=-58.0, rest=-65.0, reset=-62.0, refrac=3, tc_decay=15.0, lbound=lbound), "a")
    net.add_layer(AdaptiveLIFNodes(5, thresh=-60.0, refrac=2, theta_plus=0.8, tc_theta_decay=50.0), "b")
    net.add_layer(IFNodes(3, thresh=-60.0, reset=-64.0, refrac=4, lbound=lbound), "c")
    for src, tgt, lo, hi in [
        ("in", "a", 0, 12),
        ("a", "a", -6, 3),
        ("a", "b", 0, 10),
        ("b", "a", -8, 0),
        ("b", "c", 0, 9),
        ("c", "b", -5, 5),
    ]:
        w = lo + torch.rand(net.layers[src].n, net.layers[tgt].n, generator=g) * (hi - lo)
        net.add_connection(Connection(net.layers[src], net.layers[tgt], w=w, wmin=lo + 1, wmax=hi - 1), src, tgt)
    return net


@pytest.mark.parametrize("dt, lbound", [(1.0, None), (0.5, -70.0)])
@pytest.mark.parametrize("learning", [False, True])
def test_stock_nodes_refractory_adaptation_match_network_run(dt, lbound, learning):
    net = _stock_chain(dt, lbound)
    net.layers["b"].theta.uniform_(0.0, 3.0)
    theta = net.layers["b"].theta.clone()
    x = torch.rand(40, 2, 6, generator=torch.Generator().manual_seed(1)) < 0.5
    fast = simulate(net, x, engine="fast", record_voltage=True, learning=learning)
    theta_fast = net.layers["b"].theta.clone()
    net.layers["b"].theta.copy_(theta)
    ref = simulate(net, x, engine="bindsnet", record_voltage=True, learning=learning)
    for name in net.layers:
        assert torch.equal(fast.spikes[name], ref.spikes[name]), name
    for name in ("a", "b", "c"):
        assert torch.allclose(fast.voltages[name], ref.voltages[name], atol=1e-4, rtol=0), name
    assert torch.equal(theta_fast, net.layers["b"].theta)  # the same adaptation in both engines
    assert torch.equal(theta_fast, theta) != learning  # thresholds adapt only while learning
    assert fast.spikes["a"].sum() > 0 and fast.spikes["b"].sum() > 0 and fast.spikes["c"].sum() > 0
    assert not torch.equal(fast.spikes["a"], torch.ones_like(fast.spikes["a"]))  # the refractory period bites


def _weights(net: Network) -> list[torch.Tensor]:
    out = []
    for conn in net.connections.values():
        if isinstance(conn, MulticompartmentConnection):
            out += [f.value.clone() for f in conn.pipeline]
        else:
            out.append(conn.w.clone())
    return out


def test_diehl_and_cook_2015_learning_off_matches_network_run():
    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=49, n_neurons=16)
    net.layers["Ae"].theta.uniform_(0.0, 3.0)
    x = torch.rand(120, 2, 49, generator=torch.Generator().manual_seed(2)) < 0.2
    before = _weights(net)
    torch.manual_seed(5)  # DiehlAndCookNodes pick one spike per step at random
    fast = simulate(net, x, engine="fast", record_voltage=True)
    torch.manual_seed(5)
    ref = simulate(net, x, engine="bindsnet", record_voltage=True)
    for name in net.layers:
        assert torch.equal(fast.spikes[name], ref.spikes[name]), name
    assert fast.spikes["Ae"].sum() > 0 and fast.spikes["Ai"].sum() > 0
    assert [s.recurrent for s in plan_network(net).stages] == [False, True]
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(net)))  # learning off: no weight changes


def test_learning_rule_applied_by_simulate_refused_by_forward():
    net = DiehlAndCook2015(n_inpt=9, n_neurons=4)
    x = torch.rand(30, 1, 9, generator=torch.Generator().manual_seed(0)) < 0.5
    w_dc = net.connections["X", "Ae"].pipeline[0].value.clone()
    simulate(net, x, engine="fast", learning=True)  # plastic run (tests/engine/test_plasticity.py)
    assert not torch.equal(net.connections["X", "Ae"].pipeline[0].value, w_dc)
    stock = Network()
    stock.add_layer(Input(9, traces=True), "in")
    stock.add_layer(LIFNodes(4, traces=True, thresh=-60.0), "out")
    stock.add_connection(
        Connection(
            stock.layers["in"],
            stock.layers["out"],
            w=torch.rand(9, 4) * 5,
            update_rule=PostPre,
            nu=(1e-2, 1e-2),
            norm=9.0,
        ),
        "in",
        "out",
    )
    w0 = stock.connections["in", "out"].w.clone()
    with pytest.raises(UserError, match="PostPre"):
        forward(stock, x)  # network.learning is on: the fast engine does not skip the rule silently
    for engine in ("fast", "bindsnet"):
        simulate(stock, x, engine=engine)
        assert torch.equal(stock.connections["in", "out"].w, w0), engine
    assert stock.learning  # restored
    simulate(stock, x, engine="bindsnet", learning=True)
    assert not torch.equal(stock.connections["in", "out"].w, w0)


def test_plan_keeps_feed_forward_parts_layerwise():
    order = ["in", "h", "r1", "r2", "s", "out", "late"]
    edges = [
        ("in", "h"),
        ("h", "r1"),
        ("r1", "r2"),
        ("r2", "r1"),
        ("r2", "s"),
        ("s", "s"),
        ("s", "out"),
        ("late", "h"),
        ("in", "late"),
    ]
    plan = execution_plan(order, edges)
    assert [(st.layers, st.recurrent) for st in plan.stages] == [
        (("in",), False),
        (("late",), False),
        (("h",), False),
        (("r1", "r2"), True),
        (("s",), True),
        (("out",), False),
    ]
    assert plan.delayed == {("r2", "r1"), ("s", "s"), ("late", "h")}


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), unique=True))
    )
)
def test_strongly_connected_matches_networkx(case):
    n, edges = case
    nodes = [f"n{i}" for i in range(n)]
    named = [(nodes[a], nodes[b]) for a, b in edges]
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(named)
    assert sorted(map(sorted, strongly_connected(nodes, named))) == sorted(
        map(sorted, nx.strongly_connected_components(graph))
    )
    plan = execution_plan(nodes, named)
    done: set[str] = set()
    for stage in plan.stages:  # a topological order: every input from outside the stage is ready
        assert all(a in done or a in stage.layers for a, b in named if b in stage.layers)
        done |= set(stage.layers)


def _recurrent_spec(hidden: int = 16) -> dict:
    return {
        "layers": [
            {"name": "in", "type": "input", "shape": [2]},
            {"name": "h", "type": "lif", "leak": 0.9, "thresh": 1.0, "reset": "subtract"},
            {"name": "out", "type": "integrator", "leak": 1.0},
        ],
        "connections": [
            {"source": "in", "target": "h", "ops": [{"op": "linear", "out_features": hidden}]},
            {"source": "h", "target": "h", "ops": [{"op": "linear", "out_features": hidden, "bias": False}]},
            {"source": "h", "target": "out", "ops": [{"op": "linear", "out_features": 2}]},
        ],
    }


def test_spec_self_connection_round_trip_and_engines_agree():
    net = build_network(_recurrent_spec())
    again = build_network(network_spec(net))
    again.load_state_dict(net.state_dict())
    assert network_spec(again) == network_spec(net)
    x = torch.rand(20, 3, 2, generator=torch.Generator().manual_seed(0)) < 0.5
    rec = assert_engines_agree(again, x)
    assert rec.spikes["h"].any()


def test_bptt_through_recurrent_net_learns_a_memory_task():
    """Which of two inputs spiked at step 0? Only the recurrent weights can carry it to the last step."""
    torch.manual_seed(0)
    net = build_network(_recurrent_spec(24))
    net.train()
    y = torch.arange(32) % 2
    x = torch.zeros(8, 32, 2)
    x[0, torch.arange(32), y] = 1.0
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    with torch.no_grad():
        same = simulate(net, x, record_voltage=["h"])
    rec = forward(net, x)
    assert torch.equal(rec.spikes["h"].bool(), same.spikes["h"])  # the differentiable run: the same spikes
    assert torch.allclose(rec.voltages["h"], same.voltages["h"], atol=1e-6)
    losses = []
    for _ in range(40):
        out = forward(net, x).voltages["out"][-1]
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        opt.step()
    rec_w = net.connections["h", "h"].layers[0].weight
    assert rec_w.grad is not None and rec_w.grad.abs().sum() > 0
    assert losses[-1] < 0.5 * losses[0], losses


def test_forward_refuses_gradients_through_stock_nodes():
    net = Network()
    net.add_layer(Input(3), "in")
    net.add_layer(LIFNodes(2), "out")
    conn = ModuleConnection(net.layers["in"], net.layers["out"], ops=[{"op": "linear", "out_features": 2}])
    net.add_connection(conn, "in", "out")
    with pytest.raises(UserError, match="LIFNodes"):
        forward(net, torch.ones(4, 1, 3))


def test_shared_trainer_trains_recurrent_lif_rule():
    """``snnsim train --method lif --set recurrent=true``: hidden self-connections, trained by fit()."""
    from snnsim.data.datasets import load_dataset
    from snnsim.training import get_rule
    from snnsim.training.trainer import TrainConfig, fit

    digits = load_dataset("digits", limit=300)
    torch.manual_seed(0)
    rule = get_rule("lif", timesteps=15, hidden=(24,), recurrent=True)
    net = rule.build("fc", digits.input_shape, digits.num_classes)
    plain = get_rule("lif", timesteps=15, hidden=(24,)).build("fc", digits.input_shape, digits.num_classes)
    assert ("fc1", "fc1") in net.connections and ("fc1", "fc1") not in plain.connections
    w0 = net.connections["fc1", "fc1"].layers[0].weight.detach().clone()
    net, summary = fit(rule, net, digits, TrainConfig(epochs=2, batch_size=50, lr=1e-2), progress=False)
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]
    assert not torch.equal(net.connections["fc1", "fc1"].layers[0].weight.detach(), w0)
    assert summary["final_accuracy"] > 0.2  # chance is 0.1
