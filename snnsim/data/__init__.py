"""Datasets: the embedded digits (offline default), MNIST (IDX files), CIFAR-10 and event data.

- :mod:`.datasets`: ``load_dataset(name, ...)`` -> :class:`Dataset` (train/test :class:`Split`).
- :mod:`.idx`: read and write IDX files (MNIST's format).
- :mod:`.events`: event-camera and spike datasets (N-MNIST, SHD) as event arrays.
"""

from snnsim.data.datasets import (
    DATASETS,
    DIGITS_SPLIT_SEED,
    DIGITS_TEST_SIZE,
    MNIST10K_FILES,
    MNIST10K_SPLIT_SEED,
    Dataset,
    Split,
    default_data_root,
    default_mnist_dir,
    load_dataset,
    read_idx,
    write_idx,
)

__all__ = [
    "DATASETS",
    "DIGITS_SPLIT_SEED",
    "DIGITS_TEST_SIZE",
    "MNIST10K_FILES",
    "MNIST10K_SPLIT_SEED",
    "Dataset",
    "Split",
    "default_data_root",
    "default_mnist_dir",
    "load_dataset",
    "read_idx",
    "write_idx",
]
