"""Small event datasets in the real on-disk formats, for tests: N-MNIST ``.bin`` folders and
SHD HDF5 files, written with their own byte packing (independent of snnsim's readers).

Classes differ in *which* inputs fire: N-MNIST digit ``c`` fires a 6 x 6 patch of its own
(column ``5 c mod 30``, row by ``c`` parity), SHD class ``c`` a band of 35 units of its own,
each at random times, over a background of random noise events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def nmnist_record(x: np.ndarray, y: np.ndarray, p: np.ndarray, t_us: np.ndarray) -> bytes:
    """Events -> the 40-bit N-MNIST encoding: x, y, then polarity bit and 23-bit timestamp (big end first)."""
    t = t_us.astype(np.int64)
    raw = np.stack([x, y, (p.astype(np.int64) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()


def nmnist_sample(
    digit: int, rng: np.random.Generator, events: int = 1500, noise: int = 500, window_us: int = 300_000
) -> bytes:
    """One synthetic recording of ``digit``: ``events`` in its patch plus ``noise`` anywhere."""
    x0, y0 = (5 * digit) % 30, 4 + 16 * (digit % 2)
    xs = np.concatenate([x0 + rng.integers(0, 6, events), rng.integers(0, 34, noise)])
    ys = np.concatenate([y0 + rng.integers(0, 6, events), rng.integers(0, 34, noise)])
    ps = rng.integers(0, 2, events + noise)
    ts = np.sort(rng.integers(0, window_us, events + noise))
    return nmnist_record(xs, ys, ps, ts)


def write_nmnist(root: Path, digits: Sequence[int], per_digit: dict[str, int], seed: int = 0) -> Path:
    """``root/Train/<digit>/NNNNN.bin`` and ``root/Test/...``: ``per_digit[split]`` files per digit."""
    rng = np.random.default_rng(seed)
    for split, n in per_digit.items():
        for d in digits:
            folder = root / split / str(d)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{i:05d}.bin").write_bytes(nmnist_sample(d, rng))
    return root


def write_shd_file(path: Path, times: list[np.ndarray], units: list[np.ndarray], labels: Sequence[int]) -> Path:
    """An SHD file: ``spikes/times`` (float seconds), ``spikes/units`` (uint16) per sample, ``labels``."""
    import h5py

    with h5py.File(path, "w") as f:
        vt, vu = h5py.vlen_dtype(np.dtype("float32")), h5py.vlen_dtype(np.dtype("uint16"))
        ft = f.create_dataset("spikes/times", (len(times),), dtype=vt)
        fu = f.create_dataset("spikes/units", (len(units),), dtype=vu)
        for i, (t, u) in enumerate(zip(times, units)):
            ft[i], fu[i] = t.astype(np.float32), u.astype(np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
    return path


def write_shd(
    root: Path, classes: Sequence[int], per_class: dict[str, int], seed: int = 0, events: int = 1500, noise: int = 500
) -> Path:
    """``root/shd_train.h5`` and ``root/shd_test.h5`` (``per_class[split]`` samples per class, shuffled)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in per_class.items():
        labels = rng.permutation(np.repeat(np.asarray(classes), n))
        times, units = [], []
        for c in labels:
            u = np.concatenate([35 * int(c) + rng.integers(0, 35, events), rng.integers(0, 700, noise)])
            t = rng.uniform(0.0, 0.9, u.size)
            order = np.argsort(t)
            times.append(t[order])
            units.append(u[order])
        write_shd_file(root / f"shd_{split}.h5", times, units, labels)
    return root
