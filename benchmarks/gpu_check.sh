#!/usr/bin/env bash
# GPU readiness: the CUDA tests and the benchmarks that take --device, on this machine's GPU.
#
#   bash benchmarks/gpu_check.sh            (from the repository root; PY=... to pick the python,
#                                            GPU_OUT=... for the results folder)
#
# 1. every test whose name mentions cuda (they skip without a GPU): tests/engine/test_cuda.py
#    (each training method, the engines, both linear paths, the event conv, segmented BPTT and
#    train --device cuda against the CPU), and the cuda tests in tests/engine/test_properties.py,
#    tests/encoders/test_encoders.py, tests/core/test_density.py, tests/cli;
# 2. benchmarks/density.py --device cuda --calibrate (snnsim against SpikingJelly and snnTorch,
#    BPTT step and forward over densities; the calibrated event/dense crossovers in the JSON);
# 3. benchmarks/train.py --device cuda (one BPTT step of LIF 784-800-10 against the peers);
# 4. benchmarks/fastsnn.py --device cuda (FastSNN against sequential and multi-step LIF);
# 5. benchmarks/gpu_profile.py (torch.profiler of one forward and one BPTT step, snnsim and SpikingJelly);
# 6. benchmarks/conv_train.py --device cuda --forward (one BPTT step, and the forward pass alone, of the LIF LeNet and the tdBN ResNet-19
#    against SpikingJelly and snnTorch, snnsim eager and replayed from a CUDA graph).
# density.py and conv_train.py add ``snnsim_graphed`` on CUDA (snnsim.engine.cuda_graph.Graphed).
# JSON, plots and the pytest report go to $GPU_OUT (default benchmarks/results/gpu/). A failing
# step does not stop the others; the exit status is the last failure's. Without CUDA it says so
# and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${GPU_OUT:-benchmarks/results/gpu}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing to check, exit 0"
    exit 0
fi
mkdir -p "$OUT"
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__, "CUDA", torch.version.cuda)'

status=0
step() {  # step NAME COMMAND...: run, time and report one step, remember a failure
    local name=$1; shift
    local t0=$SECONDS
    echo "== gpu_check: $name"
    "$@"
    local rc=$?
    echo "== gpu_check: $name exit $rc ($((SECONDS - t0)) s)"
    [ $rc -eq 0 ] || status=$rc
}
step "CUDA tests" "$PY" -m pytest -q -rs -k cuda -p no:cacheprovider --junitxml="$OUT/cuda_tests.xml" tests
step "density" "$PY" benchmarks/density.py --threads "${THREADS:-$(nproc)}" --device cuda --calibrate \
    --repeats 7 --out "$OUT/density.json" --png "$OUT/density_speedup.png"
step "train" "$PY" benchmarks/train.py --threads "${THREADS:-$(nproc)}" --device cuda --steps 30 \
    --out "$OUT/train.json"
step "fastsnn" "$PY" benchmarks/fastsnn.py --device cuda --n 200,1000 --T 8,32,128,512 --repeats 5 \
    --out "$OUT/fastsnn.json" --png "$OUT/fastsnn_speedup.png"
step "profile" "$PY" benchmarks/gpu_profile.py --device cuda --out "$OUT/profile.json"
step "conv_train" "$PY" -m benchmarks.conv_train --threads "${THREADS:-$(nproc)}" --device cuda --repeats 7 --forward \
    --out "$OUT/conv_train.json"
echo "gpu_check: results in $OUT (exit $status)"
exit $status
