"""Datasets for snnsim: image tensors in [0, 1] with integer labels.

Every loader returns a :class:`Dataset` holding two :class:`Split` objects whose
``x`` is a float32 tensor ``[N, C, H, W]`` in ``[0, 1]`` and ``y`` an int64
tensor ``[N]`` of class labels.

Datasets (see :data:`DATASETS`):

* ``digits``        scikit-learn's bundled 8x8 digits (offline, the default of the
  toolkit), upsampled to 28x28 unless ``image_size`` says otherwise; a seeded
  permutation (:data:`DIGITS_SPLIT_SEED`) gives 1,437 train / 360 test images.
* ``mnist10k``      the official MNIST test set (10,000 images) read from a local
  IDX directory, split 8,000 / 2,000 with :data:`MNIST10K_SPLIT_SEED`.
* ``mnist``, ``fashion-mnist``  torchvision datasets (official train / test sets).
* ``cifar10``       the CIFAR-10 python batches (``cifar-10-batches-py``), read by
  snnsim itself after checking each file's official md5 (a file that does not match is
  never unpickled); torchvision is only used to download them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from snnsim.data.idx import read_idx, write_idx
from snnsim.errors import UserError, UserTypeError

__all__ = [
    "DATASETS",
    "DIGITS_SPLIT_SEED",
    "DIGITS_TEST_SIZE",
    "MNIST10K_SPLIT_SEED",
    "MNIST10K_FILES",
    "Dataset",
    "Split",
    "default_data_root",
    "default_mnist_dir",
    "load_dataset",
    "read_idx",
    "write_idx",
]

from snnsim.names import DATASETS  # noqa: E402  (the one list, light for the CLI)

#: Seed of the torch.randperm that splits the digits data (1,437 train / 360 test).
DIGITS_SPLIT_SEED: int = 0
#: Number of held-out digits images (the last ones after the seeded permutation).
DIGITS_TEST_SIZE: int = 360
#: Seed of the torch.randperm that splits mnist10k (first 80 % train, rest test).
MNIST10K_SPLIT_SEED: int = 0
#: (images, labels) base names of the mnist10k IDX files; a ``.gz`` suffix is optional.
MNIST10K_FILES: tuple[str, str] = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

_MNIST_ENV = "SNNSIM_MNIST_DIR"
_ROOT_ENV = "SNNSIM_DATA_ROOT"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)
#: md5 of the official CIFAR-10 python files (the constants torchvision's ``CIFAR10`` lists);
#: a batch is unpickled only after its md5 matches. ``batches.meta`` is listed for
#: completeness: snnsim does not read it.
_CIFAR_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
#: The only globals an official batch refers to: numpy array reconstruction (numpy 1 and 2
#: module names) and the ``bytes`` re-encoding of protocol-2 pickles.
_CIFAR_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


# --------------------------------------------------------------------------- splits
@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        x: images ``[N, C, H, W]``, float32 in ``[0, 1]``.
        y: class labels ``[N]``, int64.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise UserTypeError(
                f"Split expects torch tensors for x and y, got {type(self.x).__name__} and {type(self.y).__name__}"
            )
        if self.x.dim() != 4:
            raise UserError(f"Split.x must be [N, C, H, W], got shape {tuple(self.x.shape)}")
        if self.y.dim() != 1:
            raise UserError(f"Split.y must be [N], got shape {tuple(self.y.shape)}")
        if self.x.shape[0] != self.y.shape[0]:
            raise UserError(f"Split.x has {self.x.shape[0]} samples but Split.y has {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x [B, C, H, W], y [B])`` mini-batches covering the split once.

        ``shuffle`` draws a permutation from ``generator`` (deterministic when it
        is seeded; the global torch RNG when None). ``drop_last`` skips a final
        batch smaller than ``batch_size``.
        """
        batch_size = _check_positive_int(batch_size, "batch_size")
        n = len(self)
        if shuffle:
            order: torch.Tensor | None = torch.randperm(n, generator=generator)
        else:
            order = None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, n)
            if order is None:
                yield self.x[start:end], self.y[start:end]
            else:
                idx = order[start:end]
                yield self.x[idx], self.y[idx]

    def subset(self, n: int) -> Split:
        """The first ``min(n, len(self))`` samples (views of the same storage)."""
        n = _check_positive_int(n, "n")
        return Split(self.x[:n], self.y[:n])


@dataclass
class Dataset:
    """A named dataset: ``train`` and held-out ``test`` splits.

    ``input_shape`` is ``(C, H, W)`` of one image; labels lie in ``[0, num_classes)``.
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]


# --------------------------------------------------------------------------- helpers
def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserTypeError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise UserError(f"{name} must be >= 1, got {value}")
    return int(value)


def _to_float(images: torch.Tensor | np.ndarray, scale: float) -> torch.Tensor:
    """uint8/float images ``[N, C, H, W]`` -> contiguous float32 in [0, 1]."""
    x = torch.as_tensor(images).to(torch.float32).div_(scale)
    return x.clamp_(0.0, 1.0).contiguous()


def _resize(x: torch.Tensor, size: int | None, chunk: int = 8192) -> torch.Tensor:
    """Bilinear resize ``[N, C, H, W]`` to ``size x size`` (no-op when None or equal)."""
    if size is None or (x.shape[-2] == size and x.shape[-1] == size):
        return x.contiguous()
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.float32)
    for start in range(0, x.shape[0], chunk):
        part = F.interpolate(x[start : start + chunk], size=(size, size), mode="bilinear", align_corners=False)
        out[start : start + chunk] = part.clamp_(0.0, 1.0)
    return out


def _labels(y: torch.Tensor | np.ndarray, num_classes: int, source: object) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y)).to(torch.int64).reshape(-1).contiguous()
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise UserError(f"{source}: labels must lie in [0, {num_classes}), found [{int(t.min())}, {int(t.max())}]")
    return t


def _make_dataset(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    scale: float,
    image_size: int | None,
    limit: int | None,
) -> Dataset:
    """Apply ``limit`` then scale and resize; images come in as ``[N, C, H, W]``."""
    splits = []
    for x, y in (train, test):
        if limit is not None:
            x, y = x[:limit], y[:limit]
        splits.append(Split(_resize(_to_float(x, scale), image_size), y.contiguous()))
    c, h, w = splits[0].x.shape[1:]
    return Dataset(name, splits[0], splits[1], num_classes, (int(c), int(h), int(w)))


# --------------------------------------------------------------------------- digits
def _load_digits(image_size: int | None, limit: int | None) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(np.asarray(bunch.images, dtype=np.float32)).unsqueeze(1)
    labels = _labels(bunch.target, 10, "sklearn digits")
    n = labels.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    tr, te = perm[: n - DIGITS_TEST_SIZE], perm[n - DIGITS_TEST_SIZE :]
    size = 28 if image_size is None else image_size
    return _make_dataset("digits", (images[tr], labels[tr]), (images[te], labels[te]), 10, 16.0, size, limit)


# --------------------------------------------------------------------------- mnist10k
def default_mnist_dir() -> Path | None:
    """First existing of ``<repo>/../shared/data/mnist`` and ``./../shared/data/mnist``."""
    repo = Path(__file__).resolve().parents[2]
    rel = Path("..") / "shared" / "data" / "mnist"
    for cand in (repo / rel, Path.cwd() / rel):
        if cand.is_dir():
            return cand.resolve()
    return None


def _find_file(directory: Path, base: str) -> Path | None:
    for name in (base + ".gz", base):
        if (directory / name).exists():  # a directory or device there: read_idx says what it is
            return directory / name
    return None


def _mnist10k_missing(where: str) -> FileNotFoundError:
    images, labels = MNIST10K_FILES
    return FileNotFoundError(
        f"mnist10k needs {images}.gz and {labels}.gz (or the un-gzipped {images} / {labels}) "
        f"but {where}. Pass --data-dir DIR on the CLI or data_dir= in Python, or set "
        f"{_MNIST_ENV}=DIR, to point at a directory holding them."
    )


def _load_mnist10k(data_dir: str | Path | None, image_size: int | None, limit: int | None) -> Dataset:
    """MNIST's 10k test set split with a seeded randperm of N into round(0.8 N) / rest.

    For the real 10,000-image file this is exactly 8,000 train / 2,000 test; smaller
    directories (tests) scale the same way, keeping at least one image per split.
    """
    if data_dir is not None:
        directory, origin = Path(data_dir).expanduser(), "data_dir"
    elif os.environ.get(_MNIST_ENV):
        directory, origin = Path(os.environ[_MNIST_ENV]).expanduser(), _MNIST_ENV
    else:
        found = default_mnist_dir()
        if found is None:
            repo = Path(__file__).resolve().parents[2]
            raise _mnist10k_missing(
                "no directory was given and none of the defaults exists "
                f"({repo / '..' / 'shared' / 'data' / 'mnist'}, "
                f"{Path.cwd() / '..' / 'shared' / 'data' / 'mnist'})"
            )
        directory, origin = found, "default"
    image_path = _find_file(directory, MNIST10K_FILES[0])
    label_path = _find_file(directory, MNIST10K_FILES[1])
    if image_path is None or label_path is None:
        state = "does not exist" if not directory.is_dir() else "lacks them"
        raise _mnist10k_missing(f"the directory searched, {directory} (from {origin}), {state}")
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UserError(f"{image_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise UserError(f"{label_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}")
    n = images.shape[0]
    if labels.shape[0] != n:
        raise UserError(f"{image_path} has {n} images but {label_path} has {labels.shape[0]} labels")
    if n < 2:
        raise UserError(f"{image_path}: need at least 2 images to split, got {n}")
    y = _labels(labels, 10, label_path)
    x = torch.from_numpy(images).unsqueeze(1)
    n_train = min(max(round(0.8 * n), 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(MNIST10K_SPLIT_SEED))
    tr, te = perm[:n_train], perm[n_train:]
    return _make_dataset("mnist10k", (x[tr], y[tr]), (x[te], y[te]), 10, 255.0, image_size, limit)


# --------------------------------------------------------------------------- torchvision
def default_data_root() -> Path:
    """``$SNNSIM_DATA_ROOT`` if set, else ``~/.cache/snnsim/data``."""
    env = os.environ.get(_ROOT_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "snnsim" / "data"


def _not_found(name: str, root: Path, expected: str, exc: BaseException | None, download: bool) -> FileNotFoundError:
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    how = (
        "The download failed (no internet?); retry online with download=True (--download on the CLI)"
        if download
        else "Pass download=True (--download on the CLI) to fetch it when online"
    )
    return FileNotFoundError(
        f"{name} not found under root {root} (expected {expected}){detail}. {how}, or set "
        f"root= (or {_ROOT_ENV}) to a directory that already holds it."
    )


def _load_torchvision_mnist(
    name: str, root: Path, download: bool, image_size: int | None, limit: int | None
) -> Dataset:
    from torchvision import datasets as tvd

    cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
    raw = root / cls.__name__ / "raw"
    parts = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=download)
        except (RuntimeError, OSError) as exc:  # not found / download failed (URLError is OSError)
            raise _not_found(name, root, f"the IDX files in {raw}", exc, download) from exc
        except (AssertionError, TypeError, ValueError) as exc:
            raise UserError(f"{name}: corrupt IDX files in {raw}: {exc}") from exc
        data = torch.as_tensor(ds.data)
        if data.dim() != 3:
            raise UserError(f"{name}: expected images [N, H, W] in {raw}, got {tuple(data.shape)}")
        parts.append((data.unsqueeze(1), _labels(ds.targets, 10, raw)))
    return _make_dataset(name, parts[0], parts[1], 10, 255.0, image_size, limit)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_CIFAR_GLOBALS` (defence in depth behind the md5
    check): any other global, i.e. any code a crafted file asks to run, is refused."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        if module == "numpy.core.multiarray":  # numpy 1 name of numpy._core (old pickles)
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_cifar_md5(path: Path) -> None:
    """Raise :class:`UserError` unless ``path`` has the official md5 of its CIFAR-10 file."""
    expected = _CIFAR_MD5[path.name]
    got = _md5(path)
    if got != expected:
        raise UserError(
            f"{path} does not match the official CIFAR-10 checksum (md5 {got}, expected "
            f"{expected}); refusing to unpickle it: delete it and download the dataset again"
        )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR-10 batch (md5 already checked) -> (uint8 ``[n, 3, 32, 32]``, labels ``[n]``)."""
    try:
        with open(path, "rb") as fh:
            entry = _CifarUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a readable CIFAR-10 pickle batch ({exc})") from None
    if not isinstance(entry, dict):
        raise UserError(f"{path}: expected a pickled dict, got {type(entry).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or "labels" not in entry:
        raise UserError(f"{path}: CIFAR-10 batch needs 'data' and 'labels' keys, has {sorted(map(str, entry))}")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry["labels"]).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{path}: expected uint8 data [n, 3072], got {data.dtype} {data.shape}")
    if labels.shape[0] != data.shape[0]:
        raise UserError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar10(root: Path, download: bool, image_size: int | None, limit: int | None) -> Dataset:
    """CIFAR-10 read from ``<root>/cifar-10-batches-py`` by snnsim itself.

    torchvision is only used to download (``download=True`` with files missing). Every
    batch must have the official md5 (:data:`_CIFAR_MD5`, checked before anything is
    unpickled) and is then unpickled by :class:`_CifarUnpickler`, which resolves only
    numpy array reconstruction: a crafted batch file never runs code.
    """
    folder = root / _CIFAR_FOLDER
    names = _CIFAR_TRAIN + _CIFAR_TEST
    expected = f"{', '.join(names)} in {folder}"
    if download and not all((folder / f).is_file() for f in names):
        from torchvision import datasets as tvd

        try:
            tvd.CIFAR10(str(root), train=True, download=True)
        except (RuntimeError, OSError) as exc:
            raise _not_found("cifar10", root, expected, exc, True) from exc
    missing = [f for f in names if not (folder / f).is_file()]
    if missing:
        what = f"{expected}; missing {', '.join(missing)}"
        raise _not_found("cifar10", root, what, None, download)
    for f in names:  # every file is verified before the first one is unpickled
        _check_cifar_md5(folder / f)
    parts = []
    for group in (_CIFAR_TRAIN, _CIFAR_TEST):
        batches = [_read_cifar_batch(folder / f) for f in group]
        x = torch.from_numpy(np.concatenate([b[0] for b in batches]))
        y = _labels(np.concatenate([b[1] for b in batches]), 10, folder)
        parts.append((x, y))
    return _make_dataset("cifar10", parts[0], parts[1], 10, 255.0, image_size, limit)


# --------------------------------------------------------------------------- entry point
def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    image_size: int | None = None,
    limit: int | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) as float32 tensors in [0, 1].

    Args:
        name: dataset name (case-insensitive; ``_`` is read as ``-``).
        root: torchvision root for mnist / fashion-mnist / cifar10
            (default ``$SNNSIM_DATA_ROOT`` or ``~/.cache/snnsim/data``).
        data_dir: IDX directory for mnist10k (default ``$SNNSIM_MNIST_DIR`` or
            :func:`default_mnist_dir`).
        download: let torchvision fetch missing files (needs internet).
        image_size: resize images to ``image_size x image_size`` (bilinear); digits
            default to 28, the others keep their native size.
        limit: keep only the first ``limit`` samples of each split.
    """
    if not isinstance(name, str):
        raise UserTypeError(f"dataset name must be a str, one of {DATASETS}; got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if image_size is not None:
        image_size = _check_positive_int(image_size, "image_size")
    if limit is not None:
        limit = _check_positive_int(limit, "limit")
    if key == "digits":
        return _load_digits(image_size, limit)
    if key == "mnist10k":
        return _load_mnist10k(data_dir, image_size, limit)
    root_path = Path(root).expanduser() if root is not None else default_data_root()
    if key == "cifar10":
        return _load_cifar10(root_path, download, image_size, limit)
    return _load_torchvision_mnist(key, root_path, download, image_size, limit)
