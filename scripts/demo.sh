#!/usr/bin/env bash
# The CPU demo (`make demo`): render small shard sets, train stages 1 -> 2 -> 3 of the tiny model under
# deepspeed with 2 CPU processes, then evaluate on held-out rendered samples (docs/demo.md).
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
render --types line --num $((4000 / scale)) --seed 0 --config configs/render/demo_lines.yaml --out "$shards/lines"
render --types document,formula,table,chart,molecule,geometry --num $((160 / scale)) --seed 1 --config configs/render/demo_stage2.yaml --out "$shards/stage2"
render --types finegrained,multipage,multicrop --num $((48 / scale)) --seed 2 --config configs/render/demo_stage3.yaml --out "$shards/stage3"
render --types line --num $((64 / scale)) --seed 1000 --config configs/render/demo_lines.yaml --out "$shards/heldout_lines"
render --types finegrained,multipage,multicrop --num $((24 / scale)) --seed 1001 --config configs/render/demo_stage3.yaml --out "$shards/heldout_mixed"

launch() { if [ "$procs" -gt 1 ]; then deepspeed --num_gpus "$procs" "$@"; else python "$@"; fi; }
for stage in 1 2 3; do
  say "stage $stage"
  launch "train/stage$stage.py" +experiment=cpu_tiny "train.out_dir=$out/stage$stage" \
    "init.encoder_from=$( [ $stage = 2 ] && echo "$out/stage1/final" || echo null )" \
    "init.model_from=$( [ $stage = 3 ] && echo "$out/stage2/final" || echo null )" \
    "data.sets=$(python - "$stage" "$shards" <<'PY'
import sys
stage, shards = sys.argv[1], sys.argv[2]
sets = {"1": [("lines", 1.0)], "2": [("lines", 0.8), ("stage2", 0.2)], "3": [("lines", 0.8), ("stage3", 0.2)]}[stage]
print("[" + ", ".join(f"{{name: {n}, urls: [{shards}/{n}/*.tar], weight: {w}}}" for n, w in sets) + "]")
PY
)" "${steps[@]}"
done

say "evaluating on held-out samples"
python eval/evaluate.py "model=$out/stage1/final" "data=$shards/heldout_lines" "out=$out/eval/stage1_lines" \
  max_new_tokens=24 no_repeat_ngram_size=0 progress=false
python eval/evaluate.py "model=$out/stage3/final" "data=$shards/heldout_lines" "out=$out/eval/stage3_lines" \
  max_new_tokens=24 no_repeat_ngram_size=0 progress=false
python eval/evaluate.py "model=$out/stage3/final" "data=$shards/heldout_mixed" "out=$out/eval/stage3_mixed" \
  max_new_tokens=256 progress=false
python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"\n{'model':<8}{'held-out set':<14}{'task':<10}{'n':>5}{'edit dist':>11}{'F1':>8}{'BLEU':>8}")
for run in ("stage1_lines", "stage3_lines", "stage3_mixed"):
    metrics = json.loads((out / "eval" / run / "metrics.json").read_text())
    for task, m in metrics["by_task"].items():
        s = m["macro"]
        print(f"{run.split('_')[0]:<8}{run.split('_', 1)[1]:<14}{task:<10}{m['n']:>5}{s['edit_dist']:>11.3f}{s['f1']:>8.3f}{s['bleu']:>8.3f}")
print(f"\nreports: {out}/eval/*/report.html")
PY
say "done"
