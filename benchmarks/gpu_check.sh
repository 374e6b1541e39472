#!/usr/bin/env bash
# GPU readiness: the CUDA tests and the benchmarks that take --device, on this machine's GPU.
#
#   bash benchmarks/gpu_check.sh            (from the repository root; PY=... to pick the python)
#
# Runs every test whose name mentions cuda (they skip without a GPU: tests/engine/test_properties.py,
# tests/encoders/test_encoders.py, tests/core/test_density.py, tests/cli/test_simulate.py), then
# benchmarks/density.py --device cuda (the other benchmarks have no --device option: CPU only),
# writing JSON, the pytest report and the plot under benchmarks/results/gpu/.
# Without CUDA it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=benchmarks/results/gpu

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing to check, exit 0"
    exit 0
fi
mkdir -p "$OUT"
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__)'

status=0
"$PY" -m pytest -q -rs -k cuda -p no:cacheprovider --junitxml="$OUT/cuda_tests.xml" tests || status=$?

"$PY" benchmarks/density.py --threads "${THREADS:-$(nproc)}" --device cuda --calibrate \
    --out "$OUT/density.json" --png "$OUT/density_speedup.png" || status=$?

echo "gpu_check: results in $OUT (exit $status)"
exit $status
