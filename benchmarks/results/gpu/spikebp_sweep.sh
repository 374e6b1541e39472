#!/usr/bin/env bash
# spike-BP LeNet, 3 epochs, configs x seeds, all at once on the GPU; one summary line per run
D=/tmp/sweep; mkdir -p $D
base="--method spikebp --net lenet --epochs 3 --batch-size 32 --schedule cosine --batchnorm --set eval_timesteps=100 --dataset mnist10k --device cuda --threads 1 --no-progress"
declare -A C=( [base]="-T 30 --lr 2e-3" [lr1]="-T 30 --lr 1e-3" [T50]="-T 50 --lr 2e-3" [d01]="-T 30 --lr 2e-3 --dropout 0.1" )
for c in "${!C[@]}"; do for s in 0 1 2; do
  ( timeout 175 python3 -m snnsim train $base ${C[$c]} --seed $s --out $D/$c$s 2>&1 | sed -u "s/^/$c$s /" >> $OUT/sweep_all.log ) &
done; done
wait
for c in "${!C[@]}"; do for s in 0 1 2; do echo "== $c seed $s: ${C[$c]}"; grep "^$c$s " $OUT/sweep_all.log | grep -E "epoch|accuracy|rror" | tail -4; done; done
