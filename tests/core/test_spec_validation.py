"""Strict validation of network specs, network.json and ann.json (issue 15, item 5):
every refusal is a one-line UserError whose message names the field path."""

from __future__ import annotations

import json
import math

import pytest
import torch

from snnsim.core.io import SPEC_FILE, atomic_write_json, load_network, read_checkpoint, save_network, write_sealed
from snnsim.core.spec import build_network, network_spec
from snnsim.errors import UserError


def small_spec() -> dict:
    """input [1, 6, 6] -> conv (2x5x5) -> if -> avgpool + linear -> integrator [3]."""
    return {
        "dt": 1.0,
        "layers": [
            {"name": "input", "type": "input", "shape": [1, 6, 6]},
            {"name": "hidden", "type": "if", "thresh": 1.0},
            {"name": "out", "type": "integrator"},
        ],
        "connections": [
            {"source": "input", "target": "hidden", "ops": [{"op": "conv2d", "out_channels": 2, "kernel_size": 2}]},
            {
                "source": "hidden",
                "target": "out",
                "ops": [{"op": "avgpool2d", "kernel_size": 1}, {"op": "linear", "out_features": 3}],
            },
        ],
    }


def _set(path: tuple, value):
    def mutate(spec: dict) -> None:
        obj = spec
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return mutate


CASES = [
    (
        "typo_thresh",
        _set(("layers", 1, "treshold"), 5),
        r"layers\[1\]\.treshold: unknown key \(did you mean 'thresh'\?\)",
    ),
    ("dt_nan", _set(("dt",), math.nan), r"^invalid network spec: dt: must be a finite number"),
    ("dt_inf", _set(("dt",), math.inf), r"^invalid network spec: dt: must be a finite number"),
    (
        "float_shape",
        _set(("layers", 0, "shape"), [1.5, 2.7]),
        r"layers\[0\]\.shape\[0\]: must be of type integer, got 1\.5",
    ),
    (
        "kernel_size_0",
        _set(("connections", 0, "ops", 0, "kernel_size"), 0),
        r"connections\[0\]\.ops\[0\]\.kernel_size: must be >= 1, got 0",
    ),
    ("stride_0", _set(("connections", 1, "ops", 0, "stride"), 0), r"connections\[1\]\.ops\[0\]\.stride: must be >= 1"),
    ("refrac_float", _set(("layers", 1, "refrac"), 1.5), r"layers\[1\]\.refrac: must be of type integer, got 1\.5"),
    (
        "out_features_negative",
        _set(("connections", 1, "ops", 1, "out_features"), -1),
        r"connections\[1\]\.ops\[1\]\.out_features: must be >= 1, got -1",
    ),
    (
        "missing_required_op_param",
        lambda s: s["connections"][0]["ops"][0].pop("kernel_size"),
        r"connections\[0\]\.ops\[0\]\.kernel_size: required key is missing",
    ),
    ("unknown_connection_key", _set(("connections", 0, "weight"), 1.0), r"connections\[0\]\.weight: unknown key"),
    ("unknown_top_level_key", _set(("layerz",), []), r"layerz: unknown key \(did you mean 'layers'\?\)"),
    ("bool_for_number", _set(("layers", 1, "thresh"), True), r"layers\[1\]\.thresh: must be of type number, got True"),
    ("bad_reset", _set(("layers", 1, "reset"), "soft"), r"layers\[1\]\.reset: must be one of"),
]


@pytest.mark.parametrize("mutate, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_names_field_path(mutate, match):
    spec = small_spec()
    build_network(spec)  # the unmutated spec is fine
    mutate(spec)
    with pytest.raises(UserError, match=match) as info:
        build_network(spec)
    assert "\n" not in str(info.value)


def test_every_saved_spec_round_trips_through_the_schema():
    """network_spec() of every registered node type and op validates (the declarations
    cover everything config() writes)."""
    import networks

    for spec in (networks.scnn_spec(), small_spec()):
        again = network_spec(build_network(spec))
        assert network_spec(build_network(json.loads(json.dumps(again)))) == again


def _reseal(directory, mutate):
    """Rewrite a checkpoint's network.json after ``mutate(meta)``, sealed again (as a
    deliberately crafted file would be), keeping its weights."""
    meta, blobs = read_checkpoint(directory)
    body = {k: v for k, v in meta.items() if k not in ("files", "sha256")}
    mutate(body)
    write_sealed(directory / SPEC_FILE, body, blobs)


def test_weights_for_a_connection_that_does_not_exist_are_refused(tmp_path):
    spec = small_spec()
    spec["layers"].insert(2, {"name": "extra", "type": "if", "shape": [3]})
    spec["connections"].append({"source": "hidden", "target": "extra", "ops": [{"op": "linear", "out_features": 3}]})
    save_network(build_network(spec), tmp_path)

    def drop_extra(body):
        body["spec"]["layers"] = [lay for lay in body["spec"]["layers"] if lay["name"] != "extra"]
        body["spec"]["connections"] = [c for c in body["spec"]["connections"] if c["target"] != "extra"]

    _reseal(tmp_path, drop_extra)
    with pytest.raises(UserError, match=r"weights\.pt.*hidden->extra"):
        load_network(tmp_path)


def test_spec_inside_network_json_is_validated_with_path(tmp_path):
    save_network(build_network(small_spec()), tmp_path)
    _reseal(tmp_path, lambda body: body["spec"]["layers"][1].update(treshold=5))
    with pytest.raises(UserError, match=r"layers\[1\]\.treshold: unknown key"):
        load_network(tmp_path)


def test_deeply_nested_json_is_a_clean_error(tmp_path):
    (tmp_path / SPEC_FILE).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(UserError, match=rf"{SPEC_FILE}.*nested too deeply") as info:
        load_network(tmp_path)
    assert "\n" not in str(info.value)


def test_binary_network_json_names_the_file(tmp_path):
    (tmp_path / SPEC_FILE).write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match=rf"{tmp_path / SPEC_FILE}"):
        load_network(tmp_path)


def test_json_writer_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="JSON compliant"):
        atomic_write_json(tmp_path / "report.json", {"dt": math.nan})
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("treshold", 1, r"ann\.json: treshold: unknown key"),
        ("input_shape", [1.5, 28, 28], r"ann\.json: input_shape\[0\]: must be of type integer"),
        ("dropout", 1.0, r"ann\.json: dropout: must be < 1, got 1.0"),
        ("n_classes", 1, r"ann\.json: n_classes: must be >= 2"),
        ("net", "resnet", r"ann\.json: net: must be one of"),
    ],
)
def test_bad_ann_json_names_field_path(tmp_path, key, value, match):
    from snnsim.training.ann import ANN_CONFIG, ANN_WEIGHTS, ann_fc, load_ann, save_ann

    save_ann(ann_fc(hidden=(4,)), directory=tmp_path)
    cfg = json.loads((tmp_path / ANN_CONFIG).read_text())
    body = {k: v for k, v in cfg.items() if k not in ("files", "sha256")}
    body[key] = value
    write_sealed(tmp_path / ANN_CONFIG, body, {ANN_WEIGHTS: (tmp_path / ANN_WEIGHTS).read_bytes()})
    with pytest.raises(UserError, match=match):
        load_ann(tmp_path)


def test_register_op_declaration_must_match_builder():
    from snnsim.core.ops import register_op

    def builder(shape, width: int):
        return torch.nn.Identity(), list(shape)

    with pytest.raises(ValueError, match="declared parameters"):
        register_op("test_undeclared", builder, {})


def test_register_op_and_node_refuse_a_clash_unless_replace():
    """register_op and register_node behave alike: a name taken by another builder/class is
    refused (register_op used to overwrite silently); replace=True overrides."""
    from snnsim.core.nodes import NODE_PARAMS, NODE_TYPES, IFNeurons, LIFNeurons, register_node
    from snnsim.core.ops import OP_PARAMS, OPS, register_op

    def builder(shape):
        return torch.nn.Identity(), list(shape)

    old_op, old_params = OPS["flatten"], OP_PARAMS["flatten"]
    with pytest.raises(ValueError, match="already registered"):
        register_op("flatten", builder, {})
    assert OPS["flatten"] is old_op
    register_op("flatten", old_op, old_params)  # the same builder again: fine
    kind = IFNeurons.kind
    old_cls, old_nparams = NODE_TYPES[kind], NODE_PARAMS[kind]
    with pytest.raises(ValueError, match="already registered"):
        register_node(kind, LIFNeurons, {})
    try:
        register_op("flatten", builder, {}, replace=True)
        assert OPS["flatten"] is builder
        register_node(kind, LIFNeurons, {}, replace=True)
        assert NODE_TYPES[kind] is LIFNeurons
    finally:
        register_op("flatten", old_op, old_params, replace=True)
        register_node(kind, old_cls, old_nparams, replace=True)
