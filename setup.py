"""Installer for snnsim: spiking neural networks on BindsNET and PyTorch."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
#: The one version constant lives in snnsim/__init__.py (``snnsim --version`` prints it).
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "snnsim" / "__init__.py").read_text(), re.M).group(1)

setup(
    name="snnsim",
    version=VERSION,
    description=(
        "Spiking neural networks on BindsNET: ANN-to-SNN conversion, spike-based "
        "backpropagation, STBP-tdBN, TTFS and FastSNN, with analysis tools."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.10",
    # every subpackage (snnsim.core, .engine, .methods.*, .cli, ...)
    packages=find_packages(
        include=[f"{top}{sub}" for top in ("snnsim", "networks", "encoders", "analysis") for sub in ("", ".*")]
    ),
    package_data={"snnsim.native": ["csrc/*.c", "csrc/*.h"]},  # the native kernels, compiled at first use
    install_requires=[
        "bindsnet>=0.3.4",
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy>=1.24",
        "matplotlib>=3.7",
        "scikit-learn>=1.3",
        "tqdm>=4.60",
        "jsonschema>=4.18",
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6", "selenium>=4.10", "ruff>=0.17", "import-linter>=2.16"],
        "datasets": ["tonic>=1.4", "h5py>=3.8"],  # N-MNIST/SHD through tonic; SHD .h5 files
        "bench": ["snntorch>=0.9", "spikingjelly>=0.0.0.0.14"],
        "tensorboard": ["tensorboard>=2.14"],
        "nir": ["nir>=1.0"],
        "viewer": ["plotly>=6"],  # snnsim view --html, analysis.view
    },
    entry_points={"console_scripts": ["snnsim=snnsim.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
