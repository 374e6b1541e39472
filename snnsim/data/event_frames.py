"""Event datasets as training/simulation splits: N-MNIST and SHD binned into ``T`` steps.

:func:`load_event_dataset` reads a dataset with :mod:`snnsim.data.events` (or ``tonic``)
and returns a :class:`~snnsim.data.datasets.Dataset` whose splits are :class:`EventFrames`:
they keep the events and bin each batch when it is drawn, so that memory holds the events,
not ``N x T x sensor`` frames. A batch is ``(frames [B, T, *sensor] bool, labels [B])``; the
``events`` encoder (:func:`encoders.events.events`) turns it into the ``[T, B, *sensor]``
input of a network. ``input_shape`` is the per-step sensor shape: ``(2, 34, 34)`` for N-MNIST
(polarity, y, x), ``(700,)`` for SHD.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch

from snnsim.data import events as ev
from snnsim.data.datasets import Dataset, default_data_root
from snnsim.errors import UserError, UserTypeError
from snnsim.names import EVENT_DATASETS

#: Length in microseconds of the recording that ``T`` bins cover by default: N-MNIST's three
#: saccades last about 300 ms, an SHD digit at most about 1 s.
EVENT_WINDOW_US: dict[str, float] = {"nmnist": 300_000.0, "shd": 1_000_000.0}
#: Classes of each event dataset.
EVENT_CLASSES: dict[str, int] = {"nmnist": 10, "shd": 20}
#: Folder under the default data root (``$SNNSIM_DATA_ROOT`` or ``~/.cache/snnsim/data``).
EVENT_FOLDERS: dict[str, str] = {"nmnist": "NMNIST", "shd": "SHD"}


class EventFrames:
    """One split of an event dataset, binned into ``timesteps`` bins of ``bin_us`` microseconds.

    Offers what the trainer and :func:`snnsim.engine.evaluate.evaluate` use of a
    :class:`~snnsim.data.datasets.Split`: ``len``, ``y`` and :meth:`batches` (of
    ``[B, T, *sensor]`` bool frames); ``x`` bins every sample (small splits only).
    """

    def __init__(self, split: ev.EventSplit, timesteps: int, bin_us: float) -> None:
        if not isinstance(split, ev.EventSplit):
            raise UserTypeError(f"EventFrames expects an EventSplit, got {type(split).__name__}")
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
            raise UserError(f"timesteps must be an int >= 1, got {timesteps!r}")
        if not (isinstance(bin_us, (int, float)) and 0 < bin_us < float("inf")):
            raise UserError(f"bin_us must be a number > 0, got {bin_us!r}")
        self.split, self.timesteps, self.bin_us = split, timesteps, float(bin_us)

    def __len__(self) -> int:
        return len(self.split)

    @property
    def y(self) -> torch.Tensor:
        """Labels ``[N]`` (int64)."""
        return self.split.labels

    @property
    def x(self) -> torch.Tensor:
        """Every sample's frames ``[N, T, *sensor]`` (bool)."""
        return self.frames(range(len(self)))

    def frames(self, indices: range | list[int] | torch.Tensor) -> torch.Tensor:
        """Frames of samples ``indices``: ``[B, T, *sensor]`` bool."""
        idx = [int(i) for i in indices]
        return self.split.frames(idx, self.timesteps, self.bin_us).transpose(0, 1)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(frames [B, T, *sensor], y [B])`` covering the split once (as ``Split.batches``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"batch_size must be an int >= 1, got {batch_size!r}")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.frames(idx), self.y[idx]

    def subset(self, n: int) -> EventFrames:
        """The first ``min(n, len(self))`` samples."""
        part = ev.EventSplit(self.split.events[:n], self.split.labels[:n], self.split.sensor)
        return EventFrames(part, self.timesteps, self.bin_us)


def event_bin_us(name: str, timesteps: int, bin_us: float | None = None) -> float:
    """The bin width in microseconds: ``bin_us``, else the dataset's window over ``timesteps``."""
    if bin_us is not None:
        if not (isinstance(bin_us, (int, float)) and 0 < bin_us < float("inf")):
            raise UserError(f"bin_us must be a number > 0, got {bin_us!r}")
        return float(bin_us)
    return EVENT_WINDOW_US[name] / timesteps


def default_event_root(name: str) -> Path:
    """``$SNNSIM_DATA_ROOT/NMNIST`` (or ``SHD``), default root ``~/.cache/snnsim/data``."""
    return default_data_root() / EVENT_FOLDERS[name]


def _read_split(name: str, root: Path, train: bool, limit: int | None, use_tonic: bool) -> ev.EventSplit:
    loader = ev.load_nmnist if name == "nmnist" else ev.load_shd
    try:
        split = loader(root, train, limit=limit, use_tonic=use_tonic)
    except ImportError as exc:  # h5py or tonic missing: say what to install, in one line
        raise UserError(f"--dataset {name}: {exc}") from None
    labels = split.labels
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= EVENT_CLASSES[name]):
        raise UserError(
            f"{name} under {root}: labels must lie in [0, {EVENT_CLASSES[name]}), found "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return split


def load_event_dataset(
    name: str,
    *,
    timesteps: int,
    root: str | os.PathLike[str] | None = None,
    bin_us: float | None = None,
    limit: int | None = None,
    use_tonic: bool = False,
) -> Dataset:
    """Event dataset ``name`` (``nmnist`` or ``shd``) from ``root`` with both splits binned into
    ``timesteps`` bins of ``bin_us`` microseconds (default :func:`event_bin_us`).

    Layouts (see docs/guide/event-data.md): N-MNIST ``root/Train/<digit>/*.bin`` and
    ``root/Test/<digit>/*.bin``; SHD ``root/shd_train.h5`` and ``root/shd_test.h5`` (or ``.h5.gz``).
    A missing folder raises ``FileNotFoundError``, a bad or truncated file :class:`UserError`
    naming it.
    """
    if name not in EVENT_DATASETS:
        raise UserError(f"unknown event dataset {name!r}; expected one of {', '.join(EVENT_DATASETS)}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise UserError(f"timesteps must be an int >= 1, got {timesteps!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"limit must be an int >= 1, got {limit!r}")
    width = event_bin_us(name, timesteps, bin_us)
    where = Path(root).expanduser() if root is not None else default_event_root(name)
    train, test = (_read_split(name, where, t, limit, use_tonic) for t in (True, False))
    return Dataset(
        name,
        EventFrames(train, timesteps, width),
        EventFrames(test, timesteps, width),  # type: ignore[arg-type]
        EVENT_CLASSES[name],
        train.sensor,
    )  # type: ignore[arg-type]
