"""Tests for snnsim.data.datasets: datasets, IDX files and batching."""

from __future__ import annotations

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from snnsim.data import datasets as D
from snnsim.data.datasets import Dataset, Split, load_dataset, read_idx, write_idx

REAL_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def _check_tensors(ds: Dataset) -> None:
    for split in (ds.train, ds.test):
        assert split.x.dtype == torch.float32 and split.x.is_contiguous()
        assert split.y.dtype == torch.int64
        assert float(split.x.min()) >= 0.0 and float(split.x.max()) <= 1.0
        assert tuple(split.x.shape[1:]) == ds.input_shape


def _fake_images(n: int, h: int = 28, w: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def _write_mnist10k(directory: Path, n: int = 50, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _fake_images(n)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", labels)
    return images, labels


# --------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_digits_default(digits: Dataset) -> None:
    assert digits.name == "digits" and digits.num_classes == 10
    assert len(digits.train) == 1437 and len(digits.test) == 360
    assert digits.input_shape == (1, 28, 28)
    _check_tensors(digits)
    assert set(digits.train.y.tolist()) == set(range(10))
    assert set(digits.test.y.tolist()) == set(range(10))


def test_digits_native_size_and_determinism(digits: Dataset) -> None:
    native = load_dataset("digits", image_size=8)
    assert native.input_shape == (1, 8, 8)
    assert native.train.x.shape == (1437, 1, 8, 8)
    _check_tensors(native)
    # Native pixels are multiples of 1/16.
    assert torch.allclose(native.train.x * 16, (native.train.x * 16).round())
    # Same split as the 28x28 version, and across calls.
    assert torch.equal(native.train.y, digits.train.y)
    again = load_dataset("DIGITS")
    assert torch.equal(again.train.x, digits.train.x)
    assert torch.equal(again.test.y, digits.test.y)


def test_limit_and_image_size(digits: Dataset) -> None:
    small = load_dataset("digits", limit=10, image_size=16)
    assert len(small.train) == 10 and len(small.test) == 10
    assert small.input_shape == (1, 16, 16)
    assert torch.equal(small.train.y, digits.train.y[:10])


# --------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path: Path, name: str) -> None:
    images, labels = _fake_images(7, 5, 4)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / ("l" + name), labels)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.shape == (7, 5, 4)
    np.testing.assert_array_equal(back, images)
    np.testing.assert_array_equal(read_idx(tmp_path / ("l" + name)), labels)
    is_gz = (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
    assert is_gz == name.endswith(".gz")


def test_idx_other_dtype(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    write_idx(tmp_path / "x.idx", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.idx"), arr)
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "y.idx", np.zeros(3, dtype=np.int64))


def test_idx_corrupt(tmp_path: Path) -> None:
    images, _ = _fake_images(4)
    good = tmp_path / "good-idx3-ubyte"
    write_idx(good, images)
    raw = good.read_bytes()

    bad_magic = tmp_path / "bad-magic-idx3-ubyte"
    bad_magic.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(ValueError, match="bad-magic-idx3-ubyte"):
        read_idx(bad_magic)

    bad_type = tmp_path / "bad-type"
    bad_type.write_bytes(b"\x00\x00\x07" + raw[3:])
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad_type)

    truncated = tmp_path / "truncated-idx3-ubyte"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated-idx3-ubyte"):
        read_idx(truncated)

    short_header = tmp_path / "short"
    short_header.write_bytes(raw[:9])
    with pytest.raises(ValueError, match="short"):
        read_idx(short_header)

    truncated_gz = tmp_path / "trunc.gz"
    truncated_gz.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError, match="trunc.gz"):
        read_idx(truncated_gz)

    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------- mnist10k
@pytest.mark.parametrize("gz", [True, False])
def test_mnist10k_small_dir(tmp_path: Path, gz: bool) -> None:
    images, labels = _write_mnist10k(tmp_path, 50, gz=gz)
    ds = load_dataset("mnist10k", data_dir=tmp_path)
    assert ds.name == "mnist10k" and ds.num_classes == 10
    assert len(ds.train) == 40 and len(ds.test) == 10
    assert ds.input_shape == (1, 28, 28)
    _check_tensors(ds)

    perm = torch.randperm(50, generator=torch.Generator().manual_seed(D.MNIST10K_SPLIT_SEED))
    tr, te = perm[:40], perm[40:]
    assert not set(tr.tolist()) & set(te.tolist())
    expected = torch.from_numpy(images).float().div(255).unsqueeze(1)
    assert torch.equal(ds.train.x, expected[tr])
    assert torch.equal(ds.test.x, expected[te])
    y = torch.from_numpy(labels).long()
    assert torch.equal(ds.train.y, y[tr]) and torch.equal(ds.test.y, y[te])

    again = load_dataset("mnist10k", data_dir=str(tmp_path))
    assert torch.equal(again.train.x, ds.train.x) and torch.equal(again.test.y, ds.test.y)


def test_mnist10k_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNNSIM_MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist10k", data_dir=tmp_path / "absent")
    msg = str(info.value)
    for part in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "--data-dir", "absent", "SNNSIM_MNIST_DIR"):
        assert part in msg
    # Only one of the two files present.
    images, _ = _fake_images(5)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_dataset("mnist10k", data_dir=tmp_path)


def test_mnist10k_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNNSIM_MNIST_DIR", raising=False)
    monkeypatch.setattr(D, "default_mnist_dir", lambda: None)
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_dataset("mnist10k")


def test_mnist10k_count_mismatch(tmp_path: Path) -> None:
    images, labels = _fake_images(20)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[:19])
    with pytest.raises(ValueError, match="20 images"):
        load_dataset("mnist10k", data_dir=tmp_path)


def test_mnist10k_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_mnist10k(tmp_path, 30)
    monkeypatch.setenv("SNNSIM_MNIST_DIR", str(tmp_path))
    ds = load_dataset("mnist10k", limit=5, image_size=14)
    assert len(ds.train) == 5 and len(ds.test) == 5
    assert ds.input_shape == (1, 14, 14)
    full = load_dataset("mnist10k")
    assert len(full.train) == 24 and len(full.test) == 6


def test_default_mnist_dir_type() -> None:
    found = D.default_mnist_dir()
    assert found is None or (isinstance(found, Path) and found.is_dir())


# --------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_mnist_offline(tmp_path: Path, name: str, folder: str) -> None:
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    tr_images, tr_labels = _fake_images(30, seed=1)
    te_images, te_labels = _fake_images(12, seed=2)
    write_idx(raw / "train-images-idx3-ubyte", tr_images)
    write_idx(raw / "train-labels-idx1-ubyte", tr_labels)
    write_idx(raw / "t10k-images-idx3-ubyte", te_images)
    write_idx(raw / "t10k-labels-idx1-ubyte", te_labels)

    ds = load_dataset(name, root=tmp_path, download=False)
    assert ds.name == name and ds.input_shape == (1, 28, 28)
    assert len(ds.train) == 30 and len(ds.test) == 12
    _check_tensors(ds)
    assert torch.equal(ds.train.x[:, 0], torch.from_numpy(tr_images).float() / 255)
    assert torch.equal(ds.test.y, torch.from_numpy(te_labels).long())

    small = load_dataset(name, root=tmp_path, limit=4, image_size=10)
    assert len(small.train) == 4 and small.input_shape == (1, 10, 10)


def test_torchvision_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="--download"):
        load_dataset("fashion-mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("cifar10", root=tmp_path)
    # Default root comes from SNNSIM_DATA_ROOT.
    monkeypatch.setenv("SNNSIM_DATA_ROOT", str(tmp_path / "envroot"))
    assert D.default_data_root() == tmp_path / "envroot"
    with pytest.raises(FileNotFoundError, match="envroot"):
        load_dataset("mnist")


def _write_cifar(root: Path, n_per_batch: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    written = {}
    for i, fname in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
        key = b"data" if i % 2 else "data"  # both str and bytes keys occur in the wild
        with open(folder / fname, "wb") as fh:
            pickle.dump({key: data, "labels": labels, "batch_label": fname}, fh)
        written[fname] = (data, labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(k) for k in range(10)]}, fh)
    return written


def _accept_cifar(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the md5 check accept the files written under ``root`` (the official checksums
    are covered by tests/data/test_security.py)."""
    folder = root / "cifar-10-batches-py"
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(D, "_CIFAR_MD5", md5)


def test_cifar10_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = _write_cifar(tmp_path)
    _accept_cifar(tmp_path, monkeypatch)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.name == "cifar10" and ds.input_shape == (3, 32, 32)
    assert len(ds.train) == 20 and len(ds.test) == 4
    _check_tensors(ds)
    data, labels = written["data_batch_2"]
    expected = torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255
    assert torch.equal(ds.train.x[4:8], expected)
    assert ds.train.y[4:8].tolist() == labels
    assert ds.test.y.tolist() == written["test_batch"][1]
    small = load_dataset("cifar10", root=tmp_path, image_size=16, limit=3)
    assert small.input_shape == (3, 16, 16) and len(small.train) == 3


def test_cifar10_corrupt_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    _accept_cifar(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="test_batch"):
        load_dataset("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- batches
def _toy_split(n: int = 23) -> Split:
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1) / n
    return Split(x, torch.arange(n))


def test_batches_cover_all() -> None:
    split = _toy_split()
    seen = [y for _, yb in split.batches(5) for y in yb.tolist()]
    assert seen == list(range(23))
    sizes = [len(yb) for _, yb in split.batches(5)]
    assert sizes == [5, 5, 5, 5, 3]
    for xb, yb in split.batches(5, shuffle=True):
        assert torch.equal(xb[:, 0, 0, 0], yb.float() / 23)  # pairs stay aligned
    shuffled = [y for _, yb in split.batches(4, shuffle=True) for y in yb.tolist()]
    assert sorted(shuffled) == list(range(23))


def test_batches_shuffle_deterministic() -> None:
    split = _toy_split()

    def order(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        return [y for _, yb in split.batches(6, shuffle=True, generator=gen) for y in yb.tolist()]

    assert order(7) == order(7)
    assert order(7) != order(8)
    assert order(7) != list(range(23))


def test_batches_drop_last() -> None:
    split = _toy_split()
    sizes = [len(yb) for _, yb in split.batches(5, drop_last=True)]
    assert sizes == [5, 5, 5, 5]
    assert [len(yb) for _, yb in split.batches(23, drop_last=True)] == [23]
    assert list(split.batches(30, drop_last=True)) == []


def test_subset() -> None:
    split = _toy_split()
    sub = split.subset(4)
    assert len(sub) == 4 and sub.y.tolist() == [0, 1, 2, 3]
    assert len(split.subset(100)) == 23
    with pytest.raises(ValueError):
        split.subset(0)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="mnist10k"):
        load_dataset("imagenet")
    with pytest.raises(TypeError):
        load_dataset(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        load_dataset("digits", limit=0)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("digits", image_size=0)
    with pytest.raises(TypeError, match="image_size"):
        load_dataset("digits", image_size=2.5)  # type: ignore[arg-type]
    split = _toy_split()
    with pytest.raises(ValueError, match="batch_size"):
        next(split.batches(0))
    with pytest.raises(TypeError, match="batch_size"):
        next(split.batches(2.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Split(torch.zeros(3, 1, 2, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError):
        Split(torch.zeros(3, 4), torch.zeros(3, dtype=torch.int64))


# --------------------------------------------------------------------------- real data
@pytest.mark.slow
def test_real_mnist10k() -> None:
    if not REAL_MNIST.is_dir():
        pytest.skip(f"real MNIST files not found at {REAL_MNIST}")
    ds = load_dataset("mnist10k", data_dir=REAL_MNIST)
    assert len(ds.train) == 8000 and len(ds.test) == 2000
    assert ds.input_shape == (1, 28, 28)
    _check_tensors(ds)
    for split in (ds.train, ds.test):
        assert int(split.y.min()) == 0 and int(split.y.max()) == 9
    mean = float(torch.cat([ds.train.x, ds.test.x]).mean())
    assert 0.12 < mean < 0.14
    # The default directory resolution finds the same files.
    if D.default_mnist_dir() is not None:
        default = load_dataset("mnist10k", limit=3)
        assert torch.equal(default.train.x, ds.train.x[:3])
