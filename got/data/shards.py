"""The shard format (docs/data-format.md): shard URLs, reading and validating samples, and ShardWriter.

A shard is a webdataset tar. Each sample is one key with a `json` record and either one image (`png`, `jpg`,
`jpeg` or `webp`) or numbered pages (`0.png`, `1.png`, ...). Every sample read is validated; a bad one raises
BadSample with one of SKIP_REASONS, which readers count and log instead of crashing. What a sample may cost to
read is capped (Limits), checked on the tar header before a member is read and on the image header before pixels
are decoded: a small crafted file can otherwise decode to gigabytes.
"""

from __future__ import annotations

import fcntl
import glob
import io
import json
import logging
import os
import re
import tarfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import braceexpand
import numpy as np
import webdataset as wds
from PIL import Image
from webdataset.tariterators import group_by_keys

from got.data.sample import COLORS, SCHEMA_VERSION, TASKS, Sample

log = logging.getLogger("got.data")

IMAGE_EXTS = ("png", "jpg", "jpeg", "webp")
REQUIRED_KEYS = frozenset({"v", "task", "text", "lang", "source"})
OPTIONAL_KEYS = frozenset({"box", "color", "crop", "extra"})
SKIP_REASONS = (
    "tar_error",  # the shard could not be opened, or ends in a truncated or malformed member (counted once)
    "bad_json",
    "non_utf8",
    "missing_key",  # a required json key, or the json itself
    "extra_key",  # an unknown json key or tar member
    "bad_value",  # a json field of the wrong type or value, or fields that do not go together
    "bad_box",
    "empty_text",
    "missing_image",
    "bad_image",  # undecodable image bytes
    "too_long",  # more tokens or views than the loader allows (pipeline only)
    "member_too_large",  # a tar member over Limits.member_bytes (not read)
    "image_too_large",  # an image over Limits.image_pixels (not decoded)
    "sample_too_large",  # a sample's images together over Limits.sample_pixels (not decoded)
)
PAGE_NAME = re.compile(r"(\d+)\.(" + "|".join(IMAGE_EXTS) + r")")
KEY_NAME = re.compile(r"[A-Za-z0-9_\-]+")  # webdataset splits a member's name at its first dot
META_NAME = re.compile(r"__[^/]*__($|/)")  # webdataset's own members (__key__, ...), never data
ENCODE_OPTIONS = {  # PNG level 3 encodes a 1024² page ~30% faster than the default 6 for ~10% more bytes
    "png": ("PNG", {"compress_level": 3}),
    "jpg": ("JPEG", {"quality": 95}),
    "webp": ("WEBP", {"quality": 95}),
}


@dataclass(frozen=True)
class Limits:
    """What reading one sample may cost. The defaults are far above what a 1024-pixel model needs (ShardWriter
    stores at most 1024 px a side, or 12 such tiles for multi-crop) and still bound a sample's memory."""

    image_pixels: int = 40_000_000  # one image, width x height (a 600-dpi A4 scan is 35 MP)
    sample_pixels: int = 80_000_000  # all images of a sample together (8 pages of 10 MP)
    member_bytes: int = 256 << 20  # one tar member: above the PNG of a 40 MP photo (~120 MB)

    def __post_init__(self) -> None:
        if min(self.image_pixels, self.sample_pixels, self.member_bytes) < 1:
            raise ValueError(f"limits must be positive, got {self}")


class Oversized(NamedTuple):
    """A tar member that was not read because it is over Limits.member_bytes."""

    size: int


class BadSample(ValueError):
    def __init__(self, reason: str, detail: str):
        assert reason in SKIP_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def count_skip(counts: Counter, reason: str, where: str, detail: str) -> None:
    """Count a skipped sample; the first of each reason in `counts` is a warning, the rest debug lines."""
    counts[reason] += 1
    level = logging.WARNING if counts[reason] == 1 else logging.DEBUG
    log.log(level, "skipping %s: %s (%s); later %r skips are only counted", where, reason, detail, reason)


def is_remote(url: str) -> bool:
    return url.startswith("pipe:") or "://" in url


def expand_urls(spec: str | Sequence[str]) -> list[str]:
    """Shard URLs of a spec: brace patterns (`shard-{000000..000009}.tar`), local globs, directories (their
    `*.tar`), `pipe:` commands and remote URLs, or a list of those. Local paths must exist."""
    patterns = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    urls = [found for pattern in patterns for url in braceexpand.braceexpand(str(pattern)) for found in _expand(url)]
    if not urls:
        raise ValueError(f"no shard URLs in {spec!r}")
    return urls


def _expand(url: str) -> list[str]:
    if is_remote(url):
        return [url]
    if os.path.isdir(url):
        found = sorted(glob.glob(os.path.join(url, "*.tar")))
    elif glob.has_magic(url):
        found = sorted(glob.glob(url))
    else:
        found = [url] if os.path.isfile(url) else []
    if not found:
        raise FileNotFoundError(f"no shards at {url}")
    return found


def tar_members(stream, max_bytes: int) -> Iterator[dict]:
    """{"fname", "data"} of each regular member of a tar stream, as webdataset's tar_file_iterator yields them,
    except that a member over max_bytes is skipped over unread: its data is Oversized(size)."""
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for info in tar:
            if info.isreg() and not META_NAME.match(info.name):
                data = tar.extractfile(info).read() if info.size <= max_bytes else Oversized(info.size)
                yield {"fname": info.name, "data": data}
            tar.members = []  # a stream is read once: keeping every header would grow without bound


def iter_shard(url: str, counts: Counter, limits: Limits = Limits()) -> Iterator[dict]:
    """The raw samples of one shard, in order: {"__key__", "__url__", extension: bytes or Oversized, ...}.

    A shard that cannot be opened or ends in a truncated member stops there; that counts once as tar_error
    (the partly read sample is dropped with it)."""
    try:
        stream = wds.gopen(url)
        try:
            files = ({**f, "__url__": url} for f in tar_members(stream, limits.member_bytes))
            yield from group_by_keys(files)
        finally:
            stream.close()
    except Exception as e:  # whatever a broken shard raises (tarfile, OSError, a failing pipe command)
        count_skip(counts, "tar_error", url, repr(e))


def parse_sample(raw: dict) -> tuple[dict, list[bytes]]:
    """A raw sample's validated json and the bytes of its image, or of its pages in page order."""
    names = {k for k in raw if not k.startswith("__")}
    if big := sorted(f"{n} ({raw[n].size} bytes)" for n in names if isinstance(raw[n], Oversized)):
        raise BadSample("member_too_large", f"{', '.join(big)}: over the max_member_bytes cap")
    if "json" not in names:
        raise BadSample("missing_key", "no json record")
    blobs = image_blobs(names - {"json"}, raw)
    return parse_meta(raw["json"], len(blobs)), blobs


def image_blobs(names: set[str], raw: dict) -> list[bytes]:
    """The bytes of the one image member, or of the pages 0..n-1 in order."""
    single = sorted(names & set(IMAGE_EXTS))
    pages = {n: PAGE_NAME.fullmatch(n) for n in names - set(single)}
    if unknown := sorted(n for n, m in pages.items() if m is None):
        raise BadSample("extra_key", f"unknown members {unknown}")
    if not single and not pages:
        raise BadSample("missing_image", "no image member")
    if len(single) > 1 or (single and pages):
        raise BadSample("extra_key", f"several images {sorted(names)}; pages are 0.png, 1.png, ...")
    if single:
        return [raw[single[0]]]
    order = sorted(pages, key=lambda n: int(pages[n].group(1)))
    if [int(pages[n].group(1)) for n in order] != list(range(len(order))):
        raise BadSample("missing_image", f"pages must be numbered 0..n-1, got {order}")
    return [raw[n] for n in order]


def parse_meta(blob: bytes, num_images: int) -> dict:
    """The validated json record of a sample with num_images images (schema in docs/data-format.md)."""
    try:
        meta = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadSample("non_utf8", str(e)) from None
    except ValueError as e:
        raise BadSample("bad_json", str(e)) from None
    if not isinstance(meta, dict):
        raise BadSample("bad_json", f"expected an object, got {type(meta).__name__}")
    if missing := sorted(REQUIRED_KEYS - meta.keys()):
        raise BadSample("missing_key", f"json lacks {missing}")
    if extra := sorted(meta.keys() - REQUIRED_KEYS - OPTIONAL_KEYS):
        raise BadSample("extra_key", f"unknown json keys {extra}")
    if meta["v"] != SCHEMA_VERSION:
        raise BadSample("bad_value", f"schema version {meta['v']!r}, this reader knows {SCHEMA_VERSION}")
    if meta["task"] not in TASKS:
        raise BadSample("bad_value", f"task {meta['task']!r} is not one of {TASKS}")
    for key in ("text", "lang", "source"):
        if not isinstance(meta[key], str):
            raise BadSample("bad_value", f"{key} must be a string, got {type(meta[key]).__name__}")
    try:
        meta["text"].encode("utf-8")
    except UnicodeEncodeError as e:  # json's \ud800-style escapes decode to lone surrogates
        raise BadSample("non_utf8", str(e)) from None
    if not meta["text"].strip():
        raise BadSample("empty_text", "empty target text")
    if meta.get("box") is not None:
        check_box(meta["box"])
    if meta.get("color") is not None and meta["color"] not in COLORS:
        raise BadSample("bad_value", f"color {meta['color']!r} is not one of {COLORS}")
    if not isinstance(meta.get("crop", False), bool) or not isinstance(meta.get("extra", {}), dict):
        raise BadSample("bad_value", "crop must be a bool and extra an object")
    fine_grained = (meta.get("box") is not None) + (meta.get("color") is not None)
    if fine_grained + bool(meta.get("crop")) > 1:
        raise BadSample("bad_value", "box, colour and crop are exclusive")
    if fine_grained and num_images > 1:
        raise BadSample("bad_value", f"box and colour prompts need a single image, got {num_images}")
    return meta


def check_box(box) -> None:
    """GOT's 0..1000 box [x1, y1, x2, y2] with x1 < x2 and y1 < y2."""
    if not (isinstance(box, list) and len(box) == 4 and all(type(c) is int for c in box)):
        raise BadSample("bad_box", f"box must be 4 ints [x1, y1, x2, y2], got {box!r}")
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 1000):
        raise BadSample("bad_box", f"box {box} is not 0 <= x1 < x2 <= 1000, 0 <= y1 < y2 <= 1000")


def megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def open_images(blobs: Iterable[bytes], limits: Limits = Limits()) -> list[Image.Image]:
    """Images opened lazily: the header is read (size, format), the pixels are not decoded. An image or a sample
    over the pixel limits raises BadSample before anything is decoded."""
    images = []
    for blob in blobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limits below decide
                image = Image.open(io.BytesIO(blob))
        except Image.DecompressionBombError as e:  # over 179 MP: PIL refuses whatever the limits say
            raise BadSample("image_too_large", str(e)) from None
        except Exception as e:  # PIL raises several types for garbage bytes
            raise BadSample("bad_image", repr(e)) from None
        width, height = image.size
        if min(width, height) < 1:
            raise BadSample("bad_image", f"empty image {image.size}")
        if width * height > limits.image_pixels:
            raise BadSample(
                "image_too_large",
                f"{width}x{height} = {megapixels(width * height)}, over the "
                f"max_image_pixels cap of {megapixels(limits.image_pixels)}",
            )
        images.append(image)
    total = sum(w * h for w, h in (image.size for image in images))
    if total > limits.sample_pixels:
        raise BadSample(
            "sample_too_large",
            f"{len(images)} images of {megapixels(total)} in all, over the "
            f"max_sample_pixels cap of {megapixels(limits.sample_pixels)}",
        )
    return images


def to_rgb(image: Image.Image) -> Image.Image:
    """Decode as RGB; transparency is composed onto white (a plain convert would turn it black), and 16-bit,
    32-bit and float grey are scaled to 0-255 by their maximum (a plain convert clips them to white)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float32)
        grey = np.clip(array * (255 / max(float(array.max()), 1.0)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def load_images(blobs: Iterable[bytes], limits: Limits = Limits()) -> list[Image.Image]:
    """The images decoded in their own mode; undecodable bytes raise BadSample("bad_image"), images over the
    limits BadSample("image_too_large" or "sample_too_large") before they are decoded."""
    images = open_images(blobs, limits)
    try:
        for image in images:
            image.load()
    except Exception as e:  # truncated or corrupt pixel data surfaces only when decoding
        raise BadSample("bad_image", repr(e)) from None
    return images


def decode_images(blobs: Iterable[bytes], limits: Limits = Limits()) -> list[Image.Image]:
    """The images as RGB pixels (load_images, then to_rgb)."""
    return [to_rgb(image) for image in load_images(blobs, limits)]


def to_sample(meta: dict, images: list[Image.Image]) -> Sample:
    box = meta.get("box")
    return Sample(
        images=images,
        text=meta["text"],
        task=meta["task"],
        lang=meta["lang"],
        source=meta["source"],
        box=tuple(box) if box is not None else None,
        color=meta.get("color"),
        crop=meta.get("crop", False),
        extra=meta.get("extra", {}),
    )


def read_samples(
    urls: str | Sequence[str], counts: Counter | None = None, limits: Limits = Limits()
) -> Iterator[tuple[str, Sample]]:
    """(key, Sample) for every valid sample of the shards, in URL then tar order, images decoded as RGB.

    Single process and deterministic; meant for evaluation and inspection. Bad samples (and samples over the
    limits) are skipped, logged, and counted per reason into `counts` when given."""
    counts = Counter() if counts is None else counts
    for url in expand_urls(urls):
        for raw in iter_shard(url, counts, limits):
            try:
                meta, blobs = parse_sample(raw)
                yield raw["__key__"], to_sample(meta, decode_images(blobs, limits))
            except BadSample as e:
                count_skip(counts, e.reason, f"{raw['__key__']} in {url}", e.detail)


def shrink(image: Image.Image, max_side: int | None = None, max_area: int | None = None) -> Image.Image:
    """Downscale (never enlarge) to a long side <= max_side or an area <= max_area, keeping the aspect ratio."""
    w, h = image.size
    scale = min(1.0, max_side / max(w, h) if max_side else 1.0, (max_area / (w * h)) ** 0.5 if max_area else 1.0)
    if scale == 1.0:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def text_bin(length: int) -> str:
    """Power-of-two histogram bin of a text length: "0-15", "16-31", "32-63", ..."""
    if length < 16:
        return "0-15"
    low = 1 << (length.bit_length() - 1)
    return f"{low}-{2 * low - 1}"


def merge_stats(a: dict, b: dict) -> dict:
    """Sum two stats records key by key (nested count dicts included)."""
    out = dict(a)
    for key, value in b.items():
        out[key] = merge_stats(out.get(key, {}), value) if isinstance(value, dict) else out.get(key, 0) + value
    return out


class ShardWriter:
    """Write Samples into `{prefix}-{index:06d}.tar` shards in out_dir, rolling at max_count samples or
    max_bytes. Images are shrunk to max_image_size on the long side (a multi-crop image to the area of
    max_crop_tiles such views) and encoded as image_format. A shard appears under its name only once
    complete. Without start_index, numbering continues after the directory's existing shards of this prefix,
    so a rerun adds to a set instead of overwriting it. On close, the counts are added to stats.json.

        with ShardWriter("shards/pages", max_count=1000) as writer:
            writer.write(Sample([image], "text"))
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        prefix: str = "shard",
        max_count: int = 1000,
        max_bytes: int = 1 << 30,
        max_image_size: int = 1024,
        max_crop_tiles: int = 12,
        image_format: str = "png",
        start_index: int | None = None,
    ):
        if not KEY_NAME.fullmatch(prefix):
            raise ValueError(f"shard prefix {prefix!r} must be letters, digits, '_' or '-'")
        if image_format not in ENCODE_OPTIONS:
            raise ValueError(f"image_format {image_format!r} is not one of {sorted(ENCODE_OPTIONS)}")
        if max_count < 1 or max_bytes < 1 or max_image_size < 1 or max_crop_tiles < 1:
            raise ValueError("max_count, max_bytes, max_image_size and max_crop_tiles must be positive")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_count, self.max_bytes = prefix, max_count, max_bytes
        self.max_image_size, self.max_crop_tiles, self.image_format = max_image_size, max_crop_tiles, image_format
        self.index = self._next_index() if start_index is None else start_index
        self.stats: dict = {}
        self.shards: list[Path] = []  # the shards this writer completed
        self._tar: wds.TarWriter | None = None
        self._keys: set[str] = set()
        self._bytes = 0

    def _next_index(self) -> int:
        pattern = re.compile(re.escape(self.prefix) + r"-(\d+)\.tar")
        found = [int(m.group(1)) for p in self.out_dir.iterdir() if (m := pattern.fullmatch(p.name))]
        return max(found, default=-1) + 1

    @property
    def path(self) -> Path:
        return self.out_dir / f"{self.prefix}-{self.index:06d}.tar"

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, sample: Sample, key: str | None = None) -> str:
        """Add one sample; returns its key (by default `{prefix}-{shard index}-{position}`)."""
        meta = sample.meta()
        if not sample.images:
            raise ValueError("a sample needs at least one image")
        parse_meta(json.dumps(meta).encode(), len(sample.images))  # refuse what readers would skip (BadSample)
        if self._tar is None:
            if self.path.exists():
                raise FileExistsError(f"{self.path} exists; pass another start_index or prefix")
            self._tar = wds.TarWriter(str(self.path) + ".tmp", encoder=False)
        key = f"{self.prefix}-{self.index:06d}-{len(self._keys):06d}" if key is None else key
        if not KEY_NAME.fullmatch(key) or key in self._keys:
            raise ValueError(f"sample key {key!r} must be unique in its shard and only letters, digits, '_' or '-'")
        record = {"__key__": key, "json": json.dumps(meta, ensure_ascii=False).encode("utf-8")}
        crop_area = self.max_image_size**2 * self.max_crop_tiles if sample.crop and len(sample.images) == 1 else None
        for i, image in enumerate(sample.images):
            side = None if crop_area else self.max_image_size
            name = self.image_format if len(sample.images) == 1 else f"{i}.{self.image_format}"
            record[name] = self._encode(shrink(image, side, crop_area))
        self._bytes += self._tar.write(record) + 1024 * (len(record) - 1)  # + tar headers and padding
        self._keys.add(key)
        self._count(sample)
        if len(self._keys) >= self.max_count or self._bytes >= self.max_bytes:
            self._finish_shard()
        return key

    def _encode(self, image: Image.Image) -> bytes:
        if image.mode not in ("RGB", "L"):
            image = to_rgb(image)
        fmt, options = ENCODE_OPTIONS[self.image_format]
        out = io.BytesIO()
        image.save(out, fmt, **options)
        return out.getvalue()

    def _count(self, sample: Sample) -> None:
        self.stats = merge_stats(
            self.stats,
            {
                "samples": 1,
                "images": len(sample.images),
                "task": {sample.task: 1},
                "lang": {sample.lang: 1},
                "source": {sample.source: 1},
                "kind": {sample.kind: 1},
                "text_chars": {text_bin(len(sample.text)): 1},
                "text_chars_total": len(sample.text),
            },
        )

    def _finish_shard(self) -> None:
        self._tar.close()
        os.replace(str(self.path) + ".tmp", self.path)
        self.shards.append(self.path)
        self._tar, self._keys, self._bytes = None, set(), 0
        self.index += 1

    def close(self) -> None:
        if self._tar is not None:
            self._finish_shard()
        if not self.stats:
            return
        # Several writers (renderer --part i/n) may share a directory: merge under a lock, replace atomically.
        with open(self.out_dir / ".stats.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.out_dir / "stats.json"
            old = json.loads(path.read_text()) if path.is_file() else {"v": SCHEMA_VERSION}
            merged = merge_stats(old, {**self.stats, "shards": len(self.shards)})
            path.with_suffix(".tmp").write_text(json.dumps(merged, indent=1, sort_keys=True, ensure_ascii=False))
            os.replace(path.with_suffix(".tmp"), path)
        self.stats = {}  # a second close adds nothing
