"""BindsNET learning in the fast engine against ``Network.run`` with learning on."""

import copy
import os

import pytest
import torch
from bindsnet.learning import MSTDP, MSTDPET, Hebbian, NoOp, PostPre, WeightDependentPostPre
from bindsnet.learning.learning import DiehlAndCook
from bindsnet.models import DiehlAndCook2015
from bindsnet.network import Network
from bindsnet.network.nodes import AdaptiveLIFNodes, DiehlAndCookNodes, Input, LIFNodes
from bindsnet.network.topology import Connection
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim.engine import present, simulate
from snnsim.errors import UserError
from snnsim.native import plastic as native_plastic

RULES = {
    "postpre": PostPre,
    "wdpp": WeightDependentPostPre,
    "hebbian": Hebbian,
    "mstdp": MSTDP,
    "mstdpet": MSTDPET,
    "noop": NoOp,
}


def _w(net):
    return net.connections[("X", "Ae")].pipeline[0].value


@pytest.mark.parametrize("native", ["1", "0"])
def test_diehl_cook_bit_identical(native, monkeypatch):
    """BindsNET's own DiehlAndCook2015: spikes, weights and thetas after 6 images equal to the bit,
    in the C step loop and in the torch loop; the generator ends in the same state."""
    monkeypatch.setenv("SNNSIM_NATIVE_PLASTIC", native)
    torch.manual_seed(0)
    ref = DiehlAndCook2015(n_inpt=64, n_neurons=16, dt=1.0, exc=30.0)
    fast = copy.deepcopy(ref)
    w0 = _w(ref).clone()
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(80, 1, 64, generator=g) < 0.15 for _ in range(6)]
    for k, x in enumerate(images):
        torch.manual_seed(100 + k)
        a = simulate(ref, x.clone(), engine="bindsnet", learning=True)
        after_ref = torch.rand(4)
        torch.manual_seed(100 + k)
        b = simulate(fast, x.clone(), engine="fast", learning=True)
        assert torch.equal(after_ref, torch.rand(4))  # the one-spike draws consumed the same numbers
        for name in ("Ae", "Ai"):
            assert torch.equal(a.spikes[name], b.spikes[name]), (k, name)
    assert int(a.spikes["Ae"].sum()) > 0
    assert torch.equal(_w(ref), _w(fast))
    assert torch.equal(ref.layers["Ae"].theta, fast.layers["Ae"].theta)
    assert not torch.equal(_w(ref), w0) and bool(ref.layers["Ae"].theta.gt(0).any())


def test_native_kernel_is_used_for_diehl_cook():
    net = DiehlAndCook2015(n_inpt=16, n_neurons=4)
    from snnsim.engine.plastic import plastic_connections

    x = {"X": torch.zeros(3, 1, 16, dtype=torch.bool)}
    if native_plastic.native_status() != "loaded":
        pytest.skip(native_plastic.native_status())
    with_rules = plastic_connections(net)
    assert native_plastic.kernel_for(net, with_rules, x) is not None
    assert native_plastic.kernel_for(net, with_rules, x, want_v=True) is None


def test_present_returns_counts_and_learns():
    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=64, n_neurons=10, exc=30.0)
    w0 = _w(net).clone()
    x = torch.rand(100, 1, 64, generator=torch.Generator().manual_seed(3)) < 0.2
    counts = present(net, x)
    assert counts.shape == (1, 10) and counts.dtype == torch.int64 and int(counts.sum()) > 0
    assert not torch.equal(w0, _w(net))
    sums = _w(net).sum(0)  # norm 78.4 per excitatory neuron after the run
    torch.testing.assert_close(sums, torch.full_like(sums, 78.4), rtol=1e-5, atol=1e-4)


def _net(spec, seed, batch=1):
    """Input -> A (stock) -> B (stock), with a recurrent B -> A; the rule on one connection."""
    torch.manual_seed(seed)
    net = Network(dt=1.0)
    kinds = {"lif": LIFNodes, "adaptive": AdaptiveLIFNodes, "dc": DiehlAndCookNodes}
    net.add_layer(Input(n=spec["n_in"], traces=True, traces_additive=spec["additive"]), name="X")
    for name, kind, n in (("A", spec["a"], spec["n_a"]), ("B", spec["b"], spec["n_b"])):
        extra = {"one_spike": spec["one_spike"]} if kind == "dc" else {}
        net.add_layer(kinds[kind](n=n, traces=True, thresh=-60.0, **extra), name=name)
    rule = RULES[spec["rule"]]
    bounded = spec["rule"] == "wdpp" or spec["bounded"]
    kw = dict(wmin=-0.5, wmax=1.0) if bounded else {}
    red = torch.mean if spec["mean"] else None
    if red is None and batch > 1 and spec["rule"] in ("mstdp", "mstdpet", "wdpp"):
        red = torch.sum  # BindsNET picks torch.squeeze at batch size 1 (construction), which fails for 2
    plastic = Connection(
        net.layers["X"],
        net.layers["A"],
        w=torch.rand(spec["n_in"], spec["n_a"]) * 2.0,
        update_rule=rule,
        nu=spec["nu"],
        reduction=red,
        weight_decay=spec["wd"],
        norm=spec["norm"],
        zero_lag=spec["zero_lag"],
        **kw,
    )
    net.add_connection(plastic, "X", "A")
    net.add_connection(
        Connection(net.layers["A"], net.layers["B"], w=torch.rand(spec["n_a"], spec["n_b"]) * 6), "A", "B"
    )
    net.add_connection(Connection(net.layers["B"], net.layers["A"], w=-torch.rand(spec["n_b"], spec["n_a"])), "B", "A")
    return net


@settings(max_examples=int(os.environ.get("SNNSIM_HYPOTHESIS_EXAMPLES", "20")), deadline=None)
@given(
    spec=st.fixed_dictionaries(
        {
            "n_in": st.integers(1, 20),
            "n_a": st.integers(1, 8),
            "n_b": st.integers(1, 6),
            "a": st.sampled_from(["lif", "adaptive", "dc"]),
            "b": st.sampled_from(["lif", "adaptive", "dc"]),
            "one_spike": st.booleans(),
            "additive": st.booleans(),
            "rule": st.sampled_from(sorted(RULES)),
            "nu": st.tuples(st.sampled_from([0.0, 1e-3, 0.05]), st.sampled_from([0.0, 1e-2, 0.1])),
            "wd": st.sampled_from([0.0, 0.01]),
            "norm": st.sampled_from([None, 3.0]),
            "bounded": st.booleans(),
            "mean": st.booleans(),
            "zero_lag": st.booleans(),
        }
    ),
    batch=st.integers(1, 3),
    steps=st.integers(1, 30),
    runs=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    density=st.floats(0.05, 0.6),
    reward=st.sampled_from([0.5, -1.0, 2.0]),
)
def test_random_plastic_networks_agree(spec, batch, steps, runs, seed, density, reward):
    """Random topologies and rules: spikes equal; weights bit-identical for batch size 1, within
    float32 rounding of the batch sums otherwise (BLAS sums the batch in its own order)."""
    ref = _net(spec, seed, batch)
    fast = copy.deepcopy(ref)
    g = torch.Generator().manual_seed(seed)
    kw = {"reward": reward} if spec["rule"] in ("mstdp", "mstdpet") else {}
    for k in range(runs):
        x = torch.rand(steps, batch, spec["n_in"], generator=g) < density
        torch.manual_seed(k)
        a = simulate(ref, x.clone(), engine="bindsnet", learning=True, **kw)
        torch.manual_seed(k)
        b = simulate(fast, x.clone(), engine="fast", learning=True, **kw)
        for name in ("A", "B"):
            assert torch.equal(a.spikes[name], b.spikes[name]), (k, name)
    w_ref, w_fast = ref.connections[("X", "A")].w, fast.connections[("X", "A")].w
    if batch == 1:
        assert torch.equal(w_ref, w_fast)
    else:
        torch.testing.assert_close(w_fast, w_ref, rtol=1e-5, atol=1e-5)
    rule_ref, rule_fast = ref.connections[("X", "A")].update_rule, fast.connections[("X", "A")].update_rule
    for state in ("p_plus", "p_minus", "eligibility", "eligibility_trace"):  # reward rules' state on the rule
        if hasattr(rule_ref, state):
            torch.testing.assert_close(getattr(rule_fast, state), getattr(rule_ref, state), rtol=0, atol=0)
    for name in ("A", "B"):
        if hasattr(ref.layers[name], "theta"):
            assert torch.equal(ref.layers[name].theta, fast.layers[name].theta)


def _simple(rule=PostPre, nu=(0.1, 0.1), **kw):
    net = Network()
    net.add_layer(Input(n=4, traces=True, traces_additive=rule is DiehlAndCook), name="X")
    net.add_layer(LIFNodes(n=3, traces=True, thresh=-64.0), name="A")
    net.add_connection(Connection(net.layers["X"], net.layers["A"], update_rule=rule, nu=nu, **kw), "X", "A")
    return net


def test_bad_input_one_line():
    x = torch.ones(5, 1, 4, dtype=torch.bool)
    with pytest.raises(UserError, match="does not implement the learning rule DiehlAndCook"):
        simulate(_simple(DiehlAndCook, wmin=0.0, wmax=1.0), x, learning=True)
    with pytest.raises(UserError, match="reductions"):
        simulate(_simple(reduction=torch.max), x, learning=True)
    with pytest.raises(UserError, match="needs a reward"):
        simulate(_simple(MSTDP), x, learning=True)
    net = _simple()
    net.connections[("X", "A")].update_rule.nu = torch.tensor([0.0, 3e38])
    net.connections[("X", "A")].w.data.fill_(3e38)
    with pytest.raises(UserError, match="NaN or inf"):
        simulate(net, x, learning=True)
    for err in (UserError,):
        try:
            simulate(_simple(DiehlAndCook, wmin=0.0, wmax=1.0), x, learning=True)
        except err as e:
            assert "\n" not in str(e)


@pytest.mark.parametrize("native", ["1", "0"])
def test_present_without_learning_matches_network_run(native, monkeypatch):
    """present(learning=False) (labelling/evaluation): Network.run's spikes with learning off, no change."""
    monkeypatch.setenv("SNNSIM_NATIVE_PLASTIC", native)
    torch.manual_seed(0)
    net = DiehlAndCook2015(n_inpt=64, n_neurons=10, exc=30.0)
    net.layers["Ae"].theta += torch.rand(10)
    w0, th0 = _w(net).clone(), net.layers["Ae"].theta.clone()
    x = torch.rand(100, 1, 64, generator=torch.Generator().manual_seed(4)) < 0.2
    torch.manual_seed(7)
    ref = simulate(net, x.clone(), engine="bindsnet", learning=False).spikes["Ae"].sum(0)
    torch.manual_seed(7)
    counts = present(net, x, learning=False)
    assert torch.equal(counts, ref.long()) and int(counts.sum()) > 0
    assert torch.equal(_w(net), w0) and torch.equal(net.layers["Ae"].theta, th0)


def test_more_refusals_one_line():
    from bindsnet.network.topology import Conv2dConnection

    from snnsim.core.nodes import LIFNeurons

    x = torch.ones(5, 1, 4, dtype=torch.bool)
    net = Network()
    net.add_layer(Input(n=4, traces=True), name="X")
    net.add_layer(LIFNeurons(3), name="A")  # snnsim nodes: no traces, not stepped while learning
    net.add_connection(Connection(net.layers["X"], net.layers["A"], update_rule=MSTDP, nu=(0.1, 0.1)), "X", "A")
    with pytest.raises(UserError, match="cannot step with learning") as err:
        simulate(net, x, learning=True, reward=1.0)
    assert "\n" not in str(err.value)
    conv = Network()
    conv.add_layer(Input(shape=(1, 4, 4), traces=True), name="X")
    conv.add_layer(LIFNodes(shape=(2, 3, 3), traces=True), name="A")
    conv.add_connection(Conv2dConnection(conv.layers["X"], conv.layers["A"], kernel_size=2, norm=1.0), "X", "A")
    with pytest.raises(UserError, match="Conv2dConnection with a learning rule or norm"):
        simulate(conv, torch.ones(3, 1, 1, 4, 4, dtype=torch.bool), learning=True)


def test_diehl_cook_voltages_in_the_torch_loop():
    """Recording potentials takes the torch loop (the C kernel keeps none): still Network.run's."""
    torch.manual_seed(0)
    ref = DiehlAndCook2015(n_inpt=36, n_neurons=8, exc=30.0)
    fast = copy.deepcopy(ref)
    x = torch.rand(60, 1, 36, generator=torch.Generator().manual_seed(2)) < 0.2
    torch.manual_seed(3)
    a = simulate(ref, x.clone(), engine="bindsnet", learning=True, record_voltage=True)
    torch.manual_seed(3)
    b = simulate(fast, x.clone(), engine="fast", learning=True, record_voltage=True)
    for name in ("Ae", "Ai"):
        assert torch.equal(a.spikes[name], b.spikes[name]) and torch.equal(a.voltages[name], b.voltages[name])
    assert torch.equal(_w(ref), _w(fast))


def test_kernel_declines_what_it_does_not_model():
    net = DiehlAndCook2015(n_inpt=16, n_neurons=4)
    from snnsim.engine.plastic import plastic_connections

    x = {"X": torch.zeros(3, 1, 16, dtype=torch.bool)}
    net.layers["Ae"].sum_input = True
    assert native_plastic.kernel_for(net, plastic_connections(net), x) is None
    net.layers["Ae"].sum_input = False
    assert (
        native_plastic.kernel_for(net, plastic_connections(net), {"X": torch.zeros(3, 2, 16, dtype=torch.bool)}) is None
    )  # batch 2: the torch loop
