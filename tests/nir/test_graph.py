"""NIR export/import round trips and refusals."""

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

import networks
from snnsim.core.spec import build_network
from snnsim.engine import simulate
from snnsim.errors import UserError
from snnsim.nir.graph import from_nir, load_nir, save_nir, to_nir
from tests.helpers import poisson_input, scale_weights

SPEC = {
    "dt": 1.0,
    "layers": [
        {"name": "input", "type": "input", "shape": [1, 12, 12]},
        {"name": "c1", "type": "if", "thresh": 0.8},
        {"name": "h", "type": "lif", "leak": 0.9},
        {"name": "out", "type": "integrator", "leak": 0.95},
    ],
    "connections": [
        {
            "source": "input",
            "target": "c1",
            "ops": [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "bias": True}],
        },
        {
            "source": "c1",
            "target": "h",
            "ops": [{"op": "avgpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 20}],
        },
        {
            "source": "h",
            "target": "out",
            "ops": [{"op": "dropout", "p": 0.3}, {"op": "linear", "out_features": 5, "bias": True}],
        },
        {"source": "c1", "target": "out", "ops": [{"op": "linear", "out_features": 5}]},
    ],
}


def same_spikes(a, b, x):
    ra, rb = simulate(a, x, record_voltage=True), simulate(b, x, record_voltage=True)
    return all(torch.equal(ra.spikes[k], rb.spikes[k]) for k in ra.spikes) and torch.allclose(
        ra.voltages["out"], rb.voltages["out"], atol=1e-5
    )


def test_round_trip_file_same_spikes(tmp_path):
    net = scale_weights(build_network(SPEC), 0.7)
    net.train(False)
    path = save_nir(net, tmp_path / "net.nir")
    back = load_nir(path)
    assert list(back.layers) == list(net.layers)
    x = poisson_input((20, 3, 1, 12, 12), 0.4)
    assert same_spikes(net, back, x)
    rec = simulate(net, x)
    assert rec.spikes["c1"].any() and rec.spikes["h"].any()


def test_graph_uses_standard_nir_nodes():
    graph = to_nir(build_network(SPEC))
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Input", "IF", "LIF", "LI", "Conv2d", "AvgPool2d", "Flatten", "Linear", "Affine", "Output"} <= kinds
    lif = graph.nodes["h"]
    # forward Euler: leak = 1 - dt / tau, and r = tau / dt makes the input gain 1
    assert float(lif.tau[0]) == pytest.approx(10.0) and float(lif.r[0]) == pytest.approx(10.0)


def test_subtract_reset_refused_or_warned():
    net = networks.fc([6, 4, 2], reset="subtract")
    with pytest.raises(ValueError, match="subtraction"):
        to_nir(net)
    with pytest.warns(UserWarning, match="reset to zero"):
        graph = to_nir(net, subtract_reset="warn")
    assert float(graph.nodes["fc1"].v_reset[0]) == 0.0
    back = from_nir(graph)  # the file means reset to zero to every reader, snnsim included
    assert back.layers["fc1"].params.reset == "zero"


def _small(ops, **layer):
    return build_network(
        {
            "layers": [{"name": "input", "type": "input", "shape": [1, 4, 4]}, {"name": "a", "type": "if", **layer}],
            "connections": [{"source": "input", "target": "a", "ops": ops}],
        }
    )


@pytest.mark.parametrize(
    "net, match",
    [
        (lambda: _small([{"op": "maxpool2d", "kernel_size": 2}]), "no NIR equivalent"),
        (
            lambda: _small([{"op": "conv2d", "out_channels": 2, "kernel_size": 3}, {"op": "batchnorm"}]),
            "no NIR equivalent",
        ),
        (lambda: _small([{"op": "linear", "out_features": 3}], refrac=2), "refractory"),
        (lambda: _small([{"op": "linear", "out_features": 3}], reset="none"), "cannot express"),
    ],
)
def test_unsupported_refused(net, match):
    with pytest.raises(ValueError, match=match):
        to_nir(net())


def test_import_foreign_graph_without_metadata():
    w = torch.randn(3, 4).numpy()
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([4])}),
            "lin": nir.Linear(weight=w),
            "lif": nir.LIF(
                tau=np.full(3, 20.0),
                r=np.full(3, 20.0),
                v_leak=np.zeros(3),
                v_threshold=np.ones(3),
                v_reset=np.zeros(3),
            ),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("in", "lin"), ("lin", "lif"), ("lif", "out")],
    )
    with pytest.raises(UserError, match=r"no time step.*'lif'.*dt="):
        from_nir(graph)
    net = from_nir(graph, dt=1.0)
    assert net.layers["lif"].params.leak == pytest.approx(0.95)
    assert torch.allclose(net.connections[("in", "lif")].layers[0].weight, torch.as_tensor(w))


# --- exact import: nothing dropped, every parameter honoured --------------------------------
def _lif(n, tau=20.0, r=20.0, v_leak=0.0, thr=1.0, v_reset=0.0):
    full = lambda x: np.broadcast_to(np.asarray(x, dtype=np.float32), (n,)).copy()
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(thr), v_reset=full(v_reset))


def _cuba(n):
    one = np.ones(n, dtype=np.float32)
    return nir.CubaLIF(tau_syn=5 * one, tau_mem=10 * one, r=one, v_leak=0 * one, v_threshold=one)


def _graph(nodes, edges, **kw):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, **kw)


def test_issue_graphs_with_cubalif_now_import_whole():
    """The issue's graphs: Input->Linear->LIF->Linear->CubaLIF->Output imports node for node
    (it used to lose its CubaLIF silently); an all-CubaLIF graph without ops is refused."""
    w1, w2 = np.ones((3, 4), np.float32), np.ones((2, 3), np.float32)
    mixed = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([4])}),
            "l1": nir.Linear(weight=w1),
            "lif": _lif(3),
            "l2": nir.Linear(weight=w2),
            "cuba": _cuba(2),
            "out": nir.Output(output_type={"output": np.array([2])}),
        },
        [("in", "l1"), ("l1", "lif"), ("lif", "l2"), ("l2", "cuba"), ("cuba", "out")],
    )
    net = from_nir(mixed, dt=1.0)
    assert list(net.layers) == ["in", "lif", "cuba"] and net.layers["cuba"].kind == "cuba_lif"
    assert net.layers["cuba"].params.syn_leak == pytest.approx(0.8)
    all_cuba = _graph(
        {"in": nir.Input(input_type={"input": np.array([2])}), "c1": _cuba(2), "c2": _cuba(2)},
        [("in", "c1"), ("c1", "c2")],
    )
    with pytest.raises(UserError, match="joins two neuron nodes directly"):
        from_nir(all_cuba, dt=1.0)


def test_delay_refused_by_name():
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([3])}),
            "odd": nir.Delay(delay=np.ones(3, np.float32)),
            "lif": _lif(3),
        },
        [("in", "odd"), ("odd", "lif")],
    )
    with pytest.raises(UserError, match="NIR node 'odd' of type Delay"):
        from_nir(g, dt=1.0)


def test_cuba_v_leak_refused():
    one = np.ones(2, np.float32)
    node = nir.CubaLIF(tau_syn=5 * one, tau_mem=10 * one, r=one, v_leak=0.5 * one, v_threshold=one)
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([2])}),
            "lin": nir.Linear(weight=np.eye(2, dtype=np.float32)),
            "c": node,
        },
        [("in", "lin"), ("lin", "c")],
    )
    with pytest.raises(UserError, match="'c' .*v_leak"):
        from_nir(g, dt=1.0)


def test_per_neuron_thresholds_kept_and_engines_agree():
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([1])}),
            "lin": nir.Linear(weight=np.ones((2, 1), np.float32)),
            "if": nir.IF(r=np.ones(2, np.float32), v_threshold=np.array([1.0, 5.0], np.float32)),
        },
        [("in", "lin"), ("lin", "if")],
    )
    net = from_nir(g, dt=1.0)
    thresh = net.layers["if"].params.thresh
    assert isinstance(thresh, torch.Tensor) and thresh.tolist() == pytest.approx([1.0, 5.0])
    x = torch.ones(12, 1, 1)
    fast, ref = simulate(net, x), simulate(net, x, engine="bindsnet")
    assert torch.equal(fast.spikes["if"], ref.spikes["if"])
    # NIR: fires when v > thr, v grows by 1 per step: neuron 0 at v = 2, neuron 1 at v = 6
    assert fast.spikes["if"][:, 0].sum(0).tolist() == [6, 2]
    assert build_network(
        {
            "layers": [
                {"name": "a", "type": "input", "shape": [2]},
                {"name": "b", "type": "lif", "shape": [2], "thresh": [1.0, 5.0]},
            ]
        }
    ).layers["b"].config()["thresh"] == [1.0, 5.0]


def test_r_v_leak_v_reset_follow_the_nir_ode():
    """A LIF with r != 1, v_leak != 0, v_reset != 0, per-neuron tau simulates as the forward-Euler
    step of tau dv/dt = (v_leak - v) + r I with z = v > thr (integrated here directly)."""
    dt, n = 0.5, 3
    tau, r = np.array([5.0, 8.0, 4.0]), np.array([2.0, 0.5, 3.0])
    v_leak, thr, v_reset = np.array([0.3, -0.2, 0.1]), np.array([1.0, 0.4, 1.5]), np.array([0.2, -0.1, 0.0])
    w = torch.randn(n, 4, generator=torch.Generator().manual_seed(0)).abs().numpy() * 0.8
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([4])}),
            "lin": nir.Linear(weight=w),
            "lif": _lif(n, tau, r, v_leak, thr, v_reset),
        },
        [("in", "lin"), ("lin", "lif")],
    )
    net = from_nir(g, dt=dt)
    x = poisson_input((60, 2, 4), 0.5)
    rec = simulate(net, x, record_voltage=True)
    v = torch.as_tensor(v_reset, dtype=torch.float64).expand(2, n).clone()  # snnsim starts at v_reset
    f64 = lambda a: torch.as_tensor(np.asarray(a, np.float32), dtype=torch.float64)
    for t in range(x.shape[0]):
        current = x[t].double() @ f64(w).T
        v = v + dt / f64(tau) * (f64(v_leak) - v + f64(r) * current)
        z = v > f64(thr)
        v = torch.where(z, f64(v_reset).expand_as(v), v)
        assert torch.equal(rec.spikes["lif"][t], z), t
        assert torch.allclose(rec.voltages["lif"][t].double(), v, atol=1e-5)
    assert rec.spikes["lif"].sum() > 5


def test_threshold_convention_exact():
    net = build_network(
        {
            "dt": 1.0,
            "layers": [{"name": "in", "type": "input", "shape": [1]}, {"name": "a", "type": "if", "thresh": 0.8}],
            "connections": [{"source": "in", "target": "a", "ops": [{"op": "linear", "out_features": 1}]}],
        }
    )
    with torch.no_grad():
        net.connections[("in", "a")].layers[0].weight.fill_(0.4)
    v_thr = np.float32(to_nir(net).nodes["a"].v_threshold[0])
    assert v_thr < np.float32(0.8) and np.nextafter(v_thr, np.float32(1)) == np.float32(0.8)
    back = from_nir(to_nir(net))
    x = torch.ones(4, 1, 1)  # v reaches 0.8 (float32) exactly at step 2: fires under both readings
    assert torch.equal(simulate(back, x).spikes["a"], simulate(net, x).spikes["a"])
    assert simulate(net, x).spikes["a"][1].all()


@pytest.mark.parametrize("dt", [0.5, 1e-4])
def test_if_and_integrator_round_trip_at_dt(tmp_path, dt):
    net = scale_weights(networks.fc([10, 8, 3], neuron="if", output="integrator"), 1.0)
    net.dt = dt
    graph = to_nir(net)
    assert float(graph.nodes["fc1"].r[0]) == pytest.approx(1 / dt)  # Euler: v += dt * r * I, gain 1
    back = load_nir(save_nir(net, tmp_path / "if.nir"))
    assert back.dt == pytest.approx(dt)
    x = poisson_input((25, 2, 10), 0.5)
    ra, rb = simulate(net, x, record_voltage=True), simulate(back, x, record_voltage=True)
    assert all(torch.equal(ra.spikes[k], rb.spikes[k]) for k in ra.spikes) and ra.spikes["fc1"].any()
    assert torch.allclose(ra.voltages[list(ra.voltages)[-1]], rb.voltages[list(rb.voltages)[-1]], atol=1e-5)


def test_save_with_target_dt_read_from_metadata(tmp_path):
    net = networks.fc([6, 4, 2], neuron="lif", leak=0.9)
    path = save_nir(net, tmp_path / "lif.nir", dt=1e-4)
    graph = nir.read(str(path))
    assert float(graph.metadata["dt"]) == pytest.approx(1e-4)
    assert float(graph.nodes["fc1"].tau[0]) == pytest.approx(1e-3)  # tau = dt / (1 - leak)
    back = load_nir(path)
    assert back.dt == pytest.approx(1e-4) and back.layers["fc1"].params.leak == 0.9
    assert load_nir(path, dt=2e-4, type_check=False).layers["fc1"].params.leak == pytest.approx(0.8, abs=1e-6)
