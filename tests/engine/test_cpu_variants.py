"""The engine-equivalence tests pass whatever kernels the CPU gives torch and oneDNN.

Each variant runs the equivalence tests in a fresh interpreter (the variables are read
when torch loads) with one of ``ATEN_CPU_CAPABILITY=default|avx2|avx512`` (torch's own
vectorised kernels) or ``ONEDNN_MAX_CPU_ISA=AVX2`` (convolutions), so an AVX-512 machine
checks what an AVX2 or older one computes and vice versa (README "Engine equivalence").
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the tests comparing the two engines (fast ones only: all variants take ~1 min on 2 cores)
EQUIVALENCE_TESTS = [
    "tests/engine/test_engines.py::test_fc_engines_identical_poisson",
    "tests/engine/test_engines.py::test_scnn_engines_agree",
    "tests/engine/test_engines.py::test_maxpool_lif_integrator_and_current_input_agree",
    "tests/engine/test_properties.py::test_engines_agree_on_random_networks",
    "tests/core/test_dtype.py::test_float64_conv_network_simulates_in_both_engines",
    "tests/methods/fastsnn/test_layer.py::test_engines_agree_on_a_three_layer_net_and_peak_readout",
]
_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
_LEVELS = ["DEFAULT", "AVX2", "AVX512"]  # x86-64 capabilities of torch, lowest first
_RUN = (
    "import sys, torch, pytest; print('capability', torch.backends.cpu.get_cpu_capability()); "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


VARIANTS = [
    ("ATEN_CPU_CAPABILITY", "default"),
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("ATEN_CPU_CAPABILITY", "avx512"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
]


@pytest.fixture(scope="module")
def variant_runs(tmp_path_factory):
    """Start every variant at once (each on its share of the cores: interpreter start-up is
    most of the time); yields variant -> (process, output file)."""
    out_dir = tmp_path_factory.mktemp("cpu_variants")
    threads = str(max(1, (os.cpu_count() or 1) // len(VARIANTS)))
    runs = {}
    for variable, value in VARIANTS:
        env = {k: v for k, v in os.environ.items() if k not in _VARIABLES}
        env.update({variable: value, "OMP_NUM_THREADS": threads})
        log = out_dir / f"{variable}-{value}.log"
        with open(log, "w") as fh:
            cmd = [sys.executable, "-c", _RUN, "-q", "-x", "-p", "no:cacheprovider", *EQUIVALENCE_TESTS]
            runs[variable, value] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT), log)
    yield runs
    for proc, _ in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("variable, value", VARIANTS)
def test_engine_equivalence_under_cpu_variant(variant_runs, variable, value):
    proc, log = variant_runs[variable, value]
    proc.wait(timeout=900)
    out = log.read_text()
    assert proc.returncode == 0, f"{variable}={value}:\n{out[-3000:]}"
    cap = out.split("capability ", 1)[1].split()[0]
    if variable == "ATEN_CPU_CAPABILITY" and cap in _LEVELS:  # the variable took effect (a cap)
        assert _LEVELS.index(cap) <= _LEVELS.index(value.upper()), out[:200]
    assert " passed" in out and "skipped" not in out, out[-500:]  # every test ran
