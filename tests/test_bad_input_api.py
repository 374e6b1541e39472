"""Bad input to the Python API (issue 15, item 7): every case raises TypeError or ValueError,
as snnsim's own :class:`~snnsim.errors.UserError`/``UserTypeError`` (so the CLI answers it with
one line), with a one-line message that names the argument."""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

import analysis
import encoders
import networks
from snnsim.core.io import load_network, save_network
from snnsim.core.spec import build_network
from snnsim.data.datasets import Split, load_dataset
from snnsim.data.events import read_nmnist_bin, read_shd_h5
from snnsim.data.idx import read_idx
from snnsim.engine import simulate
from snnsim.errors import UserError, UserTypeError
from snnsim.limits import check_allocation
from snnsim.methods.conversion import convert
from snnsim.training import get_rule
from snnsim.training.ann import build_ann, load_ann, save_ann, train_ann
from snnsim.training.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

NET = networks.fc([16, 8, 4], input_shape=(1, 4, 4))
X = torch.rand(3, 2, 1, 4, 4) < 0.5
ANN = build_ann("fc", input_shape=(1, 4, 4), n_classes=4, hidden=(8,))
SPLIT = Split(torch.rand(8, 1, 4, 4), torch.randint(0, 4, (8,)))
IMG = torch.rand(2, 1, 4, 4)
REC = simulate(NET, X, record_voltage=True)
LONG = torch.zeros(3, dtype=torch.long)


def _zeros(*shape: int, **kw: Any) -> torch.Tensor:
    return torch.zeros(*shape, **kw)


# --- issue 30: names, ranges, sizes, non-finite numbers, files that are not files -----------
_TMP = Path(tempfile.mkdtemp(prefix="snnsim-bad-api-"))
atexit.register(shutil.rmtree, _TMP, True)


def _spec(name: str = "out", **params: Any) -> dict[str, Any]:
    return {
        "layers": [{"name": "input", "type": "input", "shape": [4]}, {"name": name, "type": "lif", **params}],
        "connections": [{"source": "input", "target": name, "ops": [{"op": "linear", "out_features": 3}]}],
    }


def _many(n_layers: int = 0, n_conns: int = 0) -> dict[str, Any]:
    spec = _spec()
    spec["layers"] += [{"name": f"x{i}", "type": "if", "shape": [1]} for i in range(n_layers)]
    spec["connections"] += [spec["connections"][0]] * n_conns
    return spec


def _poisoned(value: float, where: str = "weight") -> Any:
    """A copy of NET (or of ANN) with one weight (or a threshold) set to ``value``."""
    if where == "ann":
        ann = copy.deepcopy(ANN)
        with torch.no_grad():
            next(ann.parameters()).view(-1)[0] = value
        return ann
    net = copy.deepcopy(NET)
    if where == "thresh":
        net.layers["out"].params = net.layers["out"].params._replace(thresh=value)
        return net
    with torch.no_grad():
        next(iter(net.connections.values())).layers[0].weight.view(-1)[0] = value
    return net


def _renamed(name: str) -> Any:
    """NET with its output layer renamed (BindsNET takes any name torch's add_module takes)."""
    net = copy.deepcopy(NET)
    net.layers[name] = net.layers.pop("out")
    net.connections = {(s, name if t == "out" else t): c for (s, t), c in net.connections.items()}
    return net


def _file(name: str, make: Callable[[Path], object]) -> Path:
    path = _TMP / name
    if not path.exists() and not path.is_symlink():
        make(path)
    return path


def _saved(name: str, change: Callable[[Path], object]) -> Path:
    """A saved copy of NET in _TMP/name after ``change(directory)``."""
    path = _TMP / name
    if not path.exists():
        save_network(NET, path)
        change(path)
    return path


def _nir(name: str, change: Callable[[Path], object]) -> Path:
    from snnsim.nir import save_nir

    path = _TMP / name
    if not path.exists():
        save_nir(NET, path, dt=1.0)
        change(path)
    return path


def _cut_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _unknown_type(path: Path) -> None:
    import h5py

    with h5py.File(path, "r+") as fh:
        node = [k for k in fh["node/nodes"] if k.startswith("out")][0]
        del fh[f"node/nodes/{node}/type"]
        fh[f"node/nodes/{node}/type"] = "Hodgkin"


#: (id, call, exception type, a word the message must contain: the argument's name)
CASES: list[tuple[str, Callable[[], object], type, str]] = [
    # --- snnsim.engine.simulate --------------------------------------------------------
    ("simulate-none-network", lambda: simulate(None, X), TypeError, "network"),
    ("simulate-str-network", lambda: simulate("net", X), TypeError, "network"),
    ("simulate-none-inputs", lambda: simulate(NET, None), TypeError, "inputs"),
    ("simulate-list-inputs", lambda: simulate(NET, [[0.0]]), TypeError, "inputs"),
    ("simulate-numpy-inputs", lambda: simulate(NET, np.zeros((3, 2, 1, 4, 4))), TypeError, "inputs"),
    ("simulate-complex", lambda: simulate(NET, _zeros(3, 2, 1, 4, 4, dtype=torch.complex64)), TypeError, "input"),
    ("simulate-meta", lambda: simulate(NET, _zeros(3, 2, 1, 4, 4, device="meta")), TypeError, "input"),
    ("simulate-2d", lambda: simulate(NET, _zeros(3, 16)), ValueError, "shape"),
    ("simulate-wrong-shape", lambda: simulate(NET, _zeros(3, 2, 1, 5, 5)), ValueError, "shape"),
    ("simulate-T0", lambda: simulate(NET, _zeros(0, 2, 1, 4, 4)), ValueError, "time"),
    ("simulate-B0", lambda: simulate(NET, _zeros(3, 0, 1, 4, 4)), ValueError, "batch"),
    # empty and of the wrong shape: was an IndexError from reading the first sample
    ("simulate-T0-wrong-shape", lambda: simulate(NET, _zeros(0, 2, 1, 5, 5)), ValueError, "shape"),
    ("simulate-B0-wrong-shape", lambda: simulate(NET, _zeros(3, 0, 7)), ValueError, "shape"),
    ("simulate-nan", lambda: simulate(NET, torch.full((3, 2, 1, 4, 4), float("nan"))), ValueError, "nan"),
    ("simulate-engine", lambda: simulate(NET, X, engine="warp"), ValueError, "engine"),
    ("simulate-engine-none", lambda: simulate(NET, X, engine=None), ValueError, "engine"),
    ("simulate-record-unknown", lambda: simulate(NET, X, record_voltage=["nosuch"]), ValueError, "record_voltage"),
    ("simulate-record-int", lambda: simulate(NET, X, record_voltage=5), TypeError, "record_voltage"),
    ("simulate-dict-unknown", lambda: simulate(NET, {"nosuch": X}), ValueError, "layer"),
    ("simulate-dict-empty", lambda: simulate(NET, {}), TypeError, "inputs"),
    ("simulate-dict-array", lambda: simulate(NET, {"input": np.zeros((3, 2, 16))}), TypeError, "input"),
    # --- encoders ----------------------------------------------------------------------
    ("poisson-none", lambda: encoders.poisson(None, 3), TypeError, "x"),
    ("poisson-complex", lambda: encoders.poisson(IMG.to(torch.complex64), 3), TypeError, "dtype"),
    ("poisson-int", lambda: encoders.poisson((IMG * 255).long(), 3), TypeError, "dtype"),
    ("poisson-T-negative", lambda: encoders.poisson(IMG, -1), ValueError, "timesteps"),
    ("poisson-T-float", lambda: encoders.poisson(IMG, 2.5), TypeError, "timesteps"),
    ("poisson-rate-negative", lambda: encoders.poisson(IMG, 3, max_rate=-1.0), ValueError, "max_rate"),
    ("poisson-rate-nan", lambda: encoders.poisson(IMG, 3, max_rate=float("nan")), ValueError, "max_rate"),
    ("poisson-rate-huge", lambda: encoders.poisson(IMG, 3, max_rate=1e300), ValueError, "max_rate"),
    ("poisson-generator", lambda: encoders.poisson(IMG, 3, generator=5), TypeError, "generator"),
    ("poisson-range", lambda: encoders.poisson(IMG * 3, 3), ValueError, "x"),
    ("bernoulli-scale", lambda: encoders.bernoulli(IMG, 3, prob_scale=2.0), ValueError, "prob_scale"),
    ("current-none", lambda: encoders.constant_current(None, 3), TypeError, "x"),
    ("current-T0", lambda: encoders.constant_current(IMG, 0), ValueError, "timesteps"),
    ("current-complex", lambda: encoders.constant_current(IMG.to(torch.complex64), 3), TypeError, "dtype"),
    ("latency-T0", lambda: encoders.latency(IMG, 0), ValueError, "timesteps"),
    ("latency-nan", lambda: encoders.latency(IMG * float("nan"), 3), ValueError, "finite"),
    ("rank-order-none", lambda: encoders.rank_order(None, 3), TypeError, "x"),
    ("rank-order-T-bool", lambda: encoders.rank_order(IMG, True), TypeError, "timesteps"),
    ("first-spike-times-none", lambda: encoders.first_spike_times(None), TypeError, "spikes"),
    ("log-latency-tau", lambda: encoders.log_latency(IMG, 3, tau=-1.0), ValueError, "tau"),
    ("get-encoder-unknown", lambda: encoders.get_encoder("morse"), ValueError, "encoder"),
    ("get-encoder-param", lambda: encoders.get_encoder("poisson", foo=1), TypeError, "foo"),
    ("get-encoder-none", lambda: encoders.get_encoder(None), ValueError, "encoder"),
    # --- networks builders and specs ---------------------------------------------------
    ("build-unknown", lambda: networks.build("vgg99"), ValueError, "network"),
    ("build-shape-0", lambda: networks.build("fc", input_shape=(0, 28, 28)), ValueError, "input_shape"),
    ("build-classes-0", lambda: networks.build("fc", n_classes=0), ValueError, "size"),
    ("build-thresh", lambda: networks.build("fc", thresh=-1.0), ValueError, "thresh"),
    ("build-neuron", lambda: networks.build("fc", neuron="hh"), ValueError, "neuron"),
    ("build-reset", lambda: networks.build("fc", reset="never"), ValueError, "reset"),
    ("build-output", lambda: networks.build("fc", output="sometimes"), ValueError, "output"),
    ("build-leak", lambda: networks.build("fc", neuron="lif", leak=2.0), ValueError, "leak"),
    ("build-scnn-too-small", lambda: networks.build("scnn", input_shape=(1, 4, 4)), ValueError, "shape"),
    ("build-resnet-width", lambda: networks.build("resnet19", width=-1), ValueError, "width"),
    ("fc-empty", lambda: networks.fc([]), ValueError, "sizes"),
    ("fc-negative", lambda: networks.fc([16, -1, 4]), ValueError, "sizes"),
    ("fc-none", lambda: networks.fc(None), TypeError, "sizes"),
    ("fc-str", lambda: networks.fc("16,8"), TypeError, "sizes"),
    ("fc-float", lambda: networks.fc([16.5, 4]), TypeError, "sizes"),
    ("fc-huge", lambda: networks.fc([10**9, 10**9]), ValueError, "memory"),
    ("save-network-none", lambda: save_network(None, "unused"), TypeError, "network"),
    # --- snnsim.training.ann ----------------------------------------------------------------------
    ("ann-unknown", lambda: build_ann("resnet19"), ValueError, "ANN"),
    ("ann-shape-0", lambda: build_ann("fc", input_shape=(0,)), ValueError, "input_shape"),
    ("ann-classes-1", lambda: build_ann("fc", n_classes=1), ValueError, "n_classes"),
    ("ann-dropout", lambda: build_ann("fc", dropout=1.5), ValueError, "dropout"),
    ("ann-hidden-0", lambda: build_ann("fc", hidden=(0,)), ValueError, "hidden"),
    ("ann-bias-str", lambda: build_ann("fc", bias="yes"), TypeError, "bias"),
    ("ann-scnn-too-small", lambda: build_ann("scnn", input_shape=(1, 4, 4)), ValueError, "input_shape"),
    ("ann-scnn-2d", lambda: build_ann("scnn", input_shape=(4, 4)), ValueError, "input_shape"),
    ("train-ann-split-none", lambda: train_ann(ANN, None, epochs=1), TypeError, "dataset_split"),
    ("train-ann-model-none", lambda: train_ann(None, SPLIT, epochs=1), TypeError, "model"),
    ("train-ann-epochs-0", lambda: train_ann(ANN, SPLIT, epochs=0), ValueError, "epochs"),
    ("train-ann-lr-1e300", lambda: train_ann(ANN, SPLIT, epochs=1, lr=1e300), ValueError, "lr"),
    ("train-ann-lr-nan", lambda: train_ann(ANN, SPLIT, epochs=1, lr=float("nan")), ValueError, "lr"),
    ("train-ann-seed-2**70", lambda: train_ann(ANN, SPLIT, epochs=1, seed=2**70), ValueError, "seed"),
    ("train-ann-batch-0", lambda: train_ann(ANN, SPLIT, epochs=1, batch_size=0), ValueError, "batch_size"),
    ("train-ann-optimizer", lambda: train_ann(ANN, SPLIT, epochs=1, optimizer="lbfgs"), ValueError, "optimizer"),
    (
        "train-ann-momentum",
        lambda: train_ann(ANN, SPLIT, epochs=1, optimizer="sgd", momentum=1.0),
        ValueError,
        "momentum",
    ),
    (
        "train-ann-sample-shape",
        lambda: train_ann(ANN, Split(torch.rand(8, 1, 5, 5), torch.randint(0, 4, (8,))), epochs=1),
        ValueError,
        "dataset_split",
    ),
    (
        "train-ann-labels",
        lambda: train_ann(ANN, Split(torch.rand(8, 1, 4, 4), torch.full((8,), 7)), epochs=1),
        ValueError,
        "labels",
    ),
    # --- snnsim.methods.conversion.convert -----------------------------------------------------
    ("convert-none", lambda: convert(None, norm="none"), TypeError, "ann"),
    ("convert-norm", lambda: convert(ANN, norm="magic"), ValueError, "norm"),
    ("convert-data-missing", lambda: convert(ANN, norm="data"), ValueError, "data"),
    ("convert-data-list", lambda: convert(ANN, norm="data", data=[[1.0]]), TypeError, "data"),
    ("convert-data-shape", lambda: convert(ANN, norm="data", data=torch.rand(4, 1, 5, 5)), ValueError, "data"),
    (
        "convert-data-nan",
        lambda: convert(ANN, norm="data", data=torch.full((4, 1, 4, 4), float("nan"))),
        ValueError,
        "data",
    ),
    (
        "convert-data-complex",
        lambda: convert(ANN, norm="data", data=_zeros(4, 1, 4, 4, dtype=torch.complex64)),
        TypeError,
        "data",
    ),
    ("convert-data-empty", lambda: convert(ANN, norm="data", data=_zeros(0, 1, 4, 4)), ValueError, "data"),
    ("convert-percentile", lambda: convert(ANN, norm="percentile", percentile=0, data=IMG), ValueError, "percentile"),
    ("convert-reset", lambda: convert(ANN, norm="none", reset="never"), ValueError, "reset"),
    ("convert-output", lambda: convert(ANN, norm="none", output="maybe"), ValueError, "output"),
    ("convert-threshold", lambda: convert(ANN, norm="none", threshold=-1), ValueError, "threshold"),
    ("convert-threshold-nan", lambda: convert(ANN, norm="none", threshold=float("nan")), ValueError, "threshold"),
    ("convert-input-shape-0", lambda: convert(ANN, norm="none", input_shape=(0,)), ValueError, "input_shape"),
    ("convert-input-shape", lambda: convert(ANN, norm="none", input_shape=(1, 5, 5)), ValueError, "shape"),
    (
        "convert-sigmoid",
        lambda: convert(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4), torch.nn.Sigmoid()),
            norm="none",
            input_shape=(1, 4, 4),
        ),
        ValueError,
        "Sigmoid",
    ),
    # --- data, training configuration, learning rules --------------------------------
    ("dataset-unknown", lambda: load_dataset("imagenet"), ValueError, "dataset"),
    ("dataset-int", lambda: load_dataset(5), TypeError, "dataset"),
    ("dataset-limit-0", lambda: load_dataset("digits", limit=0), ValueError, "limit"),
    ("dataset-limit-str", lambda: load_dataset("digits", limit="5"), TypeError, "limit"),
    ("dataset-image-size", lambda: load_dataset("digits", image_size=-1), ValueError, "image_size"),
    ("split-lists", lambda: Split([1], [2]), TypeError, "Split"),
    ("split-flat", lambda: Split(torch.rand(4, 16), LONG[:1].repeat(4)), ValueError, "Split.x"),
    ("split-counts", lambda: Split(torch.rand(4, 1, 4, 4), LONG), ValueError, "labels"),
    ("train-config-lr", lambda: TrainConfig(lr=1e300).check(), ValueError, "lr"),
    ("train-config-seed", lambda: TrainConfig(seed=2**70).check(), ValueError, "seed"),
    ("train-config-epochs", lambda: TrainConfig(epochs=0).check(), ValueError, "epochs"),
    ("train-config-optimizer", lambda: TrainConfig(optimizer="lbfgs").check(), ValueError, "optimizer"),
    ("rule-unknown", lambda: get_rule("hebb"), ValueError, "method"),
    ("rule-timesteps-0", lambda: get_rule("spikebp", timesteps=0), ValueError, "timesteps"),
    ("rule-dropout-2", lambda: get_rule("spikebp", dropout=2.0), ValueError, "dropout"),
    # --- analysis --------------------------------------------------------------------------
    ("rates-none", lambda: analysis.firing_rates(None), TypeError, "spikes"),
    ("rates-unit", lambda: analysis.firing_rates(REC, unit="furlong"), ValueError, "unit"),
    ("rates-layers", lambda: analysis.firing_rates(REC, layers=["nosuch"]), ValueError, "nosuch"),
    ("raster-str", lambda: analysis.plot_raster("x"), TypeError, "spikes"),
    ("raster-sample", lambda: analysis.plot_raster(REC, sample=99), ValueError, "sample"),
    ("confusion-n-0", lambda: analysis.confusion_matrix(LONG, LONG, 0), ValueError, "n_classes"),
    ("confusion-lengths", lambda: analysis.confusion_matrix(LONG, LONG[:2], 4), ValueError, "labels"),
    ("confusion-range", lambda: analysis.confusion_matrix(torch.full((3,), 9), LONG, 4), ValueError, "pred"),
    ("confusion-float", lambda: analysis.confusion_matrix(torch.rand(3), LONG, 4), TypeError, "pred"),
    ("plot-confusion-shape", lambda: analysis.plot_confusion_matrix([[1, 2]]), ValueError, "cm"),
    ("accuracy-curves-list", lambda: analysis.accuracy_curves([]), ValueError, "accuracy_vs_time"),
    ("accuracy-curves-values", lambda: analysis.accuracy_curves({"a": "b"}), ValueError, "a"),
    ("traces-layer", lambda: analysis.plot_traces(REC, ["nosuch"]), ValueError, "nosuch"),
    ("traces-sample", lambda: analysis.plot_traces(REC, ["out"], sample=-1), ValueError, "sample"),
    ("ttfs-layer", lambda: analysis.first_spike_times(REC, "nosuch"), ValueError, "nosuch"),
    ("record-variables", lambda: analysis.record(NET, variables=("q",)).__enter__(), ValueError, "variables"),
    ("record-network", lambda: analysis.record(None).__enter__(), TypeError, "network"),
    ("record-layers", lambda: analysis.record(NET, layers=["nosuch"]).__enter__(), ValueError, "layers"),
    ("record-max-bytes", lambda: analysis.record(NET, max_bytes=-1).__enter__(), ValueError, "max_bytes"),
    ("estimate-bytes", lambda: analysis.estimate_bytes(NET, 0, 1), ValueError, "timesteps"),
    ("energy-negative", lambda: analysis.energy(-1.0, 1.0), ValueError, "synops"),
    ("rate-histogram-bins", lambda: analysis.plot_rate_histogram(REC, bins=0), ValueError, "bins"),
    ("load-network-none", lambda: load_network(None), TypeError, "directory"),
    ("save-network-int", lambda: save_network(NET, 3), TypeError, "directory"),
    ("load-ann-none", lambda: load_ann(None), TypeError, "directory"),
    ("read-idx-none", lambda: read_idx(None), TypeError, "path"),
    ("trainconfig-lr-str", lambda: TrainConfig(lr="fast").check(), TypeError, "lr"),
    ("trainconfig-epochs-float", lambda: TrainConfig(epochs=2.5).check(), TypeError, "epochs"),
    ("rule-bool-option-int", lambda: get_rule("spikebp", batchnorm=5), TypeError, "batchnorm"),
    ("rule-hidden-str", lambda: get_rule("spikebp", hidden=[100, "a"]), TypeError, "hidden"),
    ("rule-leak-nan", lambda: get_rule("lif", leak=float("nan")), TypeError, "leak"),
    ("rule-unknown-option", lambda: get_rule("ttfs", frobnicate=1), TypeError, "frobnicate"),
    (
        "convert-batch-size-0",
        lambda: convert(ANN, norm="data", data=torch.rand(8, 1, 4, 4), batch_size=0),
        ValueError,
        "batch_size",
    ),
    # --- issue 30 ----------------------------------------------------------------------------------
    ("spec-name-dot", lambda: build_network(_spec("a.b")), ValueError, "'a.b' is not allowed"),
    ("spec-name-path", lambda: build_network(_spec("../x")), ValueError, "'../x' is not allowed"),
    ("spec-name-space", lambda: build_network(_spec("my layer")), ValueError, "letters, digits"),
    ("spec-name-reserved", lambda: build_network(_spec("connections")), ValueError, "attribute of a BindsNET"),
    ("spec-name-long", lambda: build_network(_spec("n" * 65)), ValueError, "1-64"),
    (
        "spec-thresh-negative",
        lambda: build_network(_spec(thresh=-1)),
        ValueError,
        "layers[1].thresh: must be > 0, got -1",
    ),
    ("spec-thresh-0-list", lambda: build_network(_spec(thresh=[1, 0, 1])), ValueError, "thresh[1]: must be > 0, got 0"),
    ("spec-leak-5", lambda: build_network(_spec(leak=5)), ValueError, "leak: must be <= 1, got 5"),
    ("spec-10**6-layers", lambda: build_network(_many(n_layers=10**6)), ValueError, "at most 10000 items"),
    ("spec-many-connections", lambda: build_network(_many(n_conns=100_001)), ValueError, "at most 100000 items"),
    ("save-name-space", lambda: save_network(_renamed("my layer"), _TMP / "unused1"), ValueError, "my layer"),
    ("save-nan-weight", lambda: save_network(_poisoned(float("nan")), _TMP / "unused2"), ValueError, "1 NaN"),
    ("save-inf-weight", lambda: save_network(_poisoned(float("inf")), _TMP / "unused3"), ValueError, "1 infinite"),
    (
        "save-nan-thresh",
        lambda: save_network(_poisoned(float("nan"), "thresh"), _TMP / "unused4"),
        ValueError,
        "thresh",
    ),
    ("simulate-nan-weight", lambda: simulate(_poisoned(float("nan")), X), ValueError, "non-finite"),
    (
        "save-ann-nan-weight",
        lambda: save_ann(_poisoned(float("nan"), "ann"), "fc", _TMP / "unused5"),
        ValueError,
        "non-finite",
    ),
    ("load-ann-nan-weight", lambda: load_ann(_ann_nan()), ValueError, "non-finite"),
    ("convert-nan-weight", lambda: convert(_poisoned(float("nan"), "ann"), norm="none"), ValueError, "non-finite"),
    (
        "load-network-map-location",
        lambda: load_network(_saved("ok", lambda d: None), map_location="warp"),
        ValueError,
        "map_location",
    ),
    (
        "load-network-weights-dir",
        lambda: load_network(_saved("wdir", lambda d: _replace(d / "weights.pt", Path.mkdir))),
        ValueError,
        "is a directory",
    ),
    (
        "load-network-weights-dev-zero",
        lambda: load_network(
            _saved("wzero", lambda d: _replace(d / "weights.pt", lambda p: p.symlink_to("/dev/zero")))
        ),
        ValueError,
        "regular",
    ),
    ("load-ann-dir-weights", lambda: load_ann(_ann_dir()), ValueError, "is a directory"),
    ("read-idx-dir", lambda: read_idx(_file("idx_dir", Path.mkdir)), ValueError, "is a directory"),
    (
        "read-idx-dev-zero",
        lambda: read_idx(_file("idx_zero", lambda p: p.symlink_to("/dev/zero"))),
        ValueError,
        "not a regular file",
    ),
    ("load-nir-truncated", lambda: _load_nir(_nir("cut.nir", _cut_half)), ValueError, "cut.nir"),
    ("load-nir-unknown-type", lambda: _load_nir(_nir("unknown.nir", _unknown_type)), ValueError, "Hodgkin"),
    (
        "load-nir-unknown-no-check",
        lambda: _load_nir(_nir("unknown2.nir", _unknown_type), type_check=False),
        ValueError,
        "Hodgkin",
    ),
    ("load-nir-dir", lambda: _load_nir(_file("nir_dir", Path.mkdir)), ValueError, "is a directory"),
    ("load-nir-name-dot", lambda: _from_nir_renamed("a.b"), ValueError, "'a.b'"),
    ("read-shd-dir", lambda: read_shd_h5(_file("shd_dir", Path.mkdir)), ValueError, "is a directory"),
    (
        "read-nmnist-dev-zero",
        lambda: read_nmnist_bin(_file("nm_zero", lambda p: p.symlink_to("/dev/zero"))),
        ValueError,
        "not a regular file",
    ),
    ("plot-confusion-ragged", lambda: analysis.plot_confusion_matrix([[1, 2], [3]]), ValueError, "cm"),
    ("plot-confusion-nan", lambda: analysis.plot_confusion_matrix([[1, float("nan")], [3, 4]]), ValueError, "finite"),
    ("check-allocation-limit", lambda: check_allocation(2e9, "a test tensor", limit="1G"), ValueError, "a test tensor"),
]


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    path.unlink()
    make(path)


def _ann_dir() -> Path:
    from snnsim.training.ann import save_ann

    path = _TMP / "ann_wdir"
    if not path.exists():
        save_ann(ANN, "fc", path)
        _replace(path / "ann.pt", Path.mkdir)
    return path


def _ann_nan() -> Path:
    """An ANN checkpoint whose ann.pt holds a NaN (re-sealed: the checksums pass)."""
    from snnsim.core.io import tensor_bytes, write_sealed
    from snnsim.training.ann import save_ann

    path = _TMP / "ann_nan"
    if not path.exists():
        save_ann(ANN, "fc", path)
        state = torch.load(path / "ann.pt", weights_only=True)
        next(iter(state.values())).view(-1)[0] = float("nan")
        obj = json.loads((path / "ann.json").read_text())
        body = {k: v for k, v in obj.items() if k not in ("files", "sha256")}
        write_sealed(path / "ann.json", body, {"ann.pt": tensor_bytes(state)})
    return path


def _load_nir(path: Path, **kw: Any) -> Any:
    from snnsim.nir import load_nir

    return load_nir(path, dt=1.0, **kw)


def _from_nir_renamed(name: str) -> Any:
    from snnsim.nir import from_nir, to_nir

    graph = to_nir(NET, dt=1.0)
    graph.nodes[name] = graph.nodes.pop("out")
    graph.edges = [(name if a == "out" else a, name if b == "out" else b) for a, b in graph.edges]
    return from_nir(graph, dt=1.0)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_api_call_raises_one_line_naming_the_argument(case: tuple[str, Callable[[], object], type, str]) -> None:
    _, call, kind, word = case
    with pytest.raises(kind) as info:
        call()
    err = info.value
    assert isinstance(err, UserError), f"{type(err).__name__} is not a UserError: {err}"
    if kind is TypeError:
        assert isinstance(err, UserTypeError)
    text = str(err)
    assert len(text.splitlines()) == 1, text
    assert word.lower() in text.lower(), text


def test_api_and_cli_cases_number_at_least_150() -> None:
    from tests.cli.test_bad_input import CASES as CLI

    assert len({c[0] for c in CASES}) == len(CASES)
    assert len(CASES) + len(CLI) >= 150
