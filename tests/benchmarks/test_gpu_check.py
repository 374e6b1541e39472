"""benchmarks/gpu_check.sh: without CUDA it says so and exits 0 before running anything; its steps
name only benchmark options that exist."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_says_so_and_exits_0(tmp_path):
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PY": sys.executable, "GPU_OUT": str(tmp_path / "gpu")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device" in proc.stdout
    assert not (tmp_path / "gpu").exists()


@pytest.mark.parametrize("bench", ["density", "train", "fastsnn", "gpu_profile"])
def test_each_step_uses_existing_options(bench, capsys):
    """Every --option the script passes to a benchmark is one that benchmark's parser knows."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith("step ") and f"benchmarks/{bench}.py" in ln)
    options = set(re.findall(r"(--[a-z][a-z-]*)", line.split(f"benchmarks/{bench}.py", 1)[1]))
    module = importlib.import_module(f"benchmarks.{bench}")
    with pytest.raises(SystemExit):
        module.main(["--help"])
    helptext = capsys.readouterr().out
    assert options and options <= set(re.findall(r"(--[a-z][a-z-]*)", helptext)), (options, helptext)
