"""The demo's summary (scripts/demo.sh): a held-out table per model and task, the stage-1 reading target against
the no-image baseline, and the stage-1 learning curves as a PNG.

    python scripts/demo_report.py runs/demo
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RUNS = {  # eval dir -> (model, held-out set)
    "stage1_lines": ("stage 1", "lines"),
    "stage1_noimage_lines": ("no-image", "lines"),
    "stage3_lines": ("stage 3", "lines"),
    "stage3_mixed": ("stage 3", "mixed"),
}
TARGET_ED, BASELINE_ED = 0.3, 0.8  # issue 6: stage 1 reads lines (ED <= 0.3) where the blind model cannot (>= 0.8)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def table(out: Path) -> dict[str, float]:
    print(f"\n{'model':<10}{'held-out set':<14}{'task':<10}{'n':>5}{'edit dist':>11}{'F1':>8}{'BLEU':>8}")
    line_ed = {}
    for run, (model, held_out) in RUNS.items():
        path = out / "eval" / run / "metrics.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        for task, m in metrics["by_task"].items():
            s = m["macro"]
            print(f"{model:<10}{held_out:<14}{task:<10}{m['n']:>5}{s['edit_dist']:>11.3f}{s['f1']:>8.3f}{s['bleu']:>8.3f}")
        line_ed[run] = metrics["macro"]["edit_dist"]
    return line_ed


def plot(out: Path, png: Path) -> None:
    fig, (ax_loss, ax_ed) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run, label in (("stage1", "stage 1"), ("stage1_noimage", "no-image baseline")):
        rows = records(out / run / "metrics.jsonl")
        train = [r for r in rows if "loss" in r]
        held_out = [r for r in rows if "eval/edit_dist" in r]
        ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label=label, lw=1)
        ax_ed.plot([r["step"] for r in held_out], [r["eval/edit_dist"] for r in held_out], "o-", label=label, ms=3)
    ax_ed.axhline(TARGET_ED, color="grey", ls=":", lw=1)
    ax_loss.set(xlabel="optimizer step", ylabel="train loss (nats/token)", title="stage 1: single lines")
    ax_ed.set(xlabel="optimizer step", ylabel="held-out edit distance", ylim=(0, 1.05), title="held-out lines (greedy)")
    for ax in (ax_loss, ax_ed):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
    line_ed = table(out)
    ours, blind = line_ed.get("stage1_lines"), line_ed.get("stage1_noimage_lines")
    if ours is not None and blind is not None:
        met = ours <= TARGET_ED and blind >= BASELINE_ED
        print(f"\nstage 1 reads: held-out edit distance {ours:.3f} against {blind:.3f} without the image "
              f"(target <= {TARGET_ED} against >= {BASELINE_ED}): {'met' if met else 'NOT met'}")
    plot(out, out / "stage1_learning.png")
    print(f"learning curves: {out}/stage1_learning.png; reports: {out}/eval/*/report.html")


if __name__ == "__main__":
    main()
