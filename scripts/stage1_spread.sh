#!/usr/bin/env bash
# The spread of the demo's stage 1 (docs/learning.md): the glyph warm-up and stage 1 again with other seeds
# (train.seed: the initial weights; the samples' order, data.seed, stays the demo's), on the demo's shards, each
# evaluated on the held-out lines like the demo.
#   bash scripts/stage1_spread.sh [SEED ...]   (default 1 2; run `make demo` first, which is seed 0)
set -euo pipefail
cd "$(dirname "$0")/.."
demo=runs/demo procs="${DEMO_PROCS:-2}"
[ -d "$demo/shards/heldout_lines" ] || { echo "stage1_spread: run make demo first (no $demo/shards)"; exit 1; }
seeds=("$@") && [ ${#seeds[@]} -gt 0 ] || seeds=(1 2)
for seed in "${seeds[@]}"; do
  out=runs/spread/seed$seed && rm -rf "$out" && mkdir -p "$out"
  for run in stage1_glyphs stage1; do
    from=$([ "$run" = stage1 ] && echo "init.model_from=$out/stage1_glyphs/final" || echo "init.model_from=null")
    deepspeed --num_gpus "$procs" train/train.py "+experiment=demo_$run" "train.seed=$seed" "$from" \
      "train.out_dir=$out/$run" >"$out/$run.log" 2>&1 || { echo "stage1_spread: see $out/$run.log"; exit 1; }
  done
  python eval/evaluate.py "model=$out/stage1/final" "data=$demo/shards/heldout_lines" "out=$out/eval" progress=false \
    max_new_tokens=12 no_repeat_ngram_size=0 | tail -n 1
done
