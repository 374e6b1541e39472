"""Network specs, builders and save/load."""

import json

import pytest
import torch

import networks
from snnsim.core.io import load_network, save_network
from snnsim.core.nodes import IFNeurons, Integrator, LIFNeurons
from snnsim.core.spec import build_network, network_spec
from snnsim.engine import simulate
from tests.helpers import poisson_input, scale_weights


def test_builders_layer_shapes():
    shapes = lambda net: {k: tuple(v.shape) for k, v in net.layers.items()}
    assert shapes(networks.diehl_fc()) == {"input": (1, 28, 28), "fc1": (1200,), "fc2": (1200,), "out": (10,)}
    assert shapes(networks.scnn()) == {"input": (1, 28, 28), "conv1": (12, 24, 24), "conv2": (64, 8, 8), "out": (10,)}
    lenet = networks.lenet(pool_layers=True)
    assert shapes(lenet) == {
        "input": (1, 28, 28),
        "conv1": (20, 24, 24),
        "pool1": (20, 12, 12),
        "conv2": (50, 8, 8),
        "pool2": (50, 4, 4),
        "fc1": (200,),
        "out": (10,),
    }
    assert lenet.layers["pool1"].params.thresh == 0.75
    assert isinstance(networks.fc([4, 3], output="integrator").layers["out"], Integrator)
    assert isinstance(networks.fc([4, 3, 2], neuron="lif", leak=0.9).layers["fc1"], LIFNeurons)


def test_weights_are_registered_torch_parameters():
    net = networks.diehl_fc()
    lin = net.connections[("input", "fc1")].layers[0]
    assert lin.weight.shape == (1200, 784)
    params = {id(p) for p in net.parameters()}
    assert id(lin.weight) in params
    assert "input_to_fc1.layers.0.weight" in net.state_dict()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(sizes=[5]), "at least two"),
        (dict(sizes=[4, 3], input_shape=(1, 5)), "input_shape"),
        (dict(sizes=[4, 3], neuron="izh"), "neuron"),
        (dict(sizes=[4, 3], output="softmax"), "output"),
    ],
)
def test_builder_bad_args(kw, match):
    with pytest.raises(ValueError, match=match):
        networks.fc(**kw)


def test_build_unknown_network():
    with pytest.raises(ValueError, match="known"):
        networks.build("resnet1000")


def test_spec_round_trip_and_shape_inference():
    spec = networks.lenet_spec(reset="subtract")
    assert "shape" not in spec["layers"][1]  # inferred from ops
    net = build_network(spec)
    again = network_spec(net)
    assert again["layers"][1]["shape"] == [20, 24, 24]
    assert network_spec(build_network(again)) == again
    json.dumps(again)  # JSON-ready


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda s: s["layers"].append({"name": "input", "type": "if", "shape": [2]}), "unique"),
        (lambda s: s["layers"][1].update(type="hh"), "unknown type"),
        (lambda s: s["connections"][0].update(target="nowhere"), "not a layer"),
        (lambda s: s["connections"][0]["ops"][0].update(op="conv3d"), "unknown op"),
        (
            lambda s: s["connections"][0]["ops"][0].update(kernel=3),
            r"ops\[0\]\.kernel: unknown key \(did you mean 'kernel_size'\?\)",
        ),
        (lambda s: s["layers"][-1].update(shape=[7]), "target layer has shape"),
        (lambda s: s["layers"][1].update(thresh=-1.0), "thresh"),
        (lambda s: s.update(layers=[]), "non-empty"),
    ],
)
def test_bad_specs(mutate, match):
    spec = networks.scnn_spec()
    mutate(spec)
    with pytest.raises(ValueError, match=match):
        build_network(spec)


def test_save_load_round_trip_same_spikes(tmp_path):
    net = scale_weights(networks.scnn(reset="subtract", bias=True), 0.3)
    save_network(net, tmp_path / "ckpt", extra={"net": "scnn"})
    loaded = load_network(tmp_path / "ckpt")
    for key, value in net.state_dict().items():
        if "layers" in key:
            assert torch.equal(value, loaded.state_dict()[key]), key
    x = poisson_input((20, 2, 1, 28, 28), 0.3)
    a, b = simulate(net, x), simulate(loaded, x)
    assert all(torch.equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
    assert isinstance(loaded.layers["conv1"], IFNeurons) and loaded.layers["conv1"].params.reset == "subtract"


def test_load_refuses_corrupt_or_missing(tmp_path):
    net = networks.fc([6, 4, 2])
    d = save_network(net, tmp_path / "c")
    blob = (d / "weights.pt").read_bytes()
    (d / "weights.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="checksum"):
        load_network(d)
    (d / "network.json").write_text('{"format": "snnsim-network", "vers')
    with pytest.raises(ValueError, match="JSON"):
        load_network(d)
    with pytest.raises(FileNotFoundError, match="network.json"):
        load_network(tmp_path / "missing")
    meta = {"format": "snnsim-network", "version": 99}
    (d / "network.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="version"):
        load_network(d)


def test_save_leaves_no_temporary_files(tmp_path):
    save_network(networks.fc([6, 4, 2]), tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["network.json", "weights.pt"]
