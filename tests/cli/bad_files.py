"""Damaged copies of real snnsim files for tests/cli/test_bad_input.py: truncated, binary, empty,
wrong JSON types, code-carrying pickles and weights of the wrong shapes, the last three re-sealed
so that they get past the checksums and reach the loaders."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from snnsim.cli import main
from snnsim.core.io import FILES_KEY, SEAL_KEY, tensor_bytes, write_sealed
from snnsim.data.datasets import write_idx

MARKER = "pwned-by-pickle"


class Payload:
    """A pickle that runs code when unpickled: it would create the file MARKER in the cwd."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {MARKER}",))


def _reseal(json_path: Path, blobs: dict[str, bytes]) -> None:
    """Rewrite ``blobs`` and re-seal ``json_path`` over them, so the checksums pass and the
    content reaches the loader."""
    obj = json.loads(json_path.read_text())
    body = {k: v for k, v in obj.items() if k not in (FILES_KEY, SEAL_KEY)}
    old = {name: (json_path.parent / name).read_bytes() for name in obj[FILES_KEY]}
    write_sealed(json_path, body, {**old, **blobs})


def _reseal_spec(json_path: Path, change: Callable[[dict], object]) -> None:
    """Apply ``change`` to the spec in ``json_path`` and re-seal it (the checksums pass)."""
    obj = json.loads(json_path.read_text())
    change(obj["spec"])
    body = {k: v for k, v in obj.items() if k not in (FILES_KEY, SEAL_KEY)}
    write_sealed(json_path, body, {name: (json_path.parent / name).read_bytes() for name in obj[FILES_KEY]})


def _rename(spec: dict, old: str, new: str) -> None:
    for layer in spec["layers"]:
        layer["name"] = new if layer["name"] == old else layer["name"]
    for conn in spec["connections"]:
        conn.update({k: new for k in ("source", "target") if conn[k] == old})


def _weights(d: Path, value: float) -> None:
    """Re-seal weights.pt with one weight set to ``value`` (NaN, inf)."""
    state = torch.load(d / "weights.pt", weights_only=True)
    next(iter(state.values())).view(-1)[0] = value
    _reseal(d / "network.json", {"weights.pt": tensor_bytes(state)})


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    path.unlink()
    make(path)


def _variant(src: Path, dst: Path, change: Callable[[Path], object]) -> None:
    shutil.copytree(src, dst)
    change(dst)


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def run_cli(argv: list[str]) -> None:
    assert main(argv) == 0, argv


def ann_variants(ann: Path, other_ann: Path, bad: Path) -> None:
    evil = pickle.dumps({"w": Payload()}, protocol=2)
    trunc = (ann / "ann.pt").read_bytes()[:200]
    variants: dict[str, Callable[[Path], object]] = {
        "ann_trunc": lambda d: _cut(d / "ann.pt"),
        "ann_empty_pt": lambda d: (d / "ann.pt").write_bytes(b""),
        "ann_no_pt": lambda d: (d / "ann.pt").unlink(),
        "ann_json_list": lambda d: (d / "ann.json").write_text("[1, 2]"),
        "ann_json_bin": lambda d: (d / "ann.json").write_bytes(bytes(range(256))),
        "ann_json_empty": lambda d: (d / "ann.json").write_text(""),
        "ann_json_deep": lambda d: (d / "ann.json").write_text("[" * 200_000),
        "ann_json_edited": lambda d: (d / "ann.json").write_text(
            (d / "ann.json").read_text().replace('"n_classes": 10', '"n_classes": 11')
        ),
        "ann_evil_sealed": lambda d: _reseal(d / "ann.json", {"ann.pt": evil}),
        "ann_trunc_sealed": lambda d: _reseal(d / "ann.json", {"ann.pt": trunc}),
        "ann_shapes_sealed": lambda d: _reseal(d / "ann.json", {"ann.pt": (other_ann / "ann.pt").read_bytes()}),
        "ann_list_sealed": lambda d: _reseal(d / "ann.json", {"ann.pt": tensor_bytes([1, 2])}),
    }
    for name, change in variants.items():
        _variant(ann, bad / name, change)


def checkpoint_variants(ckpt: Path, other_ckpt: Path, bad: Path) -> None:
    evil = pickle.dumps({"w": Payload()}, protocol=2)
    trunc = (ckpt / "weights.pt").read_bytes()[:200]
    variants: dict[str, Callable[[Path], object]] = {
        "ck_trunc_weights": lambda d: _cut(d / "weights.pt"),
        "ck_trunc_trainer": lambda d: _cut(d / "trainer.pt"),
        "ck_empty_weights": lambda d: (d / "weights.pt").write_bytes(b""),
        "ck_no_weights": lambda d: (d / "weights.pt").unlink(),
        "ck_no_json": lambda d: (d / "network.json").unlink(),
        "ck_json_list": lambda d: (d / "network.json").write_text("[]"),
        "ck_json_bin": lambda d: (d / "network.json").write_bytes(bytes(range(256)) * 4),
        "ck_json_deep": lambda d: (d / "network.json").write_text('{"a":' * 200_000),
        "ck_json_edited": lambda d: (d / "network.json").write_text(
            (d / "network.json").read_text().replace('"thresh": 1.0', '"thresh": 2.0', 1)
        ),
        "ck_evil_sealed": lambda d: _reseal(d / "network.json", {"weights.pt": evil}),
        "ck_trunc_sealed": lambda d: _reseal(d / "network.json", {"weights.pt": trunc}),
        "ck_shapes_sealed": lambda d: _reseal(
            d / "network.json", {"weights.pt": (other_ckpt / "weights.pt").read_bytes()}
        ),
        "ck_list_sealed": lambda d: _reseal(d / "network.json", {"weights.pt": tensor_bytes([1.0, 2.0])}),
        "ck_trainer_evil_sealed": lambda d: _reseal(d / "network.json", {"trainer.pt": evil}),
        "ck_trainer_trunc_sealed": lambda d: _reseal(d / "network.json", {"trainer.pt": trunc}),
        # issue 30: names, ranges, sizes, non-finite weights, files that are not files
        "ck_name_dot": lambda d: _reseal_spec(d / "network.json", lambda s: _rename(s, "fc1", "a.b")),
        "ck_name_path": lambda d: _reseal_spec(d / "network.json", lambda s: _rename(s, "fc1", "../x")),
        "ck_name_reserved": lambda d: _reseal_spec(d / "network.json", lambda s: _rename(s, "fc1", "layers")),
        "ck_thresh_negative": lambda d: _reseal_spec(d / "network.json", lambda s: s["layers"][1].update(thresh=-1)),
        "ck_leak_5": lambda d: _reseal_spec(d / "network.json", lambda s: s["layers"][1].update(leak=5)),
        "ck_many_layers": lambda d: _reseal_spec(
            d / "network.json",
            lambda s: s["layers"].extend([{"name": f"x{i}", "type": "if", "shape": [1]} for i in range(10_001)]),
        ),
        "ck_nan_weights": lambda d: _weights(d, float("nan")),
        "ck_inf_weights": lambda d: _weights(d, float("inf")),
        "ck_weights_dir": lambda d: _replace(d / "weights.pt", lambda p: p.mkdir()),
        "ck_weights_dev_zero": lambda d: _replace(d / "weights.pt", lambda p: p.symlink_to("/dev/zero")),
        "ck_json_dev_zero": lambda d: _replace(d / "network.json", lambda p: p.symlink_to("/dev/zero")),
    }
    for name, change in variants.items():  # a run directory around each: train --resume --out RUN
        _variant(ckpt, bad / name / "checkpoint", change)


def run_variants(run: Path, bad: Path) -> None:
    def report(text: str) -> Callable[[Path], object]:
        return lambda d: (d / "report.json").write_text(text)

    def record(obj: object) -> Callable[[Path], object]:
        return lambda d: torch.save(obj, d / "record.pt")

    variants: dict[str, Callable[[Path], object]] = {
        "run_report_list": report("[]"),
        "run_report_str": report('"x"'),
        "run_report_bin": lambda d: (d / "report.json").write_bytes(bytes(range(256)) * 4),
        "run_report_empty": report(""),
        "run_report_cut": lambda d: _cut(d / "report.json"),
        "run_report_deep": report("[" * 200_000),
        "run_report_classes": report('{"num_classes": "ten"}'),
        "run_report_net": report('{"net": 5}'),
        "run_report_dt": report('{"dt": "1 ms"}'),
        "run_report_cm": report('{"confusion_matrix": 3}'),
        "run_report_zero_classes": report('{"num_classes": 0}'),
        "run_no_files": lambda d: [(d / f).unlink() for f in ("report.json", "record.pt")],
        "run_record_cut": lambda d: _cut(d / "record.pt"),
        "run_record_bin": lambda d: (d / "record.pt").write_bytes(bytes(range(256)) * 4),
        "run_record_empty": lambda d: (d / "record.pt").write_bytes(b""),
        "run_record_evil": record({"spikes": Payload()}),
        "run_record_list": record([1, 2]),
        "run_record_no_spikes": record({"spikes": {}}),
        "run_record_numbers": record({"spikes": {"a": 1}}),
        "run_record_shapes": record({"spikes": {"a": torch.zeros(3, 2, 4), "b": torch.zeros(5, 2, 4)}}),
        "run_record_flat": record({"spikes": {"a": torch.zeros(3)}}),
    }
    for name, change in variants.items():
        _variant(run, bad / name, change)


def data_variants(bad: Path) -> None:
    """mnist10k directories (``--dataset mnist10k --data-dir DIR``) with broken IDX files."""
    img, lab = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"

    def idx(name: str, images: np.ndarray, labels: np.ndarray) -> Path:
        d = bad / name
        d.mkdir()
        write_idx(d / img, images)
        write_idx(d / lab, labels)
        return d

    ok_x, ok_y = np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.uint8)
    d = idx("idx_binary", ok_x, ok_y)
    (d / img).write_bytes(bytes(range(256)) * 8)
    d = idx("idx_cut", ok_x, ok_y)
    _cut(d / img)
    d = idx("idx_not_gzip", ok_x, ok_y)
    (d / img).unlink()
    (d / f"{img}.gz").write_bytes(b"not gzip at all")
    d = idx("idx_gzip_cut", ok_x, ok_y)
    (d / img).unlink()
    (d / f"{img}.gz").write_bytes(gzip.compress(bytes(8000))[:40])
    idx("idx_count", ok_x, ok_y[:9])
    idx("idx_labels", ok_x, np.full(10, 11, np.uint8))
    idx("idx_one", ok_x[:1], ok_y[:1])
    idx("idx_float", ok_x.astype(np.float32), ok_y)
    idx("idx_flat", np.zeros((10, 784), np.uint8), ok_y)
    (bad / "idx_empty").mkdir()
    d = idx("idx_dir", ok_x, ok_y)
    _replace(d / img, lambda p: p.mkdir())
    d = idx("idx_dev_zero", ok_x, ok_y)
    _replace(d / img, lambda p: p.symlink_to("/dev/zero"))
