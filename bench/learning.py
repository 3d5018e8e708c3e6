"""From scratch to real words (issue 17): stage 1 of the framework from random init, through the ordinary path
(data/render.py shards -> the loader -> DeepSpeed with CPU processes -> got.eval.evaluate, as eval/evaluate.py runs
it), read on held-out rendered English words and prose lines in eight proportional faces and on a real PDF's lines,
beside tesseract on the same images and a model trained without the image (docs/learning.md).

    python bench/learning.py                           # about 50 min on 2 cores: bench/results/learning.{json,png}
    python bench/learning.py --fast --out /tmp/learn   # a smoke run of every part, a few steps each (~3 min)
    python bench/learning.py --config learning_bytes   # a variant: bench/results/learning_bytes.{json,png}

What it renders, trains and evaluates is configs/bench/learning.yaml; the recipe's levers are in the render and
experiment files that names (configs/render/learn_*.yaml, configs/experiment/learn_*.yaml). A variant is another
file beside it that builds on it (`defaults: [learning]`) and says what it changes: the runs' overrides, a
vocabulary to train first. Shards, runs, evaluations and every command's log go under runs/learning/, emptied first
(logs/: the launcher's output and each rank's log). The console gets one line per phase and the final table. CER is
the strict mode's (DESIGN §7): character edits over the label's length, greedy decoding.
"""

import argparse
import dataclasses
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from common import write_results  # noqa: E402
from got.config import CONFIG_DIR  # noqa: E402
from got.config_file import load_config  # noqa: E402
from got.data.shards import ShardWriter, read_samples  # noqa: E402
from got.eval.evaluate import EvalConfig, SetupError, run  # noqa: E402

ROOT = CONFIG_DIR.parent
HELD_OUT = ("words", "lines", "pdf")  # the periodic evaluation names the first two (configs/experiment/learn_words)
READERS = ("got", "tesseract", "noimage")  # the trained model (run "words"), the peer engine, the no-image run


@dataclass
class Bench:
    cfg: dict  # configs/bench/learning.yaml
    fast: bool
    start: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)  # phase -> wall seconds

    @property
    def root(self) -> Path:
        return ROOT / self.cfg["root"]

    def count(self, num: int) -> int:
        """A sample count, cut down under --fast."""
        fast = self.cfg["fast"]
        return min(num, max(num // fast["divide"], fast["min_samples"])) if self.fast else num

    def command(self, name: str, argv: list[str]) -> None:
        """Run argv from the checkout with its output in logs/NAME.log; a failure shows the end of that log and of
        the ranks' logs (logs/ranks_NAME/, where the launcher had them written) and stops."""
        log = self.root / "logs" / f"{name}.log"
        with log.open("w") as f:
            failed = subprocess.run(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode
        if failed:
            for path in [log, *sorted((self.root / "logs" / f"ranks_{name}").glob("*.log"))]:
                print(f"--- {path}", *path.read_text(errors="replace").splitlines()[-15:], sep="\n")
            sys.exit(f"learning.py: {name} failed, see {log}")

    def done(self, phase: str, since: float, text: str) -> None:
        self.phases[phase] = round(time.perf_counter() - since, 1)
        print(f"{phase:<10} {text} ({self.phases[phase]:.0f} s; {(time.perf_counter() - self.start) / 60:.1f} min in)")


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def render(bench: Bench) -> None:
    shards = bench.cfg["shards"]
    for name, s in shards.items():
        num = str(bench.count(s["num"]))
        out = str(bench.root / "shards" / name)
        argv = ["data/render.py", "--quiet", "--types", "line", "--num", num, "--seed", str(s["seed"])]
        bench.command(f"render_{name}", [sys.executable, *argv, "--config", s["config"], "--out", out])


def vocab(bench: Bench) -> None:
    """The vocabulary the variant's runs name (`init.tokenizer=`), trained before anything else."""
    if bench.cfg["vocab"]:
        size, out = str(bench.cfg["vocab"]["size"]), str(ROOT / bench.cfg["vocab"]["path"])
        bench.command("train_vocab", [sys.executable, "data/train_vocab.py", "--size", size, "--out", out])


def pdf_lines(bench: Bench) -> int:
    """The PDF's first line crops, flagged multi-crop like the training strips, as shards/heldout_pdf."""
    pdf, shards = bench.cfg["pdf"], bench.root / "shards"
    argv = ["data/pdf2shards.py", pdf["path"], "--out", str(shards / "pdf"), "--granularity", "line"]
    bench.command("pdf2shards", [sys.executable, *argv])
    crops = (s for _, s in read_samples(str(shards / "pdf")) if s.box is None)  # the other half: page + box prompt
    n = 0
    with ShardWriter(shards / "heldout_pdf") as writer:
        for n, sample in enumerate(islice(crops, bench.count(pdf["lines"])), 1):
            writer.write(dataclasses.replace(sample, crop=True))
    return n


def out_dir(experiment: str) -> Path:
    return ROOT / OmegaConf.load(CONFIG_DIR / "experiment" / f"{experiment}.yaml").train.out_dir


def train(bench: Bench, name: str, experiment: str) -> dict:
    """One training run, launched as scripts/demo.sh launches them; its summary from its metrics.jsonl."""
    since = time.perf_counter()
    ranks = str(bench.root / "logs" / f"ranks_{name}")
    launcher = ["deepspeed", "--num_gpus", str(bench.cfg["procs"]), "--enable_each_rank_log", ranks]
    overrides = bench.cfg["overrides"].get(name, []) + (bench.cfg["fast"]["overrides"][name] if bench.fast else [])
    bench.command(name, [*launcher, "train/train.py", f"+experiment={experiment}", *overrides])
    rows = records(out_dir(experiment) / "metrics.jsonl")
    steps = [r for r in rows if "loss" in r]
    evals = [  # each held-out set the run's periodic evaluation names: eval/NAME/cer
        {"step": r["step"], **{k.split("/")[1]: v for k, v in r.items() if k.count("/") == 2 and k.endswith("/cer")}}
        for r in rows
        if "eval/cer" in r
    ]
    summary = {
        "steps": steps[-1]["step"],
        "s_per_step": round(statistics.median(r["s/step"] for r in steps), 3),  # the steps alone: no eval, no save
        "loss": [round(steps[0]["loss"], 3), round(steps[-1]["loss"], 3)],
        "curve": [(r["step"], round(r["loss"], 4)) for r in steps],
        "evals": evals,
    }
    text = f"{summary['steps']} steps at {summary['s_per_step']:.2f} s/step, loss {steps[0]['loss']:.2f} -> "
    text += f"{steps[-1]['loss']:.2f}"
    if evals:
        last = evals[-1]
        text += ", held-out CER " + ", ".join(f"{s} {cer:.3f}" for s, cer in last.items() if s != "step")
        text += f" at step {last['step']}"
    bench.done(name, since, text)
    return summary


def evaluate(bench: Bench, runs: dict[str, str]) -> dict[tuple[str, str], dict]:
    """(reader, held-out set) -> got.eval.evaluate's metrics; the no-image model reads the rendered sets only."""
    since, scores = time.perf_counter(), {}
    models = {"got": out_dir(runs["words"]) / "final", "noimage": out_dir(runs["noimage"]) / "final"}
    for held_out in HELD_OUT:
        for reader in READERS if held_out != "pdf" else READERS[:2]:
            cfg = EvalConfig(
                data=str(bench.root / "shards" / f"heldout_{held_out}"),
                model=str(models[reader]) if reader in models else None,
                engine="tesseract" if reader == "tesseract" else "got",
                out=str(bench.root / "eval" / f"{reader}_{held_out}"),
                max_new_tokens=bench.cfg["max_new_tokens"][held_out],
                no_repeat_ngram_size=0,
                progress=False,
            )
            try:
                scores[reader, held_out] = run(cfg)
            except SetupError as e:
                sys.exit(f"learning.py: {e}")
    bench.done("evaluate", since, f"{len(scores)} evaluations in {bench.root / 'eval'}")
    return scores


def trend(evals: list[dict], held_out: str, last: int) -> dict:
    """The CER of the last evaluations during training, and how fast it was falling (least squares)."""
    points = [(e["step"], round(e[held_out], 4)) for e in evals if held_out in e][-last:]
    if len({step for step, _ in points}) < 2:
        return {"last_evals": points, "fall_per_1000_steps": None}
    slope = statistics.linear_regression(*zip(*points)).slope
    return {"last_evals": points, "fall_per_1000_steps": round(-1000 * slope, 4) + 0.0}  # + 0.0: never -0.0


def rows(bench: Bench, scores: dict, words_run: dict) -> list[dict]:
    cfg, out = bench.cfg, []
    for held_out in HELD_OUT:
        row = {"set": held_out, "n": scores["got", held_out]["n"]}
        for reader in READERS:
            if (reader, held_out) in scores:
                macro = scores[reader, held_out]["macro"]
                row.update(
                    {f"{reader}_cer": round(macro["cer"], 4), f"{reader}_edit_dist": round(macro["edit_dist"], 4)}
                )
        if held_out in cfg["targets"]:  # the rendered sets: a target, a no-image floor, a curve during training
            target, blind = cfg["targets"][held_out], row["noimage_cer"] >= cfg["noimage_min"]
            row.update(target_cer=target, met=row["got_cer"] <= target and blind, noimage_floor_met=blind)
            row["during_training"] = trend(words_run["evals"], held_out, cfg["trend_evals"])
        out.append(row)
    return out


def table(bench: Bench, results: list[dict]) -> None:
    print(f"\n{'held-out set':<14}{'n':>5}{'CER':>8}{'ED':>8}{'tesseract':>11}{'no image':>10}{'target':>10}  verdict")
    for r in results:
        blind = f"{r['noimage_cer']:.3f}" if "noimage_cer" in r else "-"
        target = f"<= {r['target_cer']}" if "target_cer" in r else "-"
        verdict = ("met" if r["met"] else "NOT met") if "met" in r else "(no target)"
        if "met" in r and not r["noimage_floor_met"]:
            verdict += f" (no-image CER under {bench.cfg['noimage_min']})"
        print(
            f"{r['set']:<14}{r['n']:>5}{r['got_cer']:>8.3f}{r['got_edit_dist']:>8.3f}{r['tesseract_cer']:>11.3f}"
            f"{blind:>10}{target:>10}  {verdict}"
        )
        if "during_training" in r:
            t = r["during_training"]
            points = ", ".join(f"{cer:.3f} at {step}" for step, cer in t["last_evals"])
            fall = t["fall_per_1000_steps"]
            way = "falling" if fall and fall > 0 else "rising" if fall else "flat"
            slope = "" if fall is None else f"; {way}, {abs(fall):.3f} per 1000 steps over these"
            print(f"{'':<14}CER during training: {points}{slope}")


def plot(runs: dict[str, dict], cfg: dict, png: Path) -> None:
    """Training loss and held-out CER during training: the runs of the curriculum one after the other (each from
    the previous one's model), with the no-image run (random init, on words and lines) started beside the last."""
    fig, (ax_loss, ax_cer) = plt.subplots(1, 2, figsize=(11, 3.8))
    curriculum = [name for name in runs if name != "noimage"]
    starts = dict(zip(curriculum, itertools.accumulate([0] + [runs[n]["steps"] for n in curriculum[:-1]])))
    for name in curriculum:
        steps, losses = zip(*runs[name]["curve"])
        ax_loss.plot([starts[name] + s for s in steps], losses, label=name, lw=1)
    last = starts[curriculum[-1]]
    steps, losses = zip(*runs["noimage"]["curve"])
    ax_loss.plot([last + s for s in steps], losses, "--", label="no image", lw=1)
    held_outs = sorted({k for r in runs.values() for e in r["evals"] for k in e if k != "step"})
    color = {held_out: f"C{i}" for i, held_out in enumerate(held_outs)}
    for name in [*curriculum, "noimage"]:
        blind, start = (True, last) if name == "noimage" else (False, starts[name])
        for held_out in held_outs:
            points = [(start + e["step"], e[held_out]) for e in runs[name]["evals"] if held_out in e]
            if points:
                label = f"{held_out}, no image" if blind else held_out
                ax_cer.plot(*zip(*points), "x--" if blind else "o-", color=color[held_out], ms=4, label=label)
    for held_out, target in cfg["targets"].items():
        ax_cer.axhline(target, color=color.get(held_out, "grey"), ls=":", lw=1)
    ax_loss.set(ylabel="train loss (nats/token)", title="training")
    ax_cer.set(ylabel="held-out CER (greedy, first samples)", title="held-out CER during training (dotted: targets)")
    ax_cer.set_ylim(bottom=0)
    for ax in (ax_loss, ax_cer):
        for name in curriculum[1:]:
            ax.axvline(starts[name], color="grey", lw=0.8)  # one run of the curriculum ends, the next begins
        ax.set_xlabel("optimizer step, the curriculum's runs one after the other")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fast", action="store_true", help="a smoke run: a few steps per run, few samples")
    p.add_argument("--config", default="learning", help="a file of configs/bench/ (default: learning)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="folder of CONFIG.json and .png")
    args = p.parse_args()
    try:
        cfg = load_config(CONFIG_DIR / "bench" / f"{args.config}.yaml")
    except ValueError as e:
        sys.exit(f"learning.py: {e}")
    if unknown := set(cfg["overrides"]) - set(cfg["runs"]):
        sys.exit(f"learning.py: --config {args.config}: overrides for runs it does not have: {sorted(unknown)}")
    pdf = cfg["pdf"]
    if not Path(pdf["path"]).is_file():
        sys.exit(f"learning.py: {pdf['path']} is missing: apt-get install {pdf['package']}")
    bench = Bench(cfg, args.fast)
    shutil.rmtree(bench.root, ignore_errors=True)
    (bench.root / "logs").mkdir(parents=True)

    since = time.perf_counter()
    vocab(bench)
    render(bench)
    n = pdf_lines(bench)
    bench.done("data", since, f"{len(cfg['shards'])} shard sets rendered, {n} PDF lines, in {bench.root / 'shards'}")
    runs = {name: train(bench, name, experiment) for name, experiment in cfg["runs"].items()}
    scores = evaluate(bench, cfg["runs"])
    results = rows(bench, scores, runs["words"])
    table(bench, results)
    wall = round(time.perf_counter() - bench.start, 1)
    print(f"\ntotal {wall / 60:.1f} min; logs and per-sample reports under {bench.root}")
    summaries = {name: {k: v for k, v in r.items() if k != "curve"} for name, r in runs.items()}
    settings = dict(
        fast=args.fast,
        date=datetime.now().isoformat(timespec="seconds"),
        procs=cfg["procs"],
        config=args.config,
        eval_threads=torch.get_num_threads(),  # each training rank takes cpu_count // procs (got/train/loop.py)
        wall_s=wall,
        phases_s=bench.phases,
        runs=summaries,
    )
    write_results(args.out / f"{args.config}.json", results, **settings)
    plot(runs, cfg, args.out / f"{args.config}.png")
    print(f"results: {args.out / args.config}.json, .png")


if __name__ == "__main__":
    main()
