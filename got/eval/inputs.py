"""What evaluation reads: webdataset shards (got.data.shards), or a folder of images with their labels.

A folder holds either a `labels.jsonl`, one sample a line:
    {"image": "a.png", "text": "label", "id"?, "task"?, "lang"?, "kind"?, "box"?, "color"?, "crop"?}
    {"images": ["p1.png", "p2.png"], "text": "both pages' text", ...}        (a multi-page sample)
with paths relative to the folder and box/color/crop as in the shard schema, or images with sidecar labels:
`a.png` + `a.txt` (any depth). Every sample is validated like a shard sample; a bad one (a missing image, an
empty label, a malformed line) is counted under its reason and skipped, never fatal.
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from got.data.sample import SCHEMA_VERSION, Sample
from got.data.shards import (
    BadSample,
    count_skip,
    decode_images,
    expand_urls,
    iter_shard,
    parse_meta,
    parse_sample,
    read_samples,
    to_sample,
)
from got.eval.metrics import KINDS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
LABELS_FILE = "labels.jsonl"
ENTRY_KEYS = ("image", "images", "id", "kind")  # the folder's own keys; the rest is a shard json record


@dataclass
class EvalItem:
    id: str
    sample: Sample
    kind: str = "page"  # what the metrics tokenise on: "page" (words) or "scene" (characters)
    index: int = 0  # position in the stream of valid items, which ranks split and merge on


def is_folder(data: str) -> bool:
    path = Path(data)
    return path.is_file() and path.suffix == ".jsonl" or path.is_dir() and not any(path.glob("*.tar"))


def _record(entry: dict, task: str, lang: str) -> dict:
    """A folder entry as a shard json record, so got.data.shards validates both the same way."""
    meta = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
    return {"v": SCHEMA_VERSION, "task": task, "lang": lang, "source": "folder", **meta}


def _load(root: Path, paths: list, entry: dict, task: str, lang: str) -> Sample:
    if not paths or not all(isinstance(p, str) for p in paths):
        raise BadSample("missing_image", 'an entry needs "image": path or "images": [paths]')
    if missing := [p for p in paths if not (root / p).is_file()]:
        raise BadSample("missing_image", f"no file {missing}")
    if entry.get("kind", KINDS[0]) not in KINDS:
        raise BadSample("bad_value", f"kind {entry['kind']!r} is not one of {KINDS}")
    meta = parse_meta(json.dumps(_record(entry, task, lang)).encode(), len(paths))
    return to_sample(meta, decode_images((root / p).read_bytes() for p in paths))


def _entries(root: Path, counts: Counter | None) -> Iterator[tuple[str, dict, list]]:
    """(id, entry, image paths) for each sample of a folder; lines that are no entry at all are counted into
    `counts`, or passed over silently without it."""

    def skip(reason: str, where: str, detail: str) -> None:
        if counts is not None:
            count_skip(counts, reason, where, detail)

    labels = root / LABELS_FILE if root.is_dir() else root
    if labels.is_file():
        for n, line in enumerate(labels.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except UnicodeDecodeError as e:
                skip("non_utf8", f"{labels.name} line {n}", str(e))
                continue
            except ValueError as e:
                skip("bad_json", f"{labels.name} line {n}", str(e))
                continue
            if not isinstance(entry, dict):
                skip("bad_json", f"{labels.name} line {n}", "not an object")
                continue
            paths = [entry["image"]] if "image" in entry else entry.get("images", [])
            yield str(entry.get("id", f"line{n}")), entry, paths
        return
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        name = str(image.relative_to(root))
        sidecar = image.with_suffix(".txt")
        if not sidecar.is_file():
            skip("missing_key", name, f"no label file {sidecar.name}")
            continue
        try:
            text = sidecar.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            skip("non_utf8", sidecar.name, str(e))
            continue
        yield name, {"text": text.rstrip("\n")}, [name]


def read_folder(
    root: str | Path,
    counts: Counter,
    *,
    task: str = "ocr",
    lang: str = "en",
    kind: str = "page",
) -> Iterator[EvalItem]:
    """Valid samples of a folder (or of a labels.jsonl file); task, lang and kind are defaults for entries without."""
    root = Path(root)
    base = root if root.is_dir() else root.parent
    for key, entry, paths in _entries(root, counts):
        try:
            sample = _load(base, paths, entry, task, lang)
        except BadSample as e:
            count_skip(counts, e.reason, key, e.detail)
            continue
        yield EvalItem(key, sample, entry.get("kind", kind))


def read_inputs(data: str, counts: Counter, *, kind: str = "page", task: str | None = None) -> Iterator[EvalItem]:
    """Items of shards (a directory of *.tar, a glob, a brace pattern) or of an image folder, in a fixed order.
    `kind` is the metrics kind of samples without their own (the shard schema has none; folder entries may).
    `task`, if given, replaces every sample's own (the prompt asks for it)."""
    if is_folder(data):
        items = read_folder(data, counts, kind=kind)
    else:
        items = (EvalItem(key, sample, kind) for key, sample in read_samples(data, counts))
    for index, item in enumerate(items):
        item.index = index
        item.sample.task = task or item.sample.task
        yield item


def labels(data: str) -> list[str]:
    """Every valid label, without decoding images: a cheap first pass that sizes the progress bar and lets
    missing requirements (jieba for Chinese) fail before any generation."""
    if is_folder(data):
        texts = (entry.get("text") for _, entry, _ in _entries(Path(data), None))
        return [t for t in texts if isinstance(t, str) and t.strip()]
    texts = []
    for url in expand_urls(data):
        for raw in iter_shard(url, Counter()):
            try:
                texts.append(parse_sample(raw)[0]["text"])
            except BadSample:
                pass
    return texts
