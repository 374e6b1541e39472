"""``--help``, ``--version`` and argument errors load no torch or BindsNET (issue 14, items 6
and 10); the light name lists of the parsers match the registries they stand for."""

from __future__ import annotations

import subprocess
import sys

import pytest

import snnsim
from snnsim import names

HEAVY = ("torch", "bindsnet", "torchvision", "matplotlib", "numpy")

PROBE = """
import sys
from snnsim.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    print("exit", stop.code)
print("heavy", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def _probe(*argv: str) -> subprocess.CompletedProcess:
    """Run the CLI with ``argv`` in a fresh interpreter; stdout ends with the heavy modules loaded."""
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--help"], 0),
        (["--version"], 0),
        (["simulate", "--help"], 0),
        (["train", "--help"], 0),
        (["simulate", "--out", "x", "--timesteps", "0"], 2),
        (["train", "--method", "nope", "--out", "x"], 2),
        (["frobnicate"], 2),
        ([], 2),
    ],
)
def test_help_version_and_argument_errors_import_no_torch(argv: list[str], code: int) -> None:
    done = _probe(*argv)
    lines = done.stdout.strip().splitlines()
    assert lines[-2] == f"exit {code}", done.stdout + done.stderr
    assert lines[-1] == "heavy []", done.stdout


def test_version_prints_the_package_version() -> None:
    done = subprocess.run([sys.executable, "-m", "snnsim", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"snnsim {snnsim.__version__}"


def test_help_shows_defaults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "snnsim", "train", "--help"], capture_output=True, text=True, timeout=120
    )
    text = " ".join(done.stdout.split())
    # options whose help did not state their default before: now each says it
    assert "learning rate (default: 0.001)" in text
    assert "training epochs (default: 10)" in text
    assert "optimiser (default: adam)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_name_lists_match_the_registries() -> None:
    """Every provider loaded first: the registries fill lazily, so run alone (without earlier
    tests having loaded the methods) this compared against half-empty registries and failed."""
    import importlib

    import encoders
    import networks
    from snnsim import plugins
    from snnsim.training import RULES
    from snnsim.training.ann import ANNS

    for kind in ("rule", "encoder", "network", "ann"):
        for name in plugins.names(kind):
            importlib.import_module(plugins.module_of(kind, name))

    assert names.ANN_NAMES == tuple(sorted(ANNS))
    assert names.NETWORK_NAMES == tuple(sorted(networks.SPECS))
    assert names.ENCODER_NAMES == tuple(sorted(encoders.ENCODERS))
    assert names.RULE_NAMES == tuple(sorted(RULES))
