"""Batched greedy generation over evaluation items with a GOT checkpoint, split across ranks.

Each rank reads the same deterministic stream and keeps items i with i % world_size == rank; it writes its
predictions to parts/ with their stream index, and rank 0 merges the parts back into stream order.

The repetition guard (`cut_loops`): an output that ran to max_new_tokens without `<|im_end|>` and ends in a loop
(got.eval.metrics.cut_loop, the `looping` metric's definition) is cut back to the loop's first copy and flagged.
"""

import json
import time
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from got.data.sample import Sample, query_for
from got.data.tiling import choose_grid, to_views
from got.eval.inputs import EvalItem
from got.eval.metrics import cut_loop
from got.model.convert import load_checkpoint, model_from_checkpoint
from got.model.generate import generate
from got.model.got import GOTModel
from got.prompts import encode_prompt
from got.tokenizer import GOTTokenizer


def sample_views(sample: Sample, size: int, min_tiles: int, max_tiles: int) -> torch.Tensor:
    """uint8 views (V, 3, S, S), cut as the training loader cuts them (got.data.tiling): a crop sample's one
    image tiled (tiles, then a thumbnail), otherwise each image (page) resized to the square."""
    pixels = [torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1) for im in sample.images]
    grid = choose_grid(*sample.images[0].size, min_tiles, max_tiles, size) if sample.crop and len(pixels) == 1 else None
    return torch.stack(to_views(pixels, grid, size))


class Prediction(NamedTuple):
    """What an engine returns per item."""

    text: str
    new_tokens: int = 0  # generated tokens (0 for engines that do not count them)
    looping: bool = False  # the repetition guard cut a looping tail off `text`


class GOTEngine:
    """A GOT model and its tokenizer reading batches of items (from a checkpoint, or a model being trained)."""

    name = "got"

    def __init__(self, model: GOTModel, tokenizer: GOTTokenizer, *, max_new_tokens: int = 4096,
                 no_repeat_ngram_size: int = 20, crop_tiles: tuple[int, int] = (1, 6),
                 cut_loops: bool = True):  # fmt: skip
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.no_repeat_ngram_size, self.crop_tiles = max_new_tokens, no_repeat_ngram_size, crop_tiles
        self.cut_loops = cut_loops

    @classmethod
    def from_dir(cls, model_dir: str | Path, *, device: str = "cpu", dtype: str = "float32", **kwargs) -> "GOTEngine":
        """A checkpoint in the `got` layout: weights, config and tokenizer."""
        ckpt = load_checkpoint(model_dir)
        if ckpt.tokenizer is None:
            raise ValueError(f"{model_dir} holds no *.tiktoken vocabulary; a got checkpoint carries its tokenizer")
        model = model_from_checkpoint(ckpt).to(device=device, dtype=getattr(torch, dtype)).eval()
        return cls(model, ckpt.tokenizer, **kwargs)

    def __call__(self, items: list[EvalItem]) -> list[Prediction]:
        vision = self.model.cfg.vision
        views = [sample_views(item.sample, vision.image_size, *self.crop_tiles) for item in items]
        prompts = [
            encode_prompt(self.tokenizer, query_for(item.sample.meta(), len(item.sample.images)), len(v),
                          vision.tokens_per_view)
            for item, v in zip(items, views)
        ]  # fmt: skip
        out = generate(self.model, prompts, views, max_new_tokens=self.max_new_tokens,
                       no_repeat_ngram_size=self.no_repeat_ngram_size)  # fmt: skip
        return [self._finish(ids) for ids in out]

    def _finish(self, ids: list[int]) -> Prediction:
        text, looping = self.tokenizer.decode(ids), False
        # Only an output that never stopped is cut: one that ended with <|im_end|> meant its repeats (a row of
        # dashes, "ha ha ha"), and short strings look periodic by chance ("1000").
        if self.cut_loops and len(ids) == self.max_new_tokens:
            text, looping = cut_loop(text)
        return Prediction(text, len(ids), looping)


def batches(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def predict(engine, items: Iterable[EvalItem], batch_size: int, stats: dict, *, total: int | None = None,
            progress: bool = True) -> Iterator[tuple[EvalItem, Prediction]]:  # fmt: skip
    """(item, prediction) in input order; `stats` gets samples, new_tokens and seconds (tokens/s on the bar)."""
    stats.update(samples=0, new_tokens=0, seconds=0.0)
    start = time.perf_counter()
    with tqdm(total=total, unit="sample", desc=engine.name, disable=not progress, dynamic_ncols=True) as bar:
        for batch in batches(items, batch_size):
            out = engine(batch)
            stats["samples"] += len(batch)
            stats["new_tokens"] += sum(p.new_tokens for p in out)
            stats["seconds"] = time.perf_counter() - start
            bar.update(len(batch))
            if stats["new_tokens"]:
                bar.set_postfix_str(f"{stats['new_tokens'] / stats['seconds']:.1f} tok/s")
            yield from zip(batch, out)


def shard(items: Iterable[EvalItem], rank: int, world_size: int) -> Iterator[EvalItem]:
    """This rank's share: the items whose stream index is rank modulo world_size."""
    return (item for item in items if item.index % world_size == rank)


def part_path(out: Path, rank: int) -> Path:
    return out / "parts" / f"predictions-{rank:03d}.jsonl"


def merge_parts(out: Path, world_size: int) -> list[dict]:
    """All ranks' records in stream order (each carries its "index"); a missing part is an error."""
    records = []
    for rank in range(world_size):
        path = part_path(out, rank)
        if not path.is_file():
            raise FileNotFoundError(f"rank {rank} wrote no predictions ({path}); did it fail?")
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(records, key=lambda r: r["index"])
