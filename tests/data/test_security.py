"""No code from data files: CIFAR-10 batches are md5-checked before unpickling and then
unpickled by a restricted Unpickler; a crafted batch never runs its payload."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import snnsim.data.datasets as D
from snnsim.cli import main
from snnsim.data.datasets import load_dataset
from snnsim.errors import UserError

FOLDER = "cifar-10-batches-py"
BATCHES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]


class _Payload:
    """Unpickling this creates ``marker`` (stands in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _write_valid(root: Path, n: int = 3) -> dict[str, np.ndarray]:
    """A small valid CIFAR-format folder (numpy arrays pickled with protocol 2, as the
    official files); returns the data of each batch."""
    folder = root / FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in BATCHES:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump(
                {b"data": data, b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": name.encode()},
                fh,
                protocol=2,
            )
        written[name] = data
    return written


def _md5s(root: Path) -> dict[str, str]:
    return {name: hashlib.md5((root / FOLDER / name).read_bytes()).hexdigest() for name in BATCHES}


def _poison(root: Path, name: str, marker: Path) -> None:
    """Replace batch ``name`` by a CIFAR-format dict whose labels carry a code payload."""
    with open(root / FOLDER / name, "wb") as fh:
        pickle.dump({"data": np.zeros((3, 3072), np.uint8), "labels": _Payload(marker)}, fh)


def test_the_payload_runs_under_a_plain_unpickler(tmp_path: Path) -> None:
    """The payload is live: a plain ``pickle.load`` of a poisoned batch runs it, so the checks
    below that it did not run can fail."""
    _write_valid(tmp_path)
    marker = tmp_path / "ran"
    _poison(tmp_path, "data_batch_1", marker)
    with open(tmp_path / FOLDER / "data_batch_1", "rb") as fh:
        pickle.load(fh)
    assert marker.exists()


def test_payload_batch_is_refused_before_unpickling(tmp_path: Path) -> None:
    """The poisoned batch is the first one read (data_batch_1), so the checksum is what stops it."""
    _write_valid(tmp_path)
    marker = tmp_path / "pwned"
    _poison(tmp_path, "data_batch_1", marker)
    with pytest.raises(UserError, match="data_batch_1 does not match the official CIFAR-10 checksum"):
        load_dataset("cifar10", root=tmp_path)
    assert not marker.exists()


def test_payload_batch_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checksum list patched to accept every file, the poisoned test batch reaches the
    restricted unpickler through the command line: one line, exit 2, the payload never runs."""
    _write_valid(tmp_path)
    marker = tmp_path / "pwned"
    _poison(tmp_path, "test_batch", marker)
    monkeypatch.setattr(D, "_CIFAR_MD5", _md5s(tmp_path))
    code = main(
        [
            "simulate",
            "--dataset",
            "cifar10",
            "--data-root",
            str(tmp_path),
            "--limit",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "test_batch: not a readable CIFAR-10 pickle batch" in err, err
    assert not marker.exists()


def test_valid_files_with_matching_checksums_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = _write_valid(tmp_path)
    monkeypatch.setattr(D, "_CIFAR_MD5", _md5s(tmp_path))
    ds = load_dataset("cifar10", root=tmp_path)
    assert len(ds.train) == 15 and len(ds.test) == 3
    expected = torch.from_numpy(written["data_batch_2"].reshape(-1, 3, 32, 32)).float() / 255
    assert torch.equal(ds.train.x[3:6], expected)


def test_payload_with_matching_checksum_still_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: even a file whose md5 is accepted is unpickled without running code."""
    _write_valid(tmp_path)
    marker = tmp_path / "pwned"
    _poison(tmp_path, "data_batch_4", marker)
    monkeypatch.setattr(D, "_CIFAR_MD5", _md5s(tmp_path))
    with pytest.raises(UserError, match=r"data_batch_4: not a readable CIFAR-10 pickle batch .*os"):
        load_dataset("cifar10", root=tmp_path)
    assert not marker.exists()


def test_official_checksums_are_torchvision_constants() -> None:
    from torchvision.datasets import CIFAR10

    official = dict(CIFAR10.train_list + CIFAR10.test_list)
    official[CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    assert D._CIFAR_MD5 == official
