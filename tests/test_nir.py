"""NIR export/import round trips and refusals."""

import pytest
import torch

nir = pytest.importorskip("nir")

import networks  # noqa: E402
from snnsim.engine import simulate  # noqa: E402
from snnsim.nirgraph import from_nir, load_nir, save_nir, to_nir  # noqa: E402
from snnsim.spec import build_network  # noqa: E402
from tests.helpers import poisson_input, scale_weights  # noqa: E402

SPEC = {
    "dt": 1.0,
    "layers": [
        {"name": "input", "type": "input", "shape": [1, 12, 12]},
        {"name": "c1", "type": "if", "thresh": 0.8},
        {"name": "h", "type": "lif", "leak": 0.9},
        {"name": "out", "type": "integrator", "leak": 0.95},
    ],
    "connections": [
        {"source": "input", "target": "c1", "ops": [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "bias": True}]},
        {"source": "c1", "target": "h", "ops": [{"op": "avgpool2d", "kernel_size": 2}, {"op": "linear", "out_features": 20}]},
        {"source": "h", "target": "out", "ops": [{"op": "dropout", "p": 0.3}, {"op": "linear", "out_features": 5, "bias": True}]},
        {"source": "c1", "target": "out", "ops": [{"op": "linear", "out_features": 5}]},
    ],
}


def same_spikes(a, b, x):
    ra, rb = simulate(a, x, record_voltage=True), simulate(b, x, record_voltage=True)
    return all(torch.equal(ra.spikes[k], rb.spikes[k]) for k in ra.spikes) and torch.allclose(
        ra.voltages["out"], rb.voltages["out"], atol=1e-5)


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
    back = from_nir(graph)  # snnsim metadata restores the true reset
    assert back.layers["fc1"].params.reset == "subtract"


def _small(ops, **layer):
    return build_network({"layers": [{"name": "input", "type": "input", "shape": [1, 4, 4]},
                                     {"name": "a", "type": "if", **layer}],
                          "connections": [{"source": "input", "target": "a", "ops": ops}]})


@pytest.mark.parametrize("net, match", [
    (lambda: _small([{"op": "maxpool2d", "kernel_size": 2}]), "no NIR equivalent"),
    (lambda: _small([{"op": "conv2d", "out_channels": 2, "kernel_size": 3}, {"op": "batchnorm"}]), "no NIR equivalent"),
    (lambda: _small([{"op": "linear", "out_features": 3}], refrac=2), "refractory"),
    (lambda: _small([{"op": "linear", "out_features": 3}], reset="none"), "cannot express"),
])
def test_unsupported_refused(net, match):
    with pytest.raises(ValueError, match=match):
        to_nir(net())


def test_import_foreign_graph_without_metadata():
    w = torch.randn(3, 4).numpy()
    import numpy as np
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([4])}), "lin": nir.Linear(weight=w),
               "lif": nir.LIF(tau=np.full(3, 20.0), r=np.full(3, 20.0), v_leak=np.zeros(3),
                              v_threshold=np.ones(3), v_reset=np.zeros(3)),
               "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("in", "lin"), ("lin", "lif"), ("lif", "out")])
    net = from_nir(graph)
    assert net.layers["lif"].params.leak == pytest.approx(0.95)
    assert torch.allclose(net.connections[("in", "lif")].layers[0].weight, torch.as_tensor(w))
