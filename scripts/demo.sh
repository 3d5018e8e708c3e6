#!/usr/bin/env bash
# The CPU demo (`make demo`): render small shard sets, train stages 1 -> 2 -> 3 of the tiny model under
# deepspeed with 2 CPU processes, then evaluate on held-out rendered samples (docs/learning.md).
#   DEMO_PROCS (default 2), DEMO_FAST=1 (a smoke run: a few steps per stage). Everything goes under runs/demo,
#   where the demo's experiment files (configs/experiment/demo_*.yaml) read and write.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
shards="$out/shards"
procs="${DEMO_PROCS:-2}"
steps=() scale=1
[ "${DEMO_FAST:-0}" = 1 ] && steps=(train.max_steps=4 train.save_every=2) scale=8
start=$SECONDS
say() { printf '\n== %s (%ds)\n' "$1" $((SECONDS - start)); }

say "rendering shards into $shards"
render() { python data/render.py --quiet --workers 2 "$@"; }
render --types line --num $((8000 / scale)) --seed 0 --config configs/render/demo_lines.yaml --out "$shards/lines"
render --types line --num $((2000 / scale)) --seed 3 --config configs/render/demo_glyphs.yaml --out "$shards/glyphs"
render --types document,formula,table,chart,molecule,geometry --num $((160 / scale)) --seed 1 --config configs/render/demo_stage2.yaml --out "$shards/stage2"
render --types finegrained,multipage,multicrop --num $((48 / scale)) --seed 2 --config configs/render/demo_stage3.yaml --out "$shards/stage3"
render --types line --num $((128 / scale)) --seed 1000 --config configs/render/demo_lines.yaml --out "$shards/heldout_lines"
render --types finegrained,multipage,multicrop --num $((24 / scale)) --seed 1001 --config configs/render/demo_stage3.yaml --out "$shards/heldout_mixed"

launch() { if [ "$procs" -gt 1 ]; then deepspeed --num_gpus "$procs" train/train.py "$@"; else python train/train.py "$@"; fi; }
# Each run is one experiment file (configs/experiment/demo_*.yaml). Stage 1 is a glyph warm-up (encoder and
# projector still frozen), then lines; the no-image baseline is the same two runs with zeros in place of the
# image features (docs/learning.md).
for run in stage1_glyphs stage1 stage1_noimage_glyphs stage1_noimage stage2 stage3; do
  say "$run"
  launch "+experiment=demo_$run" "${steps[@]}"
done

say "evaluating on held-out samples"
evaluate() { python eval/evaluate.py "model=$out/$1/final" "data=$shards/$2" "out=$out/eval/$3" progress=false "${@:4}"; }
evaluate stage1 heldout_lines stage1_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage1_noimage heldout_lines stage1_noimage_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage3 heldout_lines stage3_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage3 heldout_mixed stage3_mixed max_new_tokens=256
python scripts/demo_report.py "$out"
say "done"
