"""NIR import/export of CubaLIF/CubaLI, SumPool2d, Scale, Threshold and recurrent edges, each
checked against a direct forward-Euler integration of the NIR equations (float64)."""

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from snnsim.core.spec import build_network
from snnsim.engine import simulate
from snnsim.nir.graph import from_nir, load_nir, save_nir, to_nir
from tests.helpers import assert_engines_agree, poisson_input, scale_weights


def _f64(a):
    return torch.as_tensor(np.asarray(a, np.float32), dtype=torch.float64)


def _graph(nodes, edges, **kw):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, **kw)


def _same(a, b, x):
    ra, rb = simulate(a, x, record_voltage=True), simulate(b, x, record_voltage=True)
    assert all(torch.equal(ra.spikes[k], rb.spikes[k]) for k in ra.spikes)
    for k in ra.voltages:
        assert torch.allclose(ra.voltages[k], rb.voltages[k], atol=1e-5), k
    return ra


def test_cubalif_and_cubali_follow_the_nir_ode():
    """I <- I + dt/tau_syn (-I + w_in W S); v <- v + dt/tau_mem (v_leak - v + r I) with the new I;
    z = v > thr, v <- v_reset; CubaLI the same without spikes. Per-neuron values, r and w_in != 1."""
    dt, n = 0.5, 3
    ts, tm = np.array([2.0, 4.0, 1.5]), np.array([5.0, 8.0, 3.0])
    r, w_in = np.array([2.0, 0.5, 1.5]), np.array([1.0, 3.0, 0.7])
    thr, v_reset = np.array([0.6, 0.4, 0.8]), np.array([0.1, -0.1, 0.0])
    f32 = lambda a: np.asarray(a, np.float32)
    w = torch.rand(n, 6, generator=torch.Generator().manual_seed(0)).numpy() * 0.8
    w2 = torch.rand(2, n, generator=torch.Generator().manual_seed(1)).numpy() - 0.3
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([6])}),
            "lin": nir.Linear(weight=w),
            "cuba": nir.CubaLIF(
                tau_syn=f32(ts),
                tau_mem=f32(tm),
                r=f32(r),
                v_leak=f32([0, 0, 0]),
                v_threshold=f32(thr),
                v_reset=f32(v_reset),
                w_in=f32(w_in),
            ),
            "lin2": nir.Linear(weight=w2),
            "li": nir.CubaLI(tau_syn=f32([3.0, 2.0]), tau_mem=f32([6.0, 10.0]), r=f32([1.0, 2.0]), v_leak=f32([0, 0])),
            "out": nir.Output(output_type={"output": np.array([2])}),
        },
        [("in", "lin"), ("lin", "cuba"), ("cuba", "lin2"), ("lin2", "li"), ("li", "out")],
    )
    net = from_nir(g, dt=dt)
    assert net.layers["cuba"].kind == "cuba_lif" and net.layers["li"].kind == "cuba_li"
    x = poisson_input((60, 2, 6), 0.5)
    rec = simulate(net, x, record_voltage=True)
    i, v = torch.zeros(2, n, dtype=torch.float64), _f64(v_reset).expand(2, n).clone()
    i2, v2 = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    for t in range(x.shape[0]):
        i = i + dt / _f64(ts) * (-i + _f64(w_in) * (x[t].double() @ _f64(w).T))
        v = v + dt / _f64(tm) * (-v + _f64(r) * i)
        z = v > _f64(thr)
        v = torch.where(z, _f64(v_reset).expand_as(v), v)
        assert torch.equal(rec.spikes["cuba"][t], z), t
        assert torch.allclose(rec.voltages["cuba"][t].double(), v, atol=1e-5)
        i2 = i2 + dt / _f64([3.0, 2.0]) * (-i2 + z.double() @ _f64(w2).T)
        v2 = v2 + dt / _f64([6.0, 10.0]) * (-v2 + _f64([1.0, 2.0]) * i2)
        assert torch.allclose(rec.voltages["li"][t].double(), v2, atol=1e-5)
    assert rec.spikes["cuba"].sum() > 5 and not rec.spikes["cuba"].all()


SPEC = {
    "dt": 1.0,
    "layers": [
        {"name": "in", "type": "input", "shape": [1, 8, 8]},
        {"name": "c", "type": "cuba_lif", "syn_leak": 0.7, "leak": 0.9, "thresh": 0.5, "v_reset": 0.05},
        {"name": "g", "type": "threshold", "thresh": 0.2},
        {"name": "out", "type": "cuba_li", "syn_leak": 0.6, "leak": 0.8},
    ],
    "connections": [
        {"source": "in", "target": "c", "ops": [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1}]},
        {
            "source": "c",
            "target": "g",
            "ops": [{"op": "sumpool2d", "kernel_size": 2}, {"op": "scale"}, {"op": "linear", "out_features": 6}],
        },
        {"source": "g", "target": "out", "ops": [{"op": "linear", "out_features": 3, "bias": True}]},
        {"source": "c", "target": "c", "ops": [{"op": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1}]},
        {"source": "out", "target": "g", "ops": [{"op": "linear", "out_features": 6}]},
    ],
}


@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_round_trip_cuba_threshold_pools_and_recurrent_edges(tmp_path, dt):
    """Every new node and op, a self-connection and a backward connection: file round trip,
    same spikes; nodes are NIR's own types."""
    net = scale_weights(build_network({**SPEC, "dt": dt}), 0.6, seed=2)
    with torch.no_grad():
        net.connections[("c", "g")].layers[1].weight.copy_(torch.linspace(0.5, 2.0, 48).reshape(3, 4, 4))
    graph = to_nir(net)
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"CubaLIF", "CubaLI", "Threshold", "SumPool2d", "Scale"} <= kinds
    assert ("c__g__0", "c__g__1") in graph.edges and ("out__g__0", "g") in graph.edges
    back = load_nir(save_nir(net, tmp_path / "cuba.nir"))
    assert list(back.layers) == list(net.layers) and set(back.connections) == set(net.connections)
    x = poisson_input((30, 2, 1, 8, 8), 0.4)
    rec = _same(net, back, x)
    assert rec.spikes["c"].any() and rec.spikes["g"].any() and not rec.spikes["g"].all()
    assert_engines_agree(back, x)


def test_sumpool_scale_threshold_follow_nir():
    """SumPool2d sums each window, Scale multiplies per feature, Threshold is z = x > thr
    with no memory (a foreign graph, checked against numpy/torch directly)."""
    scale = np.linspace(0.2, 1.2, 8).astype(np.float32).reshape(2, 2, 2)
    thr = np.array([0.5, 1.0, 1.5, 2.0, 0.0, 0.5, 1.0, 2.5], np.float32).reshape(2, 2, 2)
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([2, 4, 4])}),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "s": nir.Scale(scale=scale),
            "z": nir.Threshold(threshold=thr),
            "out": nir.Output(output_type={"output": np.array([2, 2, 2])}),
        },
        [("in", "pool"), ("pool", "s"), ("s", "z"), ("z", "out")],
    )
    net = from_nir(g)  # no neuron with a time constant: no dt needed
    x = poisson_input((20, 3, 2, 4, 4), 0.5)
    rec = simulate(net, x)
    summed = x.float().reshape(20, 3, 2, 2, 2, 2, 2).sum((4, 6))
    expect = summed * torch.as_tensor(scale) > torch.as_tensor(thr)
    assert torch.equal(rec.spikes["z"], expect) and expect.any() and not expect.all()


def test_nir_cycle_is_a_one_step_delay():
    """A cycle LIF -> Linear -> LIF (snnTorch's RLeaky export) imports as a recurrent
    connection delivering the previous step's spikes: checked against the Euler ODE with
    I[t] = W x[t] + V z[t-1]."""
    n, dt = 4, 1.0
    gen = torch.Generator().manual_seed(5)
    w, vrec = torch.rand(n, 3, generator=gen).numpy(), (torch.rand(n, n, generator=gen).numpy() - 0.5)
    one = np.ones(n, np.float32)
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([3])}),
            "w": nir.Linear(weight=w),
            "lif": nir.LIF(tau=5 * one, r=5 * one, v_leak=0 * one, v_threshold=one),
            "v": nir.Linear(weight=vrec),
            "out": nir.Output(output_type={"output": np.array([n])}),
        },
        [("in", "w"), ("w", "lif"), ("lif", "v"), ("v", "lif"), ("lif", "out")],
    )
    net = from_nir(g, dt=dt)
    assert set(net.connections) == {("in", "lif"), ("lif", "lif")}
    x = poisson_input((40, 2, 3), 0.5)
    rec = assert_engines_agree(net, x)
    v, z = torch.zeros(2, n, dtype=torch.float64), torch.zeros(2, n, dtype=torch.bool)
    for t in range(x.shape[0]):
        current = x[t].double() @ _f64(w).T + z.double() @ _f64(vrec).T
        v = v + dt / 5.0 * (-v + 5.0 * current)
        z = v > 1.0
        v = torch.where(z, torch.zeros_like(v), v)
        assert torch.equal(rec.spikes["lif"][t], z), t
    assert rec.spikes["lif"].any()
