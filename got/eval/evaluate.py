"""Evaluation run: read the data, predict (a GOT checkpoint or a peer engine), score, and write the outputs.

out/predictions.jsonl  {"id", "task", "lang", "kind", "label", "pred", "looping"} a line, in input order
out/metrics.json       got.eval.metrics.score_corpus by task and by language, naming its mode, with the bad
                       inputs, the generation speed and the outputs the repetition guard cut
out/report.md, out/report.html

Under torchrun each rank predicts its share (got.eval.generate.shard) and rank 0 merges, scores and reports.
"""

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from pathlib import Path

import torch
import torch.distributed as dist

from got.eval.baselines import PPOCREngine, TesseractEngine
from got.eval.generate import GOTEngine, merge_parts, part_path, predict, shard
from got.eval.inputs import labels, read_inputs
from got.eval.metrics import KINDS, MODES, check_requirements, score_corpus
from got.eval.report import Report, thumbnail, write_reports
from got.prompts import TASKS

ENGINES = ("got", "tesseract", "ppocr")
RECORD_KEYS = ("id", "task", "lang", "kind", "label", "pred", "looping")


class SetupError(Exception):
    """Something the run needs is missing (a package, language data); the message says what to install."""


@dataclass
class EvalConfig:
    data: str  # shards (a directory of *.tar, a glob, a brace pattern) or an image folder / labels.jsonl
    model: str | None = None  # a checkpoint directory, got, official or hf layout (engine=got)
    engine: str = "got"  # got | tesseract | ppocr
    out: str = "outputs/eval"
    mode: str = "strict"  # metrics mode: got (reproduces published GOT/Fox numbers) | nougat | strict
    task: str | None = None  # prompt every sample with this task (ocr | format) instead of its own
    kind: str = "page"  # metrics kind of samples without their own: page (words) | scene (characters)
    split_format: bool = False  # also score the text, math and tables of pages separately
    max_new_tokens: int = 4096
    no_repeat_ngram_size: int = 20  # GOT's eval setting; 0 turns the ban off
    cut_loops: bool = True  # an output that hits max_new_tokens in a loop is cut to the loop's first copy, flagged
    batch_size: int = 8
    device: str = "auto"  # auto: cuda:LOCAL_RANK when CUDA is there, else cpu
    dtype: str = "float32"  # or bfloat16 (on GPU)
    limit: int = 0  # evaluate the first `limit` samples only; 0 = all
    report_samples: int = 200  # samples shown in full in the reports, worst first
    progress: bool = True

    def __post_init__(self) -> None:
        choices = {
            "engine": ENGINES,
            "mode": tuple(MODES),
            "kind": KINDS,
            "task": (None, *TASKS),
            "dtype": ("float32", "bfloat16"),
        }  # no float16: GOT overflows in it
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r} is not one of {[a for a in allowed if a]}")
        if self.engine == "got" and not self.model:
            raise ValueError("engine=got needs model=DIR (a checkpoint in the got layout)")
        if min(self.batch_size, self.max_new_tokens) < 1:
            raise ValueError("batch_size and max_new_tokens must be >= 1")
        if min(self.limit, self.report_samples, self.no_repeat_ngram_size) < 0:
            raise ValueError("limit, report_samples and no_repeat_ngram_size must be >= 0")


def build_engine(cfg: EvalConfig, device: str):
    try:
        if cfg.engine == "tesseract":
            return TesseractEngine()
        if cfg.engine == "ppocr":
            return PPOCREngine()
    except RuntimeError as e:
        raise SetupError(str(e)) from e
    return GOTEngine.from_dir(
        cfg.model,
        device=device,
        dtype=cfg.dtype,
        max_new_tokens=cfg.max_new_tokens,
        no_repeat_ngram_size=cfg.no_repeat_ngram_size,
        cut_loops=cfg.cut_loops,
    )


def predict_share(cfg: EvalConfig, out: Path, rank: int, world_size: int, device: str, total: int) -> None:
    """This rank's predictions and thumbnails into out/parts/, then its input counts and speed."""
    counts, speed = Counter(), {}
    engine = build_engine(cfg, device)
    items = read_inputs(cfg.data, counts, kind=cfg.kind, task=cfg.task)
    mine = shard(islice(items, cfg.limit) if cfg.limit else items, rank, world_size)
    path = part_path(out, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        share = -(-total // world_size)
        for item, pred in predict(
            engine, mine, cfg.batch_size, speed, total=share, progress=cfg.progress and rank == 0
        ):
            s, thumb = item.sample, path.parent / "thumbs" / f"{item.index:08d}.jpg"
            thumbnail(s.images, thumb)
            record = dict(
                id=item.id,
                task=s.task,
                lang=s.lang,
                kind=item.kind,
                label=s.text,
                pred=pred.text,
                looping=pred.looping,
                index=item.index,
                thumb=str(thumb),
            )
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (path.parent / f"stats-{rank:03d}.json").write_text(json.dumps({"bad": dict(counts), "speed": speed}))


def finish(cfg: EvalConfig, out: Path, world_size: int) -> dict:
    """Merge the ranks' parts, score, and write predictions.jsonl, metrics.json and the reports."""
    records = merge_parts(out, world_size)
    stats = [json.loads((out / "parts" / f"stats-{r:03d}.json").read_text()) for r in range(world_size)]
    if not records:  # every sample was bad: a score of nothing would read as a perfect one
        shutil.rmtree(out / "parts")
        raise ValueError(f"no sample of data={cfg.data} could be read (skipped: {stats[0]['bad']})")
    speed = {k: sum(s["speed"].get(k, 0) for s in stats) for k in ("samples", "new_tokens")}
    speed["seconds"] = max(s["speed"].get("seconds", 0.0) for s in stats)  # ranks run side by side
    inputs = {"read": len(records), "bad": stats[0]["bad"]}  # every rank reads (and counts) the whole stream
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps({k: r[k] for k in RECORD_KEYS}, ensure_ascii=False) + "\n" for r in records)
    pairs = [(r["label"], r["pred"], r["kind"]) for r in records]
    groups = {"task": [r["task"] for r in records], "lang": [r["lang"] for r in records]}
    scores = score_corpus(pairs, mode=cfg.mode, split_format=cfg.split_format, groups=groups)
    # The guard's cuts: the metrics score the cut text, whose own `looping` is then 0, so they are counted here.
    cut = [r["id"] for r in records if r["looping"]]
    metrics = {
        "engine": cfg.engine,
        "model": cfg.model,
        "data": cfg.data,
        "input": inputs,
        "speed": speed,
        "loops_cut": {"n": len(cut), "ids": cut},
        **scores,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    title = cfg.model if cfg.engine == "got" else f"engine={cfg.engine}"
    write_reports(Report(title, cfg.data, scores, records, inputs, speed, cfg.report_samples), out)
    shutil.rmtree(out / "parts")  # the thumbnails now live inside report.html
    return metrics


def run(cfg: EvalConfig) -> dict | None:
    """The whole evaluation; returns metrics.json's content on rank 0 (None on the other ranks)."""
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = cfg.device
    if device == "auto":
        device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if torch.cuda.is_available() else "cpu"
    texts = labels(cfg.data)[: cfg.limit or None]
    if not texts:
        raise ValueError(
            f"no samples to score in data={cfg.data}: a folder needs a labels.jsonl or images with .txt "
            "labels, shards need valid samples"
        )
    try:
        check_requirements(texts, [], kind=cfg.kind)  # jieba for Chinese, WordNet for METEOR: fail before any work
    except RuntimeError as e:
        raise SetupError(str(e)) from e
    out = Path(cfg.out)
    if world_size > 1:
        if device.startswith("cuda"):
            torch.cuda.set_device(device)  # NCCL's barrier runs on the current device: this rank's, not cuda:0
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=timedelta(days=1))
    try:
        predict_share(cfg, out, rank, world_size, device, len(texts))
        if world_size > 1:
            dist.barrier()  # every part is written
        return finish(cfg, out, world_size) if rank == 0 else None
    finally:
        if world_size > 1:
            dist.destroy_process_group()
