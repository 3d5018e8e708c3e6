#!/usr/bin/env bash
# The CPU demo (`make demo`): render small shard sets, train stages 1 -> 2 -> 3 of the tiny model under
# deepspeed with 2 CPU processes, then evaluate on held-out rendered samples (docs/learning.md).
#   DEMO_DIR (default runs/demo), DEMO_PROCS (default 2), DEMO_FAST=1 (a smoke run: a few steps per stage)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${DEMO_DIR:-runs/demo}"
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

launch() { if [ "$procs" -gt 1 ]; then deepspeed --num_gpus "$procs" "$@"; else python "$@"; fi; }
sets() { python -c 'import sys; print("[" + ", ".join(f"{{name: {n}, urls: [{sys.argv[1]}/{n}/*.tar], weight: {w}}}" for n, w in (a.split("=") for a in sys.argv[2:])) + "]")' "$shards" "$@"; }
# Stage 1 is a glyph warm-up (encoder and projector still frozen), then lines (docs/learning.md); the no-image
# baseline is the same two runs with zeros in place of the image features.
for run in stage1 stage1_noimage; do
  blind=$( [ $run = stage1_noimage ] && echo true || echo false )
  say "$run: glyph warm-up"
  launch train/stage1.py +experiment=cpu_tiny "train.out_dir=$out/${run}_glyphs" "data.sets=$(sets glyphs=1.0)" \
    model.zero_image_features=$blind train.max_steps=150 optim.delay.vision=150 optim.delay.projector=150 "${steps[@]}"
  say "$run: lines"
  launch train/stage1.py +experiment=cpu_tiny "train.out_dir=$out/$run" "data.sets=$(sets lines=1.0)" \
    model.zero_image_features=$blind "init.model_from=$out/${run}_glyphs/final" \
    eval.every=100 "eval.data=[$shards/heldout_lines/*.tar]" eval.num_samples=64 eval.max_new_tokens=12 "${steps[@]}"
done
for stage in 2 3; do
  say "stage $stage"
  launch "train/stage$stage.py" +experiment=cpu_tiny "train.out_dir=$out/stage$stage" \
    "init.encoder_from=$( [ $stage = 2 ] && echo "$out/stage1/final" || echo null )" \
    "init.model_from=$( [ $stage = 3 ] && echo "$out/stage2/final" || echo null )" \
    "data.sets=$( [ $stage = 2 ] && sets lines=0.8 stage2=0.2 || sets lines=0.8 stage3=0.2 )" "${steps[@]}"
done

say "evaluating on held-out samples"
evaluate() { python eval/evaluate.py "model=$out/$1/final" "data=$shards/$2" "out=$out/eval/$3" progress=false "${@:4}"; }
evaluate stage1 heldout_lines stage1_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage1_noimage heldout_lines stage1_noimage_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage3 heldout_lines stage3_lines max_new_tokens=12 no_repeat_ngram_size=0
evaluate stage3 heldout_mixed stage3_mixed max_new_tokens=256
python scripts/demo_report.py "$out"
say "done"
