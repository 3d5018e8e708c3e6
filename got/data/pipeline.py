"""The streaming training loader (docs/data.md).

Shard sets -> a weighted mixture -> validated, tokenised samples -> packed rows -> decoded, augmented views ->
batches in GOTModel.forward's format. Each DataLoader worker of each rank owns one slot of the stream:

- Shards. Every epoch of a set shuffles its shards (the same order on every slot); slot s of n takes shards
  s, s+n, ... (or, with fewer shards than slots, every shard and every n-th sample), so no sample is repeated
  across ranks and workers within an epoch. A slot reads its shards `shuffle_shards` at a time, interleaved,
  through a shuffle buffer that is emptied at the end of each such group.
- Mixture. Draw n of a slot comes from set j with probability weights[j] (a random choice keyed on n).
- Packing. About `pack_window_rows` rows' worth of samples are planned at once (first-fit decreasing) before
  any image is decoded; the window's rows are then emitted `batch_rows` at a time.

All randomness is keyed on (seed, purpose, slot, counters), never on history, so the position of a slot is a
few counters: the window's start (draws so far and each set's epoch, group and offset in the group) and the
rows emitted from it. Resuming re-reads at most one group per set and one window without decoding what was
already used, and yields exactly the batches an uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from got.data.augment import Augment, build_augment
from got.data.packing import Encoded, collate_packed, collate_padded, plan_rows
from got.data.sample import query_for
from got.data.shards import (
    BadSample,
    Limits,
    count_skip,
    decode_images,
    expand_urls,
    iter_shard,
    open_images,
    parse_sample,
)
from got.model.views import Views, num_views
from got.prompts import IGNORE_INDEX, encode_sample
from got.tokenizer import GOTTokenizer

# Purposes that key the random generators, so that no two uses share a stream.
SHARDS, SHUFFLE, MIX, WINDOW, AUGMENT, PERTURB = range(6)
# Config fields that can change between a save and a resume without changing the stream.
RESUME_FREE = ("prefetch_factor", "pin_memory", "max_bad_in_a_row")
STATE_VERSION = 1


@dataclass
class ShardSet:
    urls: list[str]  # what got.data.shards.expand_urls takes: globs, brace patterns, dirs, pipe: (a str is one)
    weight: float = 1.0  # relative share of the draws
    name: str = ""  # for messages; defaults to the urls

    def __post_init__(self) -> None:
        self.urls = [self.urls] if isinstance(self.urls, str) else list(self.urls)
        if self.weight <= 0:
            raise ValueError(f"shard set {self.name or self.urls}: weight must be positive, got {self.weight}")


@dataclass
class DataConfig:
    sets: list[ShardSet] = field(default_factory=list)  # the mixture (dicts from YAML are converted)
    seed: int = 0
    max_tokens: int = 8192  # row capacity, and the longest sample allowed
    batch_rows: int = 1  # rows per batch on each rank (the last batch of a window may have fewer)
    packing: bool = True  # False: one sample per row, right-padded, with an attention_mask
    pack_window_rows: int = 32  # samples are planned about this many rows' worth at a time
    length_policy: str = "truncate"  # a sample over max_tokens: "truncate" its answer or "drop" it
    max_pages: int = 8  # more pages than this is too long
    # What one sample may cost to read (got.data.shards.Limits; defaults far above what a 1024-px model needs).
    # Each is checked before the bytes are read or the pixels decoded, and an excess is a counted skip.
    max_image_pixels: int = Limits.image_pixels  # one image (skip reason image_too_large)
    max_sample_pixels: int = Limits.sample_pixels  # a sample's images together (sample_too_large)
    max_member_bytes: int = Limits.member_bytes  # one tar member (member_too_large)
    augment: str = "light"  # got.data.augment preset: none, light, strong
    shuffle_buffer: int = 1000  # samples
    shuffle_shards: int = 2  # shards read interleaved into one shuffle group (a resume re-reads one group)
    num_workers: int = 2
    prefetch_factor: int = 2  # batches per worker in flight
    pin_memory: bool = False
    max_bad_in_a_row: int = 1000  # this many bad samples in a row from one set is an error, not a skip
    # Label-token perturbation (Nougat, olmOCR), against loops: each answer token's *input* is replaced by a
    # random ordinary token with this probability; its target stays. 0 turns it off.
    perturb_labels: float = 0.0

    def __post_init__(self) -> None:
        self.sets = [s if isinstance(s, ShardSet) else ShardSet(**s) for s in self.sets]
        if self.length_policy not in ("truncate", "drop"):
            raise ValueError(f"data.length_policy must be 'truncate' or 'drop', got {self.length_policy!r}")
        positive = (
            "max_tokens",
            "batch_rows",
            "pack_window_rows",
            "max_pages",
            "shuffle_buffer",
            "shuffle_shards",
            "prefetch_factor",
            "max_bad_in_a_row",
            "max_image_pixels",
            "max_sample_pixels",
            "max_member_bytes",
        )
        if bad := [f"{k}={getattr(self, k)}" for k in positive if getattr(self, k) < 1]:
            raise ValueError(f"data config values must be positive: {', '.join(bad)}")
        if not 0.0 <= self.perturb_labels < 1.0:
            raise ValueError(f"data.perturb_labels is a probability in [0, 1), got {self.perturb_labels}")
        if self.seed < 0 or self.num_workers < 0:
            raise ValueError("data.seed and data.num_workers must be >= 0")
        build_augment(self.augment)  # an unknown preset fails here, not in a worker

    @property
    def limits(self) -> Limits:
        return Limits(self.max_image_pixels, self.max_sample_pixels, self.max_member_bytes)


@dataclass
class Item:
    """A validated, tokenised sample whose images are still encoded bytes."""

    where: str  # "key in url", for messages
    draw: int  # its index in the slot's stream, which keys its augmentation
    blobs: list[bytes]
    grid: tuple[int, int] | None  # multi-crop grid of a single image, None otherwise
    geometric: bool  # whether geometric augmentation keeps the target valid (not for box prompts)
    input_ids: list[int] = field(repr=False)
    labels: list[int] = field(repr=False)


@dataclass
class Slot:
    """Who reads: slot `index` of `count` (rank · num_workers + worker of world_size · num_workers)."""

    index: int
    count: int
    worker: int  # the logical DataLoader worker, which owns this slot's state


def rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def start_position(num_sets: int) -> dict:
    return {"draws": 0, "sets": [{"epoch": 0, "group": 0, "offset": 0}] * num_sets}


# --- raw samples: one shard set, then the mixture -------------------------------------------------------------


def interleave(iterators: list[Iterator]) -> Iterator:
    """Round-robin over iterators until all are exhausted."""
    live = list(iterators)
    while live:
        for it in list(live):
            try:
                yield next(it)
            except StopIteration:
                live.remove(it)


def shuffled(items: Iterator, size: int, gen: np.random.Generator) -> Iterator:
    """A shuffle buffer of `size`, drained in random order at the end."""
    buffer = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            i = gen.integers(len(buffer))
            buffer[i], buffer[-1] = buffer[-1], buffer[i]
            yield buffer.pop()
    gen.shuffle(buffer)
    yield from buffer


def set_stream(urls: list[str], j: int, cfg: DataConfig, slot: Slot, start: dict, counts: Counter) -> Iterator:
    """Raw samples of shard set j for this slot, forever, each with the set position after it."""
    epoch, group, offset = start["epoch"], start["group"], start["offset"]
    while True:
        shards = [urls[i] for i in rng(cfg.seed, SHARDS, j, epoch).permutation(len(urls))]
        whole_shards = len(shards) >= slot.count
        mine = shards[slot.index :: slot.count] if whole_shards else shards
        groups = [mine[g : g + cfg.shuffle_shards] for g in range(0, len(mine), cfg.shuffle_shards)]
        found = group > 0 or offset > 0
        for g in range(group, len(groups)):
            raws = interleave([iter_shard(url, counts, cfg.limits) for url in groups[g]])
            if not whole_shards:
                raws = (raw for n, raw in enumerate(raws) if n % slot.count == slot.index)
            raws = shuffled(raws, cfg.shuffle_buffer, rng(cfg.seed, SHUFFLE, j, slot.index, epoch, g))
            for k, raw in enumerate(raws, 1):
                found = True
                yield {"epoch": epoch, "group": g, "offset": k}, raw
        if not found:
            name = cfg.sets[j].name or cfg.sets[j].urls
            raise RuntimeError(f"shard set {name!r} has no readable sample for slot {slot.index}: {dict(counts)}")
        epoch, group, offset = epoch + 1, 0, 0


def open_set_stream(urls: list[str], j: int, cfg: DataConfig, slot: Slot, start: dict, counts: Counter) -> Iterator:
    """set_stream moved to `start` now: its group is re-read up to the offset (bytes only, nothing decoded)."""
    stream = set_stream(urls, j, cfg, slot, {**start, "offset": 0}, counts)
    for _ in range(start["offset"]):
        next(stream)
    return stream


def mixture_stream(urls: list[list[str]], cfg: DataConfig, slot: Slot, start: dict, counts: Counter) -> Iterator:
    """(position after it, draw index, set index, raw sample), forever; draw n picks a set by weight."""
    streams = [open_set_stream(u, j, cfg, slot, start["sets"][j], counts) for j, u in enumerate(urls)]
    weights = np.array([s.weight for s in cfg.sets]) / sum(s.weight for s in cfg.sets)
    positions, draw = list(start["sets"]), start["draws"]
    while True:
        j = int(rng(cfg.seed, MIX, slot.index, draw).choice(len(weights), p=weights)) if len(weights) > 1 else 0
        positions[j], raw = next(streams[j])
        draw += 1
        yield {"draws": draw, "sets": list(positions)}, draw - 1, j, raw


# --- samples: validate and tokenise, then decode and augment --------------------------------------------------


def prepare(raw: dict, draw: int, cfg: DataConfig, views: Views, tokenizer: GOTTokenizer, counts: Counter) -> Item:
    """Validate and tokenise a raw sample (images are only opened, not decoded); raises BadSample."""
    meta, blobs = parse_sample(raw)
    sizes = [image.size for image in open_images(blobs, cfg.limits)]
    crop, grid = meta.get("crop", False), None
    if crop and len(blobs) == 1:  # several images with crop set are views cut already
        grid = views.grid(*sizes[0])
    count = num_views(grid) if grid else len(blobs)
    if count > (views.max_tiles + 1 if crop else cfg.max_pages):
        raise BadSample("too_long", f"{count} views")
    try:
        ids, labels = encode_sample(
            tokenizer,
            query_for(meta, len(blobs)),
            meta["text"],
            count,
            views.tokens,
            cfg.max_tokens,
            truncate=cfg.length_policy == "truncate",
        )
    except ValueError as e:
        raise BadSample("too_long", str(e)) from None
    if labels[-1] != tokenizer.token_id("<|im_end|>"):
        counts["truncated"] += 1  # kept, with the end of its answer cut
    where = f"{raw['__key__']} in {raw['__url__']}"
    return Item(where, draw, blobs, grid, meta.get("box") is None, ids, labels)


def load_views(item: Item, cfg: DataConfig, views: Views, augment: Augment | None, slot: Slot) -> list[torch.Tensor]:
    """Decode, augment and resize or tile an item's images into uint8 (3, S, S) views; raises BadSample."""
    pixels = [np.array(image) for image in decode_images(item.blobs, cfg.limits)]  # (H, W, 3), writable
    if augment is not None:
        seeds = rng(cfg.seed, AUGMENT, slot.index, item.draw).integers(2**31, size=len(pixels))
        pixels = [augment(p, int(seed), item.geometric) for p, seed in zip(pixels, seeds)]
    return list(views.cut([torch.from_numpy(p).permute(2, 0, 1) for p in pixels], item.grid))


# --- windows and batches ----------------------------------------------------------------------------------------


def read_window(
    stream: Iterator, cfg: DataConfig, views: Views, tokenizer: GOTTokenizer, counts: Counter, bad_in_a_row: Counter
) -> tuple[list[Item], dict]:
    """Valid items worth pack_window_rows rows, and the stream position after them."""
    items, tokens = [], 0
    while tokens < cfg.pack_window_rows * cfg.max_tokens:
        position, draw, j, raw = next(stream)
        try:
            item = prepare(raw, draw, cfg, views, tokenizer, counts)
        except BadSample as e:
            count_skip(counts, e.reason, f"{raw['__key__']} in {raw['__url__']}", e.detail)
            bad_in_a_row[j] += 1
            if bad_in_a_row[j] >= cfg.max_bad_in_a_row:
                name = cfg.sets[j].name or cfg.sets[j].urls
                raise RuntimeError(f"shard set {name!r}: {bad_in_a_row[j]} bad samples in a row: {dict(counts)}")
            continue
        bad_in_a_row[j] = 0
        items.append(item)
        tokens += len(item.input_ids)
    return items, position


def plan_window(items: list[Item], cfg: DataConfig, gen: np.random.Generator) -> list[list[int]]:
    """Rows of item indices: packed first-fit decreasing, or one per row sorted by length (little padding)."""
    lengths = [len(item.input_ids) for item in items]
    if not cfg.packing:
        return [[i] for i in sorted(range(len(items)), key=lambda i: lengths[i])]
    rows = plan_rows(lengths, cfg.max_tokens)
    return [rows[i] for i in gen.permutation(len(rows))]  # FFD puts the longest samples in the first rows


def slot_batches(
    urls: list[list[str]], cfg: DataConfig, views: Views, tokenizer: GOTTokenizer, slot: Slot, state: dict | None
) -> Iterator[tuple[dict, dict]]:
    """This slot's batches, forever, each with what the main process needs: the slot's state after it, its
    cumulative counts, and its token, capacity and sample numbers. `state` (from an earlier batch) resumes."""
    counts, bad_in_a_row, augment = Counter(), Counter(), build_augment(cfg.augment)
    window = state["window"] if state else start_position(len(urls))
    rows_done = state["rows_done"] if state else 0
    stream = mixture_stream(urls, cfg, slot, window, counts)
    while True:
        items, next_window = read_window(stream, cfg, views, tokenizer, counts, bad_in_a_row)
        if state:  # everything counted while replaying up to here was counted before the save
            counts.clear()
            counts.update(state["counts"])
            state = None
        rows = plan_window(items, cfg, rng(cfg.seed, WINDOW, slot.index, window["draws"]))
        for first in range(rows_done, len(rows), cfg.batch_rows):
            chunk = rows[first : first + cfg.batch_rows]
            ranks = tokenizer.num_ranks
            encoded = [[materialize(items[i], cfg, views, augment, slot, counts, ranks) for i in row] for row in chunk]
            encoded = [kept for row in encoded if (kept := [e for e in row if e is not None])]
            if not encoded:  # every image in these rows was undecodable
                continue
            info = {
                "worker": slot.worker,
                "state": {"window": window, "rows_done": first + cfg.batch_rows, "counts": dict(counts)},
                "samples": sum(map(len, encoded)),
                "tokens": sum(s.length for row in encoded for s in row),
                "capacity": len(encoded) * cfg.max_tokens,
            }
            pad = tokenizer.pad_id
            batch = collate_packed(encoded, pad) if cfg.packing else collate_padded([row[0] for row in encoded], pad)
            yield batch, info
        window, rows_done = next_window, 0


def perturb_inputs(item: Item, cfg: DataConfig, slot: Slot, num_ranks: int) -> list[int]:
    """The item's input_ids with each answer token replaced, with probability cfg.perturb_labels, by a random
    ordinary token (ids below num_ranks; never a special one). Labels are aligned with the inputs and the loss
    shifts them, so the target at a perturbed position is unchanged while the tokens after it are predicted
    from a corrupted history: the model learns not to trust its own last tokens, which is what feeds a loop.
    Special tokens (the closing <|im_end|>) are left alone. Keyed on the item's draw: resume replays it."""
    if not cfg.perturb_labels:
        return item.input_ids
    gen = rng(cfg.seed, PERTURB, slot.index, item.draw)
    ids, labels = np.array(item.input_ids), np.array(item.labels)
    hit = (labels != IGNORE_INDEX) & (labels < num_ranks) & (gen.random(len(ids)) < cfg.perturb_labels)
    ids[hit] = gen.integers(num_ranks, size=int(hit.sum()))
    return ids.tolist()


def materialize(
    item: Item, cfg: DataConfig, views: Views, augment: Augment | None, slot: Slot, counts: Counter, num_ranks: int
) -> Encoded | None:
    """The item ready for batching: its (perturbed) input ids and its images decoded into views; None (and a
    counted skip) when an image does not decode."""
    try:
        inputs = perturb_inputs(item, cfg, slot, num_ranks)
        return Encoded(inputs, item.labels, load_views(item, cfg, views, augment, slot))
    except BadSample as e:
        count_skip(counts, e.reason, item.where, e.detail)
        return None


# --- the loader -------------------------------------------------------------------------------------------------


class _SlotDataset(IterableDataset):
    """Runs slot_batches in each DataLoader worker (or in the main process with num_workers=0)."""

    def __init__(self, loader: Loader):
        self.urls, self.cfg, self.views, self.tokenizer = loader.urls, loader.cfg, loader.views, loader.tokenizer
        self.rank, self.world_size = loader.rank, loader.world_size
        self.states, self.rotation = dict(loader.worker_states), loader.next_worker

    def __iter__(self) -> Iterator[tuple[dict, dict]]:
        info = get_worker_info()
        physical, workers = (info.id, info.num_workers) if info else (0, 1)
        # The DataLoader always starts with physical worker 0; rotating the logical ids makes the first batch
        # come from the worker whose turn it was when the state was saved.
        worker = (physical + self.rotation) % workers
        slot = Slot(self.rank * workers + worker, self.world_size * workers, worker)
        yield from slot_batches(self.urls, self.cfg, self.views, self.tokenizer, slot, self.states.get(worker))


def _as_is(batch):
    return batch


class Loader:
    """Batches for GOTModel.forward, forever: {"input_ids", "labels", "position_ids" | "attention_mask",
    "images"}. state_dict()/load_state_dict() resume exactly; stats() has the skip counts and efficiency.

        loader = Loader(DataConfig(sets=[ShardSet("shards/pages/*.tar")]), tokenizer, model.cfg.views, rank, world_size)
        for step, batch in zip(range(steps), loader):
            loss = model(**batch)
    """

    def __init__(self, cfg: DataConfig, tokenizer: GOTTokenizer, views: Views, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        if not cfg.sets:
            raise ValueError("data.sets is empty: give at least one shard set (urls and weight)")
        self.cfg, self.tokenizer, self.views, self.rank, self.world_size = cfg, tokenizer, views, rank, world_size
        self.urls = [expand_urls(s.urls) for s in cfg.sets]
        self.worker_states: dict[int, dict] = {}  # logical worker -> its state after the last batch taken
        self.next_worker = 0
        self.totals = Counter()  # batches, samples, tokens and capacity taken so far

    @property
    def num_workers(self) -> int:
        return max(1, self.cfg.num_workers)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        workers = self.cfg.num_workers
        loader = DataLoader(
            _SlotDataset(self),
            batch_size=None,
            collate_fn=_as_is,
            num_workers=workers,
            pin_memory=self.cfg.pin_memory,
            prefetch_factor=self.cfg.prefetch_factor if workers else None,
            # Its own generator: the DataLoader draws worker seeds from it (unused: the stream is keyed on
            # counters), not from the global RNG, whose state the trainer saves and restores for dropout.
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )
        for batch, info in loader:
            self.worker_states[info["worker"]] = info["state"]
            self.next_worker = (info["worker"] + 1) % self.num_workers
            self.totals.update(batches=1, samples=info["samples"], tokens=info["tokens"], capacity=info["capacity"])
            yield batch

    def stats(self) -> dict:
        """Totals so far, packing efficiency (real tokens / row capacity) and counts per skip reason
        (plus "truncated": samples kept with a cut answer), summed over this rank's workers."""
        counts = sum((Counter(s["counts"]) for s in self.worker_states.values()), Counter())
        efficiency = self.totals["tokens"] / self.totals["capacity"] if self.totals["capacity"] else 0.0
        return {**self.totals, "efficiency": efficiency, "skipped": dict(counts)}

    def _fingerprint(self) -> dict:
        config = {k: v for k, v in dataclasses.asdict(self.cfg).items() if k not in RESUME_FREE}
        config["views"] = dataclasses.asdict(self.views)
        return {"config": config, "rank": self.rank, "world_size": self.world_size, "urls": self.urls}

    def state_dict(self) -> dict:
        return {
            "version": STATE_VERSION,
            "fingerprint": self._fingerprint(),
            "workers": dict(self.worker_states),
            "next_worker": self.next_worker,
            "totals": dict(self.totals),
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')!r}, expected {STATE_VERSION}")
        saved, now = state["fingerprint"], self._fingerprint()
        keys = sorted({*saved["config"], *now["config"]})
        changed = [k for k in keys if saved["config"].get(k) != now["config"].get(k)]
        changed += [k for k in ("rank", "world_size", "urls") if saved[k] != now[k]]
        if changed:
            raise ValueError(f"cannot resume the data stream exactly: {changed} changed since the state was saved")
        self.worker_states = {int(k): v for k, v in state["workers"].items()}
        self.next_worker = state["next_worker"]
        self.totals = Counter(state["totals"])
