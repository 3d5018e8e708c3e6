"""Reward cost per call, on rendered samples of every type the rewards know: each reward of got.train.rewards, and
all that apply (`all`, in score()'s order, so `repetition` reuses the value `stop` computed), on the label itself,
on the label with 10% of its characters replaced, cut in half, and stuck in a loop of 10k repeated tokens. Engine
children (MathJax, verovio) are started before timing; their time is in the wall-clock figures.

    python bench/rewards.py             # 20 samples per type
    python bench/rewards.py --num 5
Writes bench/results/rewards.json.
"""

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from got.render import render, sample_rng  # noqa: E402
from got.train.rewards import REWARDS, Rollout  # noqa: E402

TYPES = ("molecule", "music", "formula", "chart", "table", "finegrained", "document")


def variants(label: str, rng: random.Random) -> dict[str, str]:
    chars = list(label)
    for i in rng.sample(range(len(chars)), len(chars) // 10):
        chars[i] = rng.choice(label)
    loop = f"{rng.random()}" + " the" * 10000  # a new string each time: no cache hit
    return {"label": label, "edited": "".join(chars), "half": label[: len(label) // 2], "loop_10k": loop}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=20, help="samples per type")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "rewards.json"))
    args = p.parse_args()
    rng = random.Random(0)
    times: dict[str, dict[str, list[float]]] = {}
    for name in TYPES:
        samples = [render(name, sample_rng(0, i)) for i in range(args.num)]
        for fn in REWARDS.values():
            fn(samples[0], Rollout(samples[0].text, True))  # warm-up: engine children, label caches
        for sample in samples:
            for kind, text in variants(sample.text, rng).items():
                total = 0.0
                for reward, fn in REWARDS.items():  # in score()'s order: repetition reuses stop's cached value
                    start = time.perf_counter()
                    value = fn(sample, Rollout(text, True))
                    elapsed = time.perf_counter() - start
                    if value is not None:
                        times.setdefault(f"{name}/{reward}", {}).setdefault(kind, []).append(elapsed)
                        total += elapsed
                times.setdefault(f"{name}/all", {}).setdefault(kind, []).append(total)
    rows = {
        key: {kind: {"median_ms": 1e3 * sorted(t)[len(t) // 2], "max_ms": 1e3 * max(t)} for kind, t in by.items()}
        for key, by in times.items()
    }
    kinds = ("label", "edited", "half", "loop_10k")
    print(f"{'type/reward':<24}" + "".join(f"{k:>20}" for k in kinds))
    print(f"{'':<24}" + f"{'median / max ms':>20}" * len(kinds))
    for key, by in rows.items():
        print(f"{key:<24}" + "".join(f"{by[k]['median_ms']:>11.2f} / {by[k]['max_ms']:<6.1f}" for k in kinds))
    report = {"num": args.num, "cpu": platform.processor() or platform.machine(), "rewards": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
