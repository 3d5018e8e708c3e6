"""Batched greedy generation over evaluation items with a GOT checkpoint, split across ranks.

Each rank reads the same deterministic stream and keeps items i with i % world_size == rank; it writes its
predictions to parts/ with their stream index, and rank 0 merges the parts back into stream order.

The repetition guard (`cut_loops`): an output that ran to max_new_tokens without `<|im_end|>` and ends in a loop
(got.eval.metrics.cut_loop, the `looping` metric's definition) is cut back to the loop's first copy and flagged.
"""

import json
import time
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from got.data.sample import query_for
from got.eval.inputs import EvalItem
from got.infer.api import GOT, Reading, Request, batches, load


class GOTEngine:
    """A GOT model reading batches of evaluation items through the model API's batched core (got.infer.api)."""

    name = "got"

    def __init__(
        self, reader: GOT, *, max_new_tokens: int = 4096, no_repeat_ngram_size: int = 20, cut_loops: bool = True
    ):
        self.reader, self.cut_loops = reader, cut_loops
        self.max_new_tokens, self.no_repeat_ngram_size = max_new_tokens, no_repeat_ngram_size

    @classmethod
    def from_dir(cls, model_dir: str | Path, *, device: str = "cpu", dtype: str = "float32", **kwargs) -> "GOTEngine":
        """A checkpoint in any layout, with its tokenizer."""
        return cls(load(model_dir, device, dtype), **kwargs)

    def __call__(self, items: list[EvalItem]) -> list[Reading]:
        requests = []
        for item in items:
            sample = item.sample
            views = self.reader.cut.of_images(sample.images, crop=sample.crop and len(sample.images) == 1)
            requests.append(Request(views, query_for(sample.meta(), len(sample.images))))
        readings = self.reader.read(
            requests,
            max_new_tokens=self.max_new_tokens,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            cut_loops=self.cut_loops,
        )
        # an evaluation record's `looping` says the guard cut the text; the metrics flag the loops it leaves
        return [r._replace(looping=r.looping and self.cut_loops) for r in readings]


def predict(
    engine, items: Iterable[EvalItem], batch_size: int, stats: dict, *, total: int | None = None, progress: bool = True
) -> Iterator[tuple[EvalItem, Reading]]:
    """(item, reading) in input order; `stats` gets samples, new_tokens and seconds (tokens/s on the bar)."""
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
