"""The demo's report (scripts/demo.sh): a progress line per training run, then the held-out table of every stage's
model beside the no-image baseline with the targets of docs/learning.md, and the learning curves as a PNG.

    python scripts/demo_report.py --progress runs/demo/stage1   # one run's line
    python scripts/demo_report.py --evaluate runs/demo          # score the table's models, and the no-image one
    python scripts/demo_report.py runs/demo                     # the table and runs/demo/learning.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASELINE_ED = 0.8  # the no-image model must not read: what the others score below it is read from the image
FORMAT_GAP = 0.3  # a format type reads when its ED is this far below the no-image model's
# (model, held-out set, its name in the table, target ED: a number, or "gap" for FORMAT_GAP below the baseline)
ROWS = [
    ("stage1", "lines", "lines", 0.15),
    ("stage2", "lines", "lines", 0.25),
    ("stage2", "markdown", "markdown (format)", "gap"),
    ("stage3", "lines", "lines", 0.25),
    ("stage3", "finegrained", "box-guided lines", 0.5),
]
# each held-out set's max_new_tokens: above its longest label (6 letters, 10 in markdown), so a loop costs little
MAX_NEW_TOKENS = {"lines": 12, "markdown": 16, "finegrained": 12}
CURVES = {
    "stage1": "stage 1 (lines)",
    "stage2": "stage 2 (markdown)",
    "stage3": "stage 3 (box-guided)",
    "noimage": "no-image (lines)",
}


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def progress(run: Path) -> str:
    rows = records(run / "metrics.jsonl")
    train, held_out = [r for r in rows if "loss" in r], [r for r in rows if "eval/edit_dist" in r]
    if not train:
        return "no steps logged"
    line = f"{train[-1]['step']} steps, loss {train[0]['loss']:.2f} -> {train[-1]['loss']:.2f}"
    if held_out:
        line += f", held-out ED {held_out[-1]['eval/edit_dist']:.3f} at step {held_out[-1]['step']}"
    return line


def edit_dist(out: Path, model: str, held_out: str) -> tuple[float, int] | None:
    path = out / "eval" / f"{model}_{held_out}" / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics["macro"]["edit_dist"], metrics["n"]


def evaluate(out: Path) -> None:
    """Scores every model of ROWS, and the no-image model, on their held-out sets (greedy, no n-gram ban) into
    out/eval/{model}_{set}/: in one process, as eval/evaluate.py would one at a time, so the imports are paid once."""
    from got.eval.evaluate import EvalConfig, run

    for model, held_out in dict.fromkeys([(m, s) for m, s, *_ in ROWS] + [("noimage", s) for _, s, *_ in ROWS]):
        cfg = EvalConfig(
            data=str(out / "shards" / f"heldout_{held_out}"),
            model=str(out / model / "final"),
            out=str(out / "eval" / f"{model}_{held_out}"),
            max_new_tokens=MAX_NEW_TOKENS[held_out],
            no_repeat_ngram_size=0,
            progress=False,
        )
        metrics = run(cfg)
        print(f"{model} on held-out {held_out}: edit distance {metrics['macro']['edit_dist']:.4f} ({metrics['n']})")


def table(out: Path) -> bool:
    """Prints the table; True when every target is met."""
    print(f"\n{'model':<8}{'held-out set':<20}{'n':>4}{'edit dist':>11}{'no image':>10}{'target':>16}  verdict")
    all_met = True
    for model, held_out, name, target in ROWS:
        ours, blind = edit_dist(out, model, held_out), edit_dist(out, "noimage", held_out)
        if ours is None or blind is None:
            print(f"{model:<8}{name:<20}  (not evaluated)")
            all_met = False
            continue
        (ed, n), (blind_ed, _) = ours, blind
        if target == "gap":
            wanted, met = f"<= {blind_ed - FORMAT_GAP:.3f}", ed <= blind_ed - FORMAT_GAP
        else:
            wanted, met = f"<= {target}", ed <= target and blind_ed >= BASELINE_ED
            wanted += f", >= {BASELINE_ED}" if blind_ed < BASELINE_ED else ""
        all_met &= met
        print(f"{model:<8}{name:<20}{n:>4}{ed:>11.3f}{blind_ed:>10.3f}{wanted:>16}  {'met' if met else 'NOT met'}")
    return all_met


def plot(out: Path, png: Path) -> None:
    fig, (ax_loss, ax_ed) = plt.subplots(1, 2, figsize=(10, 3.6))
    offset = 0
    for run, label in CURVES.items():
        rows = records(out / run / "metrics.jsonl")
        train, held_out = [r for r in rows if "loss" in r], [r for r in rows if "eval/edit_dist" in r]
        start = 0 if run == "noimage" else offset  # the stages follow each other; the baseline starts afresh
        ax_loss.plot([start + r["step"] for r in train], [r["loss"] for r in train], label=label, lw=1)
        ax_ed.plot(
            [start + r["step"] for r in held_out], [r["eval/edit_dist"] for r in held_out], "o-", label=label, ms=3
        )
        offset += train[-1]["step"] if train and run != "noimage" else 0
    ax_loss.set(xlabel="optimizer step (stages end to end)", ylabel="train loss (nats/token)", title="training")
    ax_ed.set(
        xlabel="optimizer step (stages end to end)",
        ylabel="held-out edit distance",
        ylim=(0, 1.05),
        title="held-out, greedy, during training",
    )
    for ax in (ax_loss, ax_ed):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--progress"]:
        print(progress(Path(args[1])))
        return
    if args[:1] == ["--evaluate"]:
        evaluate(Path(args[1]))
        return
    out = Path(args[0] if args else "runs/demo")
    met = table(out)
    print(f"\nevery stage reads: {'met' if met else 'NOT met'} (targets: docs/learning.md)")
    plot(out, out / "learning.png")
    print(f"learning curves: {out}/learning.png; reports: {out}/eval/*/report.html; logs: {out}/logs")


if __name__ == "__main__":
    main()
