#!/bin/bash
# No-regression check (issue 29 item 4): density.py, conversion.py, simulate.py and recurrent.py of an
# earlier commit against this checkout, on the same machine, in alternating runs (base head head base)
# at 1 and 2 threads. Usage: benchmarks/regression_ab.sh BASE_COMMIT [OUT_DIR]
# The base runs from a temporary git worktree with this checkout's virtualenv; each run writes its JSON
# (CPU model, flags, load) to OUT_DIR as <benchmark>_<base|head>_<threads>_<n>.json.
set -euo pipefail
BASE=${1:?usage: benchmarks/regression_ab.sh BASE_COMMIT [OUT_DIR]}
HEAD_DIR=$(git rev-parse --show-toplevel)
OUT=${2:-$HEAD_DIR/benchmarks/results/regression_ab}
PY=$HEAD_DIR/.venv/bin/python
MNIST=${SNNSIM_MNIST_DIR:-$HEAD_DIR/../shared/data/mnist}
WT=$(mktemp -d)/base
git worktree add -q --detach "$WT" "$BASE"
trap 'git -C "$HEAD_DIR" worktree remove --force "$WT"' EXIT
mkdir -p "$OUT"
n=0
for th in 1 2; do
  for v in base head head base; do
    D=$([ "$v" = base ] && echo "$WT" || echo "$HEAD_DIR"); n=$((n + 1))
    echo "== $v ($(git -C "$D" rev-parse --short HEAD)) threads $th $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    cd "$D"
    export PYTHONPATH=$D SNNSIM_MNIST_DIR=$MNIST
    $PY -m benchmarks.density --threads $th --repeats 5 --densities 0.05 0.13 0.6 --no-events-only \
      --out "$OUT/density_${v}_${th}_$n.json" --png "$OUT/density_${v}_${th}_$n.png" | grep "^| 0"
    $PY -m benchmarks.conversion --threads $th --repeats 5 --out "$OUT/conversion_${v}_${th}_$n.json" | grep "ratios"
    $PY -m benchmarks.simulate --threads $th --repeats 5 --out "$OUT/simulate_${v}_${th}_$n.json" | grep "fast/bindsnet"
    $PY -m benchmarks.recurrent --threads $th --repeats 7 --out "$OUT/recurrent_${v}_${th}_$n.json" | grep "forward_vs"
  done
done
