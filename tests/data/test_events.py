"""FastSNN inputs: logarithmic latency coding and the N-MNIST / SHD event readers."""

import gzip
import math

import numpy as np
import pytest
import torch

from snnsim.data import events as de
from snnsim.methods.fastsnn.encoding import log_latency, log_latency_times


def test_log_latency_by_hand():
    x = torch.tensor([[1.0, 0.5, 0.2, 0.0, 0.21, 0.3]])
    # tau ln(x / (x - theta)), tau 20, theta 0.2: 4.46, 10.22, none, none, 60.89, 21.97
    times = log_latency_times(x)
    assert times[0, 0].item() == pytest.approx(20 * math.log(1.25))
    assert times[0, 1].item() == pytest.approx(20 * math.log(0.5 / 0.3))
    assert math.isinf(times[0, 2].item()) and math.isinf(times[0, 3].item())
    s = log_latency(x, 50)
    assert s.dtype == torch.bool and s.shape == (50, 1, 6)
    steps = [int(s[:, 0, i].nonzero()[0]) if s[:, 0, i].any() else None for i in range(6)]
    assert steps == [4, 10, None, None, None, 21]  # 60.9 >= T = 50: dropped
    assert int(log_latency(x, 100)[:, 0, 4].nonzero()[0]) == 60
    assert (s.sum(0) <= 1).all()
    s2 = log_latency(x, 50, dt=2.0, tau=10.0, theta=0.5)  # 10 ln(1 / 0.5) = 6.93 -> step 3
    assert s2[:, 0, 0].nonzero().flatten().tolist() == [3] and s2[:, 0, 1:].sum() == 0


def test_log_latency_rejects_bad_arguments():
    with pytest.raises(ValueError, match="theta"):
        log_latency(torch.rand(2, 3), 10, theta=1.0)
    with pytest.raises(ValueError, match="tau"):
        log_latency(torch.rand(2, 3), 10, tau=0.0)
    with pytest.raises(TypeError):
        log_latency(torch.ones(2, 3, dtype=torch.long), 10)
    with pytest.raises(ValueError):
        log_latency(torch.rand(2, 3) + 1.0, 10)  # outside [0, 1]


def nmnist_bytes(events):
    """Hand-made 5-byte events (x, y, p, t) -> bytes, independent of the module's encoder."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_nmnist_decoding_by_hand_with_overflow_marker():
    raw = nmnist_bytes([(3, 5, 1, 70000), (33, 0, 0, 8191)]) + bytes([0, 240, 0, 0, 0]) + nmnist_bytes([(1, 2, 1, 10)])
    ev = de.decode_nmnist(raw)
    assert ev["x"].tolist() == [3, 33, 1] and ev["y"].tolist() == [5, 0, 2] and ev["p"].tolist() == [1, 0, 1]
    assert ev["t"].tolist() == [70000, 8191, 10 + 2**13]
    with pytest.raises(ValueError, match="5-byte"):
        de.decode_nmnist(raw[:-1])
    with pytest.raises(ValueError, match="sensor"):
        de.decode_nmnist(nmnist_bytes([(40, 1, 0, 5)]))
    assert de.decode_nmnist(de.encode_nmnist(ev[:2])).tolist() == ev[:2].tolist()


def test_nmnist_folder_loader_and_frames(tmp_path):
    for split, digit, name, events in [
        ("Train", 0, "00002.bin", [(0, 0, 1, 500), (0, 0, 1, 900)]),
        ("Train", 0, "00001.bin", [(2, 3, 0, 2500)]),
        ("Train", 7, "00001.bin", [(33, 33, 1, 0), (5, 6, 0, 99999)]),
        ("Test", 1, "00001.bin", [(1, 1, 1, 1)]),
    ]:
        folder = tmp_path / split / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(nmnist_bytes(events))
    train = de.load_nmnist(tmp_path, train=True)
    assert len(train) == 3 and train.labels.tolist() == [0, 0, 7] and train.sensor == (2, 34, 34)
    assert train.events[0]["t"].tolist() == [2500]  # files sorted by name within a digit
    frames = train.frames([0, 1, 2], timesteps=4, dt_us=1000)
    assert frames.shape == (4, 3, 2, 34, 34) and frames.dtype == torch.bool
    assert frames[2, 0, 0, 3, 2] and frames.sum() == 3  # 2500 us -> step 2; 99999 us dropped
    counts = train.frames([1], timesteps=1, dt_us=1000, binary=False)
    assert counts[0, 0, 1, 0, 0] == 2  # two ON events at (0, 0) in the first millisecond
    assert len(de.load_nmnist(tmp_path, train=False)) == 1
    assert len(de.load_nmnist(tmp_path, limit=2)) == 2
    with pytest.raises(FileNotFoundError):
        de.load_nmnist(tmp_path / "missing")


def write_shd(path, samples, labels, compress=False):
    h5py = pytest.importorskip("h5py")
    target = path.with_suffix("") if compress else path
    with h5py.File(target, "w") as f:
        vf, vu = h5py.vlen_dtype(np.dtype("float32")), h5py.vlen_dtype(np.dtype("uint16"))
        times = f.create_dataset("spikes/times", (len(samples),), dtype=vf)
        units = f.create_dataset("spikes/units", (len(samples),), dtype=vu)
        for i, (t, u) in enumerate(samples):
            times[i], units[i] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
    if compress:
        path.write_bytes(gzip.compress(target.read_bytes()))
        target.unlink()


def test_shd_reader_on_a_synthetic_file(tmp_path):
    pytest.importorskip("h5py", reason="SHD files are HDF5: the reader needs h5py")
    samples = [([0.0005, 0.0021, 0.5], [3, 699, 10]), ([0.001], [0])]
    write_shd(tmp_path / "shd_train.h5", samples, [4, 19])
    split = de.load_shd(tmp_path, train=True)
    assert len(split) == 2 and split.labels.tolist() == [4, 19] and split.sensor == (700,)
    assert split.events[0]["t"].tolist() == [500, 2100, 500000] and split.events[0]["unit"].tolist() == [3, 699, 10]
    frames = split.frames([0, 1], timesteps=10, dt_us=1000)
    assert frames.shape == (10, 2, 700)
    assert frames[0, 0, 3] and frames[2, 0, 699] and frames[1, 1, 0] and frames.sum() == 3
    write_shd(tmp_path / "shd_test.h5.gz", samples[:1], [1], compress=True)
    assert de.load_shd(tmp_path, train=False).labels.tolist() == [1]
    assert len(de.read_shd_h5(tmp_path / "shd_train.h5", limit=1)) == 1
    write_shd(tmp_path / "bad.h5", [([0.1], [700])], [0])
    with pytest.raises(ValueError, match="units"):
        de.read_shd_h5(tmp_path / "bad.h5")


def test_tonic_path_reports_missing_package(tmp_path):
    if de.tonic_available():
        pytest.skip("tonic is installed")
    with pytest.raises(ImportError, match="tonic"):
        de.load_nmnist(tmp_path, use_tonic=True)
