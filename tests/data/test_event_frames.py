"""Event datasets as splits (snnsim.data.event_frames): binning per batch, the default bins,
--limit over every class, and bad or truncated files refused with one line naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from snnsim.data import events as de
from snnsim.data.event_frames import EventFrames, event_bin_us, load_event_dataset
from snnsim.errors import UserError
from tests.event_files import nmnist_record, write_nmnist, write_shd, write_shd_file


@pytest.fixture(scope="module")
def nmnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nmnist(tmp_path_factory.mktemp("nm"), range(3), {"Train": 4, "Test": 2})


def test_nmnist_splits_bin_each_batch_like_the_reader(nmnist_root: Path) -> None:
    data = load_event_dataset("nmnist", timesteps=10, root=nmnist_root)
    assert data.num_classes == 10 and data.input_shape == (2, 34, 34)
    assert len(data.train) == 12 and len(data.test) == 6 and data.train.bin_us == 30_000.0
    raw = de.load_nmnist(nmnist_root, train=True)
    batches = list(data.train.batches(5))
    assert [len(y) for _, y in batches] == [5, 5, 2]
    x, y = batches[1]
    assert x.shape == (5, 10, 2, 34, 34) and x.dtype == torch.bool
    assert torch.equal(x, raw.frames(list(range(5, 10)), 10, 30_000.0).transpose(0, 1))
    assert torch.equal(y, raw.labels[5:10])
    gen = torch.Generator().manual_seed(0)
    shuffled = torch.cat([y for _, y in data.train.batches(4, shuffle=True, generator=gen)])
    assert sorted(shuffled.tolist()) == sorted(raw.labels.tolist()) and not torch.equal(shuffled, raw.labels)
    assert torch.equal(data.train.subset(3).x, data.train.x[:3])
    assert len(list(data.train.batches(5, drop_last=True))) == 2


def test_limit_takes_every_digit_and_bins_default_to_the_window(nmnist_root: Path) -> None:
    data = load_event_dataset("nmnist", timesteps=100, root=nmnist_root, limit=5)
    assert data.train.y.tolist() == [0, 0, 1, 1, 2] and data.train.bin_us == 3000.0  # 300 ms / 100
    assert event_bin_us("shd", 50) == 20_000.0 and event_bin_us("nmnist", 50, 1000) == 1000.0
    wide = load_event_dataset("nmnist", timesteps=2, root=nmnist_root, bin_us=150_000)
    events = de.load_nmnist(nmnist_root, train=False)
    # every synthetic event lies within 300 ms: two bins of 150 ms hold each pixel that fired
    fired = torch.zeros(6, 2 * 34 * 34, dtype=torch.bool)
    for i, ev in enumerate(events.events):
        fired[i, (ev["p"].astype(np.int64) * 34 + ev["y"]) * 34 + ev["x"]] = True
    assert torch.equal(wide.test.x.any(1).reshape(6, -1), fired)


def test_shd_dataset_and_tensor_layout(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    write_shd(tmp_path, range(20), {"train": 1, "test": 1}, events=5, noise=0)
    data = load_event_dataset("shd", timesteps=4, root=tmp_path, bin_us=250_000)
    assert data.num_classes == 20 and data.input_shape == (700,) and len(data.train) == 20
    x, y = next(iter(data.test.batches(20)))
    assert x.shape == (20, 4, 700)
    bands = x.any(1).nonzero()  # each class fires units 35 c .. 35 c + 34 only (no noise)
    assert torch.equal(bands[:, 1] // 35, y[bands[:, 0]])


def test_bad_arguments_are_one_line() -> None:
    with pytest.raises(UserError, match="unknown event dataset"):
        load_event_dataset("dvs", timesteps=10)
    with pytest.raises(UserError, match="timesteps"):
        load_event_dataset("nmnist", timesteps=0)
    with pytest.raises(UserError, match="bin_us"):
        event_bin_us("nmnist", 10, -1.0)
    with pytest.raises(FileNotFoundError, match="N-MNIST"):
        load_event_dataset("nmnist", timesteps=10, root="/nonexistent/nmnist")
    with pytest.raises(UserError, match="limit"):
        load_event_dataset("nmnist", timesteps=10, limit=0)


def test_truncated_nmnist_file_is_named(tmp_path: Path) -> None:
    write_nmnist(tmp_path, [1], {"Train": 1, "Test": 1})
    bad = tmp_path / "Train" / "1" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-2])
    with pytest.raises(UserError, match=f"{bad}: .* not a whole number of 5-byte events"):
        load_event_dataset("nmnist", timesteps=10, root=tmp_path)
    off = nmnist_record(np.array([34]), np.array([3]), np.array([0]), np.array([5]))
    bad.write_bytes(off)
    with pytest.raises(UserError, match=f"{bad}: event address outside"):
        load_event_dataset("nmnist", timesteps=10, root=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "gzip-truncate", "labels", "times", "rows"])
def test_bad_shd_files_are_named(tmp_path: Path, damage: str) -> None:
    pytest.importorskip("h5py")
    write_shd(tmp_path, range(2), {"train": 2, "test": 1}, events=5, noise=0)
    path = tmp_path / "shd_train.h5"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not hdf5 at all" * 10)
    elif damage == "gzip-truncate":
        path.unlink()
        path = tmp_path / "shd_train.h5.gz"
        path.write_bytes(gzip.compress(raw)[:-20])
    elif damage == "labels":
        write_shd_file(path, [np.array([0.1])], [np.array([3])], [20])
    elif damage == "times":
        write_shd_file(path, [np.array([np.nan])], [np.array([3])], [1])
    else:
        write_shd_file(path, [np.array([0.1])], [np.array([3])], [1, 0])
    with pytest.raises(UserError) as err:
        load_event_dataset("shd", timesteps=10, root=tmp_path)
    line = str(err.value)
    assert line.startswith(str(path)) and "\n" not in line, line


def test_event_frames_checks_its_arguments() -> None:
    split = de.EventSplit([np.zeros(0, de.SHD_DTYPE)], torch.tensor([0]), (700,))
    with pytest.raises(UserError, match="timesteps"):
        EventFrames(split, 0, 1000.0)
    with pytest.raises(UserError, match="bin_us"):
        EventFrames(split, 5, 0.0)
    with pytest.raises(UserError, match="batch_size"):
        next(EventFrames(split, 5, 1000.0).batches(0))
    assert EventFrames(split, 5, 1000.0).x.shape == (1, 5, 700)
