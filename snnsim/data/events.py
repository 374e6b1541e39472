"""Event datasets for FastSNN experiments: N-MNIST and the Spiking Heidelberg Digits (SHD).

Readers of the raw formats work without extra packages (SHD needs ``h5py``); when ``tonic``
is installed, ``use_tonic=True`` loads through it instead (it can also download).

- N-MNIST (Orchard et al. 2015): ``ROOT/Train/<digit>/*.bin`` and ``ROOT/Test/<digit>/*.bin``;
  each event is 5 bytes: x (byte 0), y (byte 1), then 24 bits with the polarity in the top
  bit (1 = ON) and a 23-bit timestamp in microseconds. An event with y = 240 marks a
  timestamp overflow: 2^13 us are added to every later event, and the marker is dropped.
  Sensor 34 x 34, two polarities.
- SHD (Cramer et al. 2020): ``ROOT/shd_train.h5`` / ``shd_test.h5`` (or ``.h5.gz``) with
  ``spikes/times`` (per sample, seconds), ``spikes/units`` (per sample, 0..699) and
  ``labels`` (0..19).

Events are numpy structured arrays with ``t`` (int64, microseconds) and ``x``, ``y``, ``p``
(N-MNIST) or ``unit`` (SHD). :meth:`EventSplit.frames` bins them into ``[T, B, *sensor]``.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from snnsim.argcheck import as_path, regular_file
from snnsim.errors import UserError

NMNIST_SENSOR = (2, 34, 34)  # (polarity, y, x)
SHD_UNITS = 700
SHD_CLASSES = 20
NMNIST_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
SHD_DTYPE = np.dtype([("t", "<i8"), ("unit", "<i2")])
_OVERFLOW_Y, _OVERFLOW_US = 240, 2**13

PathLike = Union[str, Path]


@dataclass
class EventSplit:
    """Samples of one split: ``events[i]`` (structured array) with label ``labels[i]``."""

    events: list[np.ndarray]
    labels: torch.Tensor
    sensor: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.events)

    def frames(self, indices: Sequence[int], timesteps: int, dt_us: float, *, binary: bool = True) -> torch.Tensor:
        """Bin samples ``indices`` into ``[T, B, *sensor]`` frames of ``dt_us`` microseconds
        (bool when ``binary``, else float32 event counts); events after ``T * dt_us`` are dropped."""
        if timesteps < 1 or not dt_us > 0:
            raise UserError(f"timesteps must be >= 1 and dt_us > 0, got {timesteps}, {dt_us}")
        out = torch.zeros((timesteps, len(indices), int(np.prod(self.sensor))), dtype=torch.float32)
        for b, i in enumerate(indices):
            ev = self.events[i]
            step = (ev["t"] // dt_us).astype(np.int64)
            keep = (step >= 0) & (step < timesteps)
            if "unit" in ev.dtype.names:
                flat = ev["unit"].astype(np.int64)
            else:
                flat = (ev["p"].astype(np.int64) * self.sensor[1] + ev["y"]) * self.sensor[2] + ev["x"]
            idx = torch.from_numpy(step[keep] * out.shape[2] + flat[keep])
            out[:, b] = torch.bincount(idx, minlength=timesteps * out.shape[2]).view(timesteps, -1).float()
        out = out.view(timesteps, len(indices), *self.sensor)
        return out > 0 if binary else out


# --------------------------------------------------------------------------- N-MNIST
def decode_nmnist(raw: bytes, name: str = "N-MNIST data") -> np.ndarray:
    """Events of one N-MNIST ``.bin`` file's bytes (see module docstring)."""
    if len(raw) % 5:
        raise UserError(f"{name}: {len(raw)} bytes is not a whole number of 5-byte events")
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    ts = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    overflow = b[:, 1] == _OVERFLOW_Y
    ts = ts + _OVERFLOW_US * np.cumsum(overflow)
    keep = ~overflow
    ev = np.empty(int(keep.sum()), dtype=NMNIST_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = ts[keep], b[keep, 0], b[keep, 1], b[keep, 2] >> 7
    if ev.size and (ev["x"].max() >= NMNIST_SENSOR[2] or ev["y"].max() >= NMNIST_SENSOR[1]):
        raise UserError(f"{name}: event address outside the 34 x 34 sensor")
    return ev


def read_nmnist_bin(path: PathLike) -> np.ndarray:
    """Events of one N-MNIST ``.bin`` file."""
    path = as_path(path, "path")
    regular_file(path, "N-MNIST file", missing=f"N-MNIST file not found: {path}")
    return decode_nmnist(path.read_bytes(), str(path))


def encode_nmnist(events: np.ndarray) -> bytes:
    """The 5-byte-per-event encoding of ``events`` (fields t, x, y, p; t < 2^23 us, no
    overflow markers): the inverse of :func:`decode_nmnist`, e.g. to write test files."""
    t = events["t"].astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= 2**23):
        raise UserError("N-MNIST timestamps must lie in [0, 2^23) microseconds")
    out = np.empty((len(events), 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = events["x"], events["y"]
    out[:, 2] = (events["p"].astype(np.int64) << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def load_nmnist(
    root: PathLike, train: bool = True, *, limit: Optional[int] = None, use_tonic: bool = False
) -> EventSplit:
    """The N-MNIST ``Train`` or ``Test`` split under ``root`` (files sorted by digit, then name;
    with ``limit``, the first ``limit`` files taken in turn from each digit, so that a small
    limit still holds every class)."""
    if use_tonic:
        return _from_tonic("NMNIST", root, train, limit, NMNIST_SENSOR)
    folder = Path(root) / ("Train" if train else "Test")
    if not folder.is_dir():
        raise FileNotFoundError(f"no N-MNIST split at {folder} (expected {folder}/<digit>/*.bin)")
    files = [(d, f) for d in range(10) for f in sorted((folder / str(d)).glob("*.bin"))]
    if limit is not None:
        rank = {f: i for d in range(10) for i, f in enumerate(f for e, f in files if e == d)}
        files = sorted(sorted(files, key=lambda df: (rank[df[1]], df[0]))[:limit])
    if not files:
        raise FileNotFoundError(f"no .bin files under {folder}/0..9")
    return EventSplit([read_nmnist_bin(f) for _, f in files], torch.tensor([d for d, _ in files]), NMNIST_SENSOR)


# --------------------------------------------------------------------------- SHD
def _h5py():
    if importlib.util.find_spec("h5py") is None:
        raise ImportError("reading SHD needs h5py (pip install h5py)")
    import h5py

    return h5py


def read_shd_h5(path: PathLike, *, limit: Optional[int] = None) -> EventSplit:
    """An SHD HDF5 file (``.h5``, or gzip-compressed ``.h5.gz``)."""
    h5py = _h5py()
    path = as_path(path, "path")
    regular_file(path, "SHD file", missing=f"SHD file not found: {path}")
    raw = path.read_bytes()
    try:
        return _read_shd(
            h5py, io.BytesIO(gzip.decompress(raw)) if raw[:2] == b"\x1f\x8b" else io.BytesIO(raw), path, limit
        )
    except UserError:
        raise
    except (OSError, EOFError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # truncated or not HDF5
        raise UserError(f"{path}: not a readable SHD HDF5 file ({type(exc).__name__}: {exc})"[:300]) from None


def _read_shd(h5py, src: io.BytesIO, path: Path, limit: Optional[int]) -> EventSplit:
    """The samples of an open SHD file's bytes ``src`` (``path`` names it in errors)."""
    with h5py.File(src, "r") as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise UserError(f"{path}: not an SHD file (no {key!r} dataset)")
        times, units, labels = f["spikes/times"], f["spikes/units"], np.asarray(f["labels"])
        n = len(labels) if limit is None else min(limit, len(labels))
        if labels.ndim != 1 or len(times) < n or len(units) < n:
            raise UserError(f"{path}: {len(labels)} labels but {len(times)} times and {len(units)} units rows")
        if n and (labels.min() < 0 or labels.max() >= SHD_CLASSES):
            raise UserError(f"{path}: labels must lie in 0..{SHD_CLASSES - 1}")
        events = []
        for i in range(n):
            t, u = np.asarray(times[i], dtype=np.float64), np.asarray(units[i], dtype=np.int64)
            if t.shape != u.shape:
                raise UserError(f"{path}: sample {i} has {t.size} times but {u.size} units")
            if not np.isfinite(t).all() or (t.size and np.abs(t).max() > 1e6):
                raise UserError(f"{path}: sample {i} has spike times that are not finite seconds")
            if u.size and (u.min() < 0 or u.max() >= SHD_UNITS):
                raise UserError(f"{path}: sample {i} has units outside 0..{SHD_UNITS - 1}")
            ev = np.empty(t.size, dtype=SHD_DTYPE)
            ev["t"], ev["unit"] = np.rint(t * 1e6).astype(np.int64), u
            events.append(ev)
    return EventSplit(events, torch.from_numpy(labels[:n].astype(np.int64)), (SHD_UNITS,))


def load_shd(root: PathLike, train: bool = True, *, limit: Optional[int] = None, use_tonic: bool = False) -> EventSplit:
    """The SHD train or test split from ``root/shd_{train,test}.h5[.gz]``."""
    if use_tonic:
        return _from_tonic("SHD", root, train, limit, (SHD_UNITS,))
    stem = Path(root) / f"shd_{'train' if train else 'test'}.h5"
    for path in (stem, stem.with_name(stem.name + ".gz")):
        if path.is_file():
            return read_shd_h5(path, limit=limit)
    raise FileNotFoundError(f"no SHD file {stem}[.gz]")


# --------------------------------------------------------------------------- tonic
def tonic_available() -> bool:
    return importlib.util.find_spec("tonic") is not None


def _from_tonic(name: str, root: PathLike, train: bool, limit: Optional[int], sensor: tuple[int, ...]) -> EventSplit:
    """Load through ``tonic.datasets.<name>`` (downloads when online) into our event layout."""
    if not tonic_available():
        raise ImportError("use_tonic=True needs the tonic package (pip install tonic)")
    import tonic

    ds = getattr(tonic.datasets, name)(save_to=str(root), train=train)
    n = len(ds) if limit is None else min(limit, len(ds))
    events, labels = [], []
    for i in range(n):
        ev, label = ds[i]
        out = np.empty(len(ev), dtype=SHD_DTYPE if name == "SHD" else NMNIST_DTYPE)
        out["t"] = ev["t"]
        if name == "SHD":
            out["unit"] = ev["x"]
        else:
            out["x"], out["y"], out["p"] = ev["x"], ev["y"], ev["p"]
        events.append(out)
        labels.append(int(label))
    return EventSplit(events, torch.tensor(labels), sensor)
