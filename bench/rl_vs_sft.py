"""Does stage 4 (GRPO) beat more supervised training? From one checkpoint, run stage 4 and, as the control, continued
supervised training on the same data for the same wall time; then read held-out sets greedily with the start, the
RL and the SFT model and score each answer with the stage-4 rewards (docs/rl.md).

    python bench/rl_vs_sft.py [--rl demo_stage4] [--sft demo_stage3] [--procs 2] [--data GLOB ...]
        [--rl-args KEY=VALUE ...] [--out bench/results/rl_vs_sft.json]

Both runs start from the RL experiment's init.model_from (the demo's final model: run `make demo` first) and go
through the ordinary `train/train.py`, under deepspeed with --procs CPU processes. The control is the SFT
experiment with init.model_from set to that checkpoint and as many steps as fit the RL run's wall time, from the
SFT experiment's own start-up and time per step, from runs of 10 and 40 steps; the control's steps are then
corrected from its own time until the two wall times agree within 10 % (at most 3 more runs). Both are reported
as measured.
Held-out: --data (default: the demo's held-out lines, markdown lines and box-guided lines). Per model: mean total reward (the RL experiment's weights),
each reward's mean, the looping rate (answers that ran out of tokens in a loop), the share that stopped with
<|im_end|>, and edit distance.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from got.eval.generate import GOTEngine  # noqa: E402
from got.eval.inputs import read_inputs  # noqa: E402
from got.infer.api import batches, load  # noqa: E402
from got.train.rewards import RewardConfig, Rollout, score, similarity  # noqa: E402

OUT = ROOT / "runs" / "rl_vs_sft"
CALIBRATION_STEPS = 10
MATCH, TRIES = 0.10, 3  # the control's wall time within 10 % of the RL run's, in at most 3 corrections
HELD_OUT = ("lines", "markdown", "finegrained")


def experiment(name: str) -> dict:
    """The experiment file's own settings (no defaults list): what this bench reads from it."""
    cfg = OmegaConf.load(ROOT / "configs" / "experiment" / f"{name}.yaml")
    return OmegaConf.to_container(cfg, resolve=True)


def train(name: str, out: Path, procs: int, overrides: list[str]) -> float:
    """One run of train/train.py; its wall time in seconds. Output goes to out/train.log."""
    out.mkdir(parents=True, exist_ok=True)
    launcher = ["deepspeed", "--num_gpus", str(procs)] if procs > 1 else [sys.executable]
    argv = [*launcher, "train/train.py", f"+experiment={name}", f"train.out_dir={out}", *overrides]
    start = time.perf_counter()
    with open(out / "train.log", "w") as log:
        result = subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode:
        sys.exit(f"rl_vs_sft: {name} failed, see {out / 'train.log'}")
    return time.perf_counter() - start


def read_held_out(model_dir: Path, data: list[str], rewards: RewardConfig, max_new_tokens: int) -> dict:
    engine = GOTEngine(load(model_dir), max_new_tokens=max_new_tokens, no_repeat_ngram_size=0, cut_loops=False)
    rows = []
    for pattern in data:
        for batch in batches(read_inputs(pattern, Counter()), 16):
            for item, reading in zip(batch, engine(batch)):
                out = Rollout(reading.text, stopped=reading.new_tokens < max_new_tokens)
                rows.append(
                    {
                        **score(item.sample, out, rewards),
                        "looping": float(reading.looping),
                        "stopped": float(out.stopped),
                        "edit_dist": 1.0 - similarity(item.sample, out),
                    }
                )
    keys = sorted({k for r in rows for k in r})
    return {
        "n": len(rows),
        **{k: round(sum(r[k] for r in rows if k in r) / sum(k in r for r in rows), 4) for k in keys},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rl", default="demo_stage4")
    ap.add_argument("--sft", default="demo_stage3")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--data", nargs="+", default=[f"runs/demo/shards/heldout_{s}/*.tar" for s in HELD_OUT])
    ap.add_argument("--rl-args", nargs="*", default=[], help="overrides for the RL run only, e.g. optim.lr=1e-4")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rl_vs_sft.json")
    args = ap.parse_args()
    rl = experiment(args.rl)
    start = Path(rl["init"]["model_from"])
    if not (ROOT / start / "config.json").is_file():
        sys.exit(f"rl_vs_sft: no checkpoint at {start} (the RL experiment's init.model_from): run `make demo` first")
    shutil.rmtree(OUT, ignore_errors=True)
    common = [f"init.model_from={start}", "eval.every=0", "train.save_every=1000000"]

    rl_seconds = train(args.rl, OUT / "rl", args.procs, [*common, *args.rl_args])
    # the control's steps: start-up and time per step from two short runs, then corrected from the control's own
    # wall time (start-up varies by seconds between runs, so one estimate can be far off)
    short, longer = (
        train(args.sft, OUT / f"calibrate{n}", args.procs, [*common, f"train.max_steps={n}"])
        for n in (CALIBRATION_STEPS, 4 * CALIBRATION_STEPS)
    )
    per_step = max(longer - short, 1.0) / (3 * CALIBRATION_STEPS)
    startup = short - CALIBRATION_STEPS * per_step
    sft_steps, sft_seconds = 0, 0.0
    for _ in range(1 + TRIES):
        sft_steps = max(1, round((rl_seconds - startup) / per_step))
        shutil.rmtree(OUT / "sft", ignore_errors=True)
        sft_seconds = train(args.sft, OUT / "sft", args.procs, [*common, f"train.max_steps={sft_steps}"])
        if abs(sft_seconds - rl_seconds) <= MATCH * rl_seconds:
            break
        per_step = max(sft_seconds - startup, 1.0) / sft_steps

    rewards = RewardConfig(**rl["rl"]["rewards"])
    data = args.data
    max_new_tokens = rl["rl"]["max_new_tokens"]
    models = {"start": ROOT / start, "rl": OUT / "rl" / "final", "sft": OUT / "sft" / "final"}
    held_out = {name: read_held_out(path, data, rewards, max_new_tokens) for name, path in models.items()}
    result = {
        "start": str(start),
        "rl": {
            "experiment": args.rl,
            "seconds": round(rl_seconds, 1),
            "steps": rl["train"]["max_steps"],
            "overrides": args.rl_args,
        },
        "sft": {"experiment": args.sft, "seconds": round(sft_seconds, 1), "steps": sft_steps},
        "held_out_data": data,
        "max_new_tokens": max_new_tokens,
        "reward_weights": rewards.weights,
        "held_out": held_out,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"RL {rl_seconds:.0f} s ({rl['train']['max_steps']} steps), SFT {sft_seconds:.0f} s ({sft_steps} steps)")
    cols = ["total", "similarity", "stop", "looping", "edit_dist"]
    print(f"{'model':<8}{'n':>5}" + "".join(f"{c:>12}" for c in cols))
    for name, m in held_out.items():
        print(f"{name:<8}{m['n']:>5}" + "".join(f"{m.get(c, float('nan')):>12.3f}" for c in cols))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
