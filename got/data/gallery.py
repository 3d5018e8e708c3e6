"""Looking at a shard set (data/inspect_shards.py): its stats, and random samples as a contact sheet and an HTML page
with each sample's images, prompt and target."""

from __future__ import annotations

import html
import random
from collections import Counter
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

from got.data.sample import Sample, query_for
from got.data.shards import BadSample, count_skip, decode_images, expand_urls, iter_shard, parse_sample, to_sample


def format_stats(stats: dict) -> str:
    """stats.json as a few readable lines; text lengths in histogram order."""
    lines = [f"samples {stats.get('samples', 0)}, images {stats.get('images', 0)}, shards {stats.get('shards', 0)}"]
    for key in ("task", "kind", "lang", "source"):
        counts = sorted(stats.get(key, {}).items(), key=lambda kv: -kv[1])
        lines.append(f"{key}: " + ", ".join(f"{k or '-'} {v}" for k, v in counts))
    bins = sorted(stats.get("text_chars", {}).items(), key=lambda kv: int(kv[0].split("-")[0]))
    lines.append("text chars: " + ", ".join(f"{k}: {v}" for k, v in bins))
    return "\n".join(lines)


def pick_samples(
    urls: str | Sequence[str], n: int, seed: int = 0, max_shards: int | None = None, counts: Counter | None = None
) -> list[tuple[str, Sample]]:
    """n random valid samples (reservoir sampling; only the chosen ones are decoded), from at most max_shards
    random shards."""
    gen, counts = random.Random(seed), Counter() if counts is None else counts
    shards = expand_urls(urls)
    if max_shards is not None and len(shards) > max_shards:
        shards = sorted(gen.sample(shards, max_shards))
    reservoir, seen = [], 0
    for url in shards:
        for raw in iter_shard(url, counts):
            try:
                meta, blobs = parse_sample(raw)
            except BadSample as e:
                count_skip(counts, e.reason, f"{raw['__key__']} in {url}", e.detail)
                continue
            seen += 1
            if len(reservoir) < n:
                reservoir.append((raw["__key__"], meta, blobs))
            elif (i := gen.randrange(seen)) < n:
                reservoir[i] = (raw["__key__"], meta, blobs)
    picked = []
    for key, meta, blobs in reservoir:
        try:
            picked.append((key, to_sample(meta, decode_images(blobs))))
        except BadSample as e:
            count_skip(counts, e.reason, key, e.detail)
    return picked


def preview(image: Image.Image, box: tuple[int, int, int, int] | None, size: int) -> Image.Image:
    """The image fitted into size×size, with the 0-1000 box outlined."""
    image = image.copy()
    image.thumbnail((size, size))
    if box is not None:
        x1, y1, x2, y2 = (c / 1000 * s for c, s in zip(box, image.size * 2))
        ImageDraw.Draw(image).rectangle((x1, y1, x2, y2), outline="red", width=2)
    return image


def caption(key: str, sample: Sample) -> str:
    return f"{key} | {sample.kind} {sample.task} {sample.lang} | {len(sample.images)} img | {len(sample.text)} chars"


def contact_sheet(picked: list[tuple[str, Sample]], thumb: int = 256, columns: int = 4) -> Image.Image:
    """A grid of previews, each captioned with its key, kind, task, language, images and text length."""
    label = 14
    rows = max(1, -(-len(picked) // columns))
    sheet = Image.new("RGB", (columns * thumb, rows * (thumb + label)), "lightgray")  # shows white pages
    draw = ImageDraw.Draw(sheet)
    for i, (key, sample) in enumerate(picked):
        x, y = (i % columns) * thumb, (i // columns) * (thumb + label)
        sheet.paste(preview(sample.images[0], sample.box, thumb), (x, y))
        draw.text((x + 2, y + thumb), caption(key, sample)[: thumb // 6], fill="black")
    return sheet


def write_gallery(picked: list[tuple[str, Sample]], out_dir: str | Path, thumb: int = 512) -> Path:
    """out_dir/index.html (+ images/): each sample's images, key and metadata, prompt and target."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    cards = []
    for i, (key, sample) in enumerate(picked):
        pictures = []
        for j, image in enumerate(sample.images):
            name = f"images/{i:03d}_{j}.png"
            preview(image, sample.box, thumb).save(out_dir / name)
            pictures.append(f'<img src="{name}" loading="lazy">')
        prompt = query_for(sample.meta(), len(sample.images))
        cards.append(
            f"<div class=card><div>{''.join(pictures)}</div><p><b>{html.escape(caption(key, sample))}</b> "
            f"{html.escape(sample.source)}</p><p>prompt: <code>{html.escape(prompt)}</code></p>"
            f"<pre>{html.escape(sample.text)}</pre></div>"
        )
    style = (
        "body{font-family:sans-serif;margin:1em} .card{border:1px solid #ccc;padding:.5em;margin:.5em 0}"
        " img{max-height:" + str(thumb) + "px;margin-right:4px;border:1px solid #eee} pre{white-space:pre-wrap}"
    )
    page = f"<!doctype html><meta charset=utf-8><title>samples</title><style>{style}</style>{''.join(cards)}"
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
