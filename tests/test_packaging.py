"""A built wheel holds every subpackage and runs without the source tree (issue 14, item 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import snnsim

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("snnsim", "networks", "encoders", "analysis")


def _copy_source(dest: Path) -> Path:
    """The files a ``pip install .`` reads, copied so the build leaves no build/ or egg-info here."""
    dest.mkdir()
    for name in ("setup.py", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _installed_python(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -S ARGS`` seeing the wheel's files in ``site`` and the venv's third-party
    packages, but not the editable install (its finder is set up by a .pth file, skipped by -S)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_installs_every_subpackage_and_runs(tmp_path: Path) -> None:
    src = _copy_source(tmp_path / "src")
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("snnsim-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, capture_output=True, timeout=300
    )

    probe = _installed_python(
        site,
        "-c",
        "import snnsim, snnsim.cli, snnsim.engine, snnsim.training, "
        "snnsim.methods.conversion, snnsim.methods.ttfs, snnsim.methods, networks, encoders, "
        "analysis; print(snnsim.__file__)",
        cwd=work,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(site.resolve())

    script = _installed_python(site, str(site / "bin" / "snnsim"), "--help", cwd=work)
    assert script.returncode == 0, script.stderr
    assert "simulate" in script.stdout
    version = _installed_python(site, "-m", "snnsim", "--version", cwd=work)
    assert version.stdout.strip() == f"snnsim {snnsim.__version__}", version.stderr

    sim = _installed_python(
        site,
        "-m",
        "snnsim",
        "simulate",
        "--net",
        "fc",
        "--limit",
        "8",
        "--timesteps",
        "5",
        "--batch-size",
        "8",
        "--no-progress",
        "--out",
        "run",
        cwd=work,
    )
    assert sim.returncode == 0, sim.stderr
    assert (work / "run" / "report.json").is_file()

    # the C kernels' sources ship in the wheel and compile from the installed copy
    kernels = _installed_python(
        site,
        "-c",
        "from snnsim.native import build, events, fastsnn, lif; "
        "print(build.CSRC, events.native_status(), lif.native_status(), "
        "fastsnn.native_status())",
        cwd=work,
    )
    assert kernels.returncode == 0, kernels.stderr
    csrc, *status = kernels.stdout.split()
    assert Path(csrc).resolve().is_relative_to(site.resolve())
    assert status == ["loaded"] * 3, kernels.stdout
