"""Loader throughput: samples/s and packing efficiency for a stage-2-like mix at 1024² (docs/data.md).

    python bench/loader.py [--quick] [--workers 2] [--seconds S] [--vocab qwen.tiktoken]

The shards are drawn here with PIL (pages of varied text length, lines, formatted pages, box prompts, large
multi-crop images, multi-page documents) and cached under bench/results/tmp/. The loader then runs as in
training (augmentation on, packing into max_tokens rows) and the first batch is left out of the timing (worker
start-up). Packing efficiency is also measured without decoding over many windows, at 8192 and 6000 tokens.
Prints a table and writes bench/results/loader.json.
"""

import argparse
import json
import os
import platform
import pydoc_data.topics
import random
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from got.data.pipeline import (
    DataConfig,
    Loader,
    ShardSet,
    Slot,
    mixture_stream,
    plan_window,
    read_window,
    rng,
    start_position,
)
from got.data.sample import Sample
from got.data.shards import ShardWriter, expand_urls
from got.model.views import Views
from got.tokenizer import GOTTokenizer

VIEWS = Views(size=1024, tokens=256)  # the released model's views

ROOT = Path(__file__).resolve().parents[1]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# A stage-2-like mix (DESIGN §6: all data types plus stage-1 replay): name -> (weight, kind, text chars).
MIX = {
    "replay_pages": (0.30, "page", (300, 3000)),
    "replay_lines": (0.20, "line", (10, 80)),
    "format_pages": (0.20, "format", (500, 3500)),
    "fine_grained": (0.10, "box", (100, 600)),
    "multi_crop": (0.10, "crop", (1500, 5000)),
    "multi_page": (0.10, "pages", (1500, 5000)),
}


def corpus() -> list[str]:
    return " ".join(pydoc_data.topics.topics.values()).split()


def text_of(gen: random.Random, words: list[str], chars: tuple[int, int], markup: bool = False) -> str:
    n = gen.randint(*chars)
    start = gen.randrange(len(words) - n // 3)
    text, lines, line = " ".join(words[start : start + n // 3])[:n], [], ""
    for word in text.split():  # wrap at ~90 characters, as a page would
        if len(line) + len(word) > 90:
            lines.append(line)
            line = ""
        line += (" " if line else "") + word
    lines.append(line)
    if markup:
        lines = [f"## {ln[:40]}" if i % 12 == 0 else f"- {ln}" if i % 5 == 1 else ln for i, ln in enumerate(lines)]
    return "\n".join(lines)


def draw(text: str, size: tuple[int, int], font: ImageFont.ImageFont) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).multiline_text((20, 20), text, fill="black", font=font, spacing=4)
    return image


def make_sample(kind: str, chars: tuple[int, int], gen: random.Random, words: list[str], font) -> Sample:
    if kind == "line":
        text = text_of(gen, words, chars).replace("\n", " ")
        return Sample([draw(text, (14 + 9 * len(text), 40), font)], text, source="line")
    if kind == "crop":  # a wide spread of two pages' worth of text
        text = text_of(gen, words, chars)
        return Sample([draw(text, (2048, 1448), font)], text, task="format", crop=True, source="crop")
    if kind == "pages":
        texts = [text_of(gen, words, (chars[0] // 3, chars[1] // 3)) for _ in range(gen.randint(2, 4))]
        return Sample([draw(t, (724, 1024), font) for t in texts], "\n\n".join(texts), task="format", source="pages")
    text = text_of(gen, words, chars, markup=kind == "format")
    image = draw(text, (724, 1024), font)
    if kind == "box":  # the box covers the text block, drawn from the top-left
        return Sample([image], text, box=(0, 0, 1000, min(1000, 40 + 22 * text.count("\n"))), source="box")
    return Sample([image], text, task="format" if kind == "format" else "ocr", source=kind)


def make_shards(cache: Path, per_set: int, seed: int) -> Path:
    """The benchmark's shard sets, drawn once per (size, seed) and cached."""
    out = cache / f"n{per_set}-seed{seed}"
    if (out / "done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)  # an interrupted earlier run
    gen, words = random.Random(seed), corpus()
    font = ImageFont.truetype(FONT, 12) if Path(FONT).exists() else ImageFont.load_default(12)
    start = time.time()
    for name, (weight, kind, chars) in MIX.items():
        count = max(8, round(per_set * weight / max(w for w, _, _ in MIX.values())))
        with ShardWriter(out / name, max_count=64) as writer:
            for _ in range(count):
                writer.write(make_sample(kind, chars, gen, words, font))
        print(f"  {name}: {count} samples", file=sys.stderr)
    (out / "done").touch()
    print(f"  shards written in {time.time() - start:.0f}s", file=sys.stderr)
    return out


def config(data: Path, **overrides) -> DataConfig:
    sets = [ShardSet(str(data / name), weight, name) for name, (weight, _, _) in MIX.items()]
    return DataConfig(sets=sets, **{"max_tokens": 8192, **overrides})


def cpu_seconds() -> float:
    """CPU time of this process and of its exited children (the DataLoader workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def throughput(cfg: DataConfig, tok: GOTTokenizer, seconds: float) -> dict:
    """Timed after the first batch (worker start-up). The CPU time per sample counts the workers' whole life
    (start-up and unconsumed prefetched batches too), so the CPU-bound rate derived from it is conservative:
    it is what the machine's cores would give without other load."""
    cpu_start = cpu_seconds()
    loader = Loader(cfg, tok, VIEWS)
    batches = iter(loader)
    next(batches)
    start, before = time.perf_counter(), Counter(loader.totals)
    views = 0
    while time.perf_counter() - start < seconds:
        views += len(next(batches)["images"])
    elapsed = time.perf_counter() - start
    del batches  # shuts the workers down, so their CPU time is counted
    cpu_per_sample = (cpu_seconds() - cpu_start) / loader.totals["samples"]
    done = Counter(loader.totals) - before
    return {
        "samples_per_s": done["samples"] / elapsed,
        "batches_per_s": done["batches"] / elapsed,
        "views_per_s": views / elapsed,
        "tokens_per_s": done["tokens"] / elapsed,
        "efficiency": done["tokens"] / done["capacity"],
        "seconds": elapsed,
        "samples": done["samples"],
        "cpu_ms_per_sample": 1000 * cpu_per_sample,
        "cpu_bound_samples_per_s": len(os.sched_getaffinity(0)) / cpu_per_sample,
    }


def planned_efficiency(cfg: DataConfig, tok: GOTTokenizer, windows: int) -> float:
    """Packing efficiency of the loader's plan over many windows, with nothing decoded."""
    counts, urls = Counter(), [expand_urls(s.urls) for s in cfg.sets]
    stream = mixture_stream(urls, cfg, Slot(0, 1, 0), start_position(len(urls)), counts)
    tokens = capacity = 0
    for w in range(windows):
        items, _ = read_window(stream, cfg, tok, counts, Counter())
        rows = plan_window(items, cfg, rng(cfg.seed, w))
        tokens += sum(len(item.input_ids) for item in items)
        capacity += len(rows) * cfg.max_tokens
    return tokens / capacity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer shards, one timed run (under 3 minutes)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, help="timed seconds per run (default 30, quick 20)")
    parser.add_argument("--data", default=str(ROOT / "bench/results/tmp/loader-shards"), help="shard cache")
    parser.add_argument("--vocab", help="a .tiktoken vocabulary (default: the shipped 8k one)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/loader.json"))
    args = parser.parse_args()
    seconds = args.seconds or (20 if args.quick else 30)
    tok = GOTTokenizer.from_file(args.vocab) if args.vocab else GOTTokenizer.default()
    data = make_shards(Path(args.data), per_set=120 if args.quick else 400, seed=0)

    runs = [("augment light", {"augment": "light"})] + ([] if args.quick else [("augment none", {"augment": "none"})])
    load_before = os.getloadavg()
    rows = []
    for name, overrides in runs:
        result = throughput(config(data, num_workers=args.workers, **overrides), tok, seconds)
        rows.append({"run": f"{name}, {args.workers} workers, 8192 tokens", **result})
    windows = 30 if args.quick else 100
    efficiency = {n: planned_efficiency(config(data, max_tokens=n), tok, windows) for n in (8192, 6000)}

    print(
        f"{'run':<40} {'samples/s':>9} {'views/s':>8} {'tokens/s':>9} {'efficiency':>10} {'CPU ms/sample':>13} "
        f"{'CPU-bound samples/s':>19}"
    )
    for r in rows:
        print(
            f"{r['run']:<40} {r['samples_per_s']:>9.1f} {r['views_per_s']:>8.1f} {r['tokens_per_s']:>9.0f} "
            f"{r['efficiency']:>10.3f} {r['cpu_ms_per_sample']:>13.1f} "
            f"{r['cpu_bound_samples_per_s']:>19.1f}"
        )
    for n, e in efficiency.items():
        print(f"planned packing efficiency at {n} tokens ({windows} windows, nothing decoded): {e:.3f}")
    machine = {
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    print(f"machine: {machine}")
    report = {
        "mix": {k: v[:2] for k, v in MIX.items()},
        "quick": args.quick,
        "vocab": tok.encoding.name,
        "runs": rows,
        "planned_efficiency": efficiency,
        "machine": machine,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
