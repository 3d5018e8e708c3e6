#!/usr/bin/env bash
# The CPU demo (`make demo`): render small shard sets, train stages 1 -> 2 -> 3 of the tiny model under deepspeed
# with 2 CPU processes, and a no-image baseline, then evaluate every stage's model on held-out rendered samples
# beside the baseline (docs/learning.md).
#   DEMO_PROCS (default 2), DEMO_FAST=1 (a smoke run: a few steps per stage). Everything goes under runs/demo,
#   where the demo's experiment files (configs/experiment/demo_*.yaml) read and write; the launcher's and each
#   rank's logs go to runs/demo/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
shards="$out/shards" logs="$out/logs"
procs="${DEMO_PROCS:-2}"
steps=() scale=1
[ "${DEMO_FAST:-0}" = 1 ] && steps=(train.max_steps=4 train.save_every=2 eval.every=2) scale=8
rm -rf "$out" && mkdir -p "$logs"
start=$SECONDS
say() { printf '%-28s %s (%ds)\n' "$1" "$2" $((SECONDS - start)); }
# a failed step shows the end of its log, which holds the whole story
run_logged() {
  local name=$1 && shift
  "$@" >"$logs/$name.log" 2>&1 || { tail -n 30 "$logs/$name.log"; echo "demo: $name failed, see $logs/$name.log"; exit 1; }
}

render() { run_logged "render_$1" python data/render.py --quiet --workers 2 --out "$shards/$1" "${@:2}"; }
render lines --types line --num $((8000 / scale)) --seed 0 --config configs/render/demo_lines.yaml
render glyphs --types line --num $((2000 / scale)) --seed 3 --config configs/render/demo_glyphs.yaml
render markdown --types line --num $((3000 / scale)) --seed 4 --config configs/render/demo_markdown.yaml
render finegrained --types finegrained --num $((3000 / scale)) --seed 5 --config configs/render/demo_finegrained.yaml
render stage2 --types document,formula,table,chart,molecule,geometry --num $((64 / scale)) --seed 1 --config configs/render/demo_stage2.yaml
render stage3 --types multipage,multicrop --num $((24 / scale)) --seed 2 --config configs/render/demo_stage3.yaml
render heldout_lines --types line --num $((128 / scale)) --seed 1000 --config configs/render/demo_lines.yaml
render heldout_markdown --types line --num $((64 / scale)) --seed 1001 --config configs/render/demo_markdown.yaml
render heldout_finegrained --types finegrained --num $((64 / scale)) --seed 1002 --config configs/render/demo_finegrained.yaml
say "rendered" "shards in $shards"

launch() {
  if [ "$procs" -gt 1 ]; then deepspeed --num_gpus "$procs" --enable_each_rank_log "$logs/ranks_$run" train/train.py "$@"
  else python train/train.py "$@"; fi
}
# Each run is one experiment file (configs/experiment/demo_*.yaml): a glyph warm-up, then stage 1 on lines,
# stage 2 and stage 3, each from the previous one's final model; and the no-image baseline (docs/learning.md).
for run in stage1_glyphs stage1 stage2 stage3 noimage; do
  run_logged "$run" launch "+experiment=demo_$run" "${steps[@]}"
  say "$run" "$(python scripts/demo_report.py --progress "$out/$run")"
done

run_logged evaluate python scripts/demo_report.py --evaluate "$out"
say "evaluated" "held-out sets"
python scripts/demo_report.py "$out"
