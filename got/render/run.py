"""Render a dataset into shards in parallel (the logic behind data/render.py).

A dataset is (types, weights, configs, seed, num). Sample i draws its type and its content from sample_rng(seed, i)
alone. Samples are cut into chunks of `shard_size` consecutive indices; chunk c is written, by whichever worker
takes it, to `{prefix}-{c:06d}.tar`, where prefix names the dataset by a hash of its definition. Hence:
- the same arguments give the same shards, whatever the number of workers;
- a shard appears only once complete, so a rerun skips finished chunks and renders the rest (resume), and a
  different dataset written into the same directory gets other names (nothing is overwritten);
- `part=(i, n)` takes the chunks c with c % n == i: n machines render one dataset with no coordination.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing as mp
import time
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from got.data.shards import ShardWriter
from got.render import RENDERERS, build_config, sample_rng

log = logging.getLogger("got.render")
# part of every dataset's name: bump it when the same arguments come to render other samples (2: each renderer
# samples its content, then draws it, in another order of random draws; 3: lines are set one line of type high,
# in faces and sizes drawn per line, and crop strips are whole squares), so old shards are never resumed into
SAMPLES_VERSION = 3


@dataclass
class RenderJob:
    out: str
    num: int
    types: tuple[str, ...] = tuple(RENDERERS)
    weights: dict[str, float] = field(default_factory=dict)  # missing types weigh 1
    configs: dict[str, dict] = field(default_factory=dict)  # per-type config overrides (build_config)
    langs: tuple[str, ...] | None = None  # sets every `langs` field of the chosen types' configs
    seed: int = 0
    workers: int = 1
    part: tuple[int, int] = (0, 1)
    shard_size: int = 1000
    image_format: str = "png"

    def __post_init__(self):
        if unknown := [t for t in self.types if t not in RENDERERS]:
            raise ValueError(f"unknown render types {unknown}; known: {', '.join(RENDERERS)}")
        if unknown := sorted(set(self.configs) - set(self.types)):
            raise ValueError(f"configs for types not rendered: {unknown}")
        i, n = self.part
        if not 0 <= i < n:
            raise ValueError(f"part must be i/n with 0 <= i < n, got {i}/{n}")
        if self.num < 0 or self.shard_size < 1 or self.workers < 1:
            raise ValueError("num must be >= 0, shard_size and workers >= 1")
        for t in self.types:  # a bad config fails here (a pool whose initializer raises restarts it forever)
            build_config(RENDERERS[t].config, self.overrides(t))

    def overrides(self, name: str) -> dict:
        cfg = json.loads(json.dumps(self.configs.get(name, {})))  # a deep copy
        return _set_langs(RENDERERS[name].config, cfg, self.langs) if self.langs else cfg

    @property
    def prefix(self) -> str:
        """Names the dataset: everything that decides its samples, and nothing that does not (workers, part)."""
        ident = {
            "version": SAMPLES_VERSION,
            "types": self.types,
            "weights": [self.weights.get(t, 1.0) for t in self.types],
            "seed": self.seed,
            "num": self.num,
            "shard_size": self.shard_size,
            "configs": {t: self.overrides(t) for t in self.types},
        }
        return "render-" + hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]


def _set_langs(cls: type, overrides: dict, langs: tuple[str, ...]) -> dict:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "langs":
            overrides["langs"] = list(langs)
        elif dataclasses.is_dataclass(hints[f.name]):
            sub = _set_langs(hints[f.name], overrides.get(f.name, {}), langs)
            if sub:
                overrides[f.name] = sub
    return overrides


_state: dict = {}  # per worker process: the job, its built configs, the shared progress counter


def _init(job: RenderJob, counter) -> None:
    configs = {t: build_config(RENDERERS[t].config, job.overrides(t)) for t in job.types}
    _state.update(job=job, configs=configs, counter=counter)


def pick(job: RenderJob, index: int):
    """Sample `index`'s type and the generator that then renders it."""
    rng = sample_rng(job.seed, index)
    return rng.choices(job.types, [job.weights.get(t, 1.0) for t in job.types])[0], rng


def _render_chunk(chunk: int) -> tuple[int, Counter, list[str]]:
    """Render one chunk into its shard; a failing sample is logged, counted and skipped."""
    job, configs, counter = _state["job"], _state["configs"], _state["counter"]
    failed, errors, written = Counter(), [], 0
    start, stop = chunk * job.shard_size, min(job.num, (chunk + 1) * job.shard_size)
    with ShardWriter(
        job.out,
        prefix=job.prefix,
        max_count=job.shard_size + 1,
        max_bytes=1 << 62,
        image_format=job.image_format,
        start_index=chunk,
    ) as writer:
        for index in range(start, stop):
            name, rng = pick(job, index)
            try:
                r = RENDERERS[name]
                writer.write(r.draw(r.sample(rng, configs[name])), key=f"{job.prefix}-{index:09d}")
                written += 1
            except Exception as e:  # noqa: BLE001 - any renderer failure skips just this sample
                failed[name] += 1
                errors.append(f"sample {index} ({name}): {type(e).__name__}: {e}")
                log.warning("sample %d (%s) failed: %s: %s", index, name, type(e).__name__, e)
            with counter.get_lock():
                counter.value += 1
    return written, failed, errors


def run(job: RenderJob, progress: bool = True) -> dict:
    """Render the job's part; returns {"written", "failed", "skipped_shards", "errors", "seconds"}."""
    Path(job.out).mkdir(parents=True, exist_ok=True)
    i, n = job.part
    chunks = [c for c in range(-(-job.num // job.shard_size)) if c % n == i]
    done = [c for c in chunks if (Path(job.out) / f"{job.prefix}-{c:06d}.tar").exists()]
    todo = [c for c in chunks if c not in done]
    total = sum(min(job.num, (c + 1) * job.shard_size) - c * job.shard_size for c in todo)
    counter = mp.Value("l", 0)
    written, failed, errors = 0, Counter(), []
    start = time.time()
    bar = tqdm(total=total, unit="sample", disable=not progress, smoothing=0.1)
    if job.workers == 1:
        _init(job, counter)
        results = map(_render_chunk, todo)
        pool = None
    else:
        pool = mp.get_context("fork").Pool(job.workers, initializer=_init, initargs=(job, counter))
        results = pool.imap_unordered(_render_chunk, todo)
    try:
        pending = iter(results)
        while True:
            try:
                w, f, e = _next_with_progress(pending, pool, counter, bar)
            except StopIteration:
                break
            written, failed, errors = written + w, failed + f, errors + e
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    bar.update(counter.value - bar.n)
    bar.close()
    return {
        "written": written,
        "failed": dict(failed),
        "skipped_shards": len(done),
        "errors": errors[:20],
        "seconds": round(time.time() - start, 2),
        "prefix": job.prefix,
    }


def _next_with_progress(results, pool, counter, bar):
    """The next chunk result; while waiting on a pool, the bar follows the workers' shared sample counter."""
    if pool is None:
        out = next(results)
        bar.update(counter.value - bar.n)
        return out
    while True:
        try:
            return results.next(timeout=0.5)
        except mp.TimeoutError:
            bar.update(counter.value - bar.n)
