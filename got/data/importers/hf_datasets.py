"""Hugging Face `datasets` -> samples: a save_to_disk directory or parquet files, with an image column (an
Image feature, encoded bytes, a {"bytes", "path"} dict, a path, or a list of those as pages) and a text column.

Images are read undecoded (`decode(False)`) and decoded here, through the shard reader's pixel caps: datasets
would decode a gigapixel image whole, or fail the whole import on PIL's bomb check."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterable, Iterator

import datasets

from got.data.importers import Report, guess_lang
from got.data.sample import Sample
from got.data.shards import BadSample, load_images


def parquet_files(src: str) -> list[str]:
    """A parquet file, a glob of them, or a directory's *.parquet (recursively)."""
    if glob.has_magic(src):
        return sorted(glob.glob(src))
    if Path(src).is_dir():
        return sorted(map(str, Path(src).rglob("*.parquet")))
    return [src] if Path(src).is_file() else []


def load_rows(src: str, split: str | None = None) -> Iterable[dict]:
    """The rows of a load_from_disk directory (a Dataset, or one split of a DatasetDict) or of parquet files
    (streamed, without a cache copy), image features undecoded ({"bytes", "path"})."""
    saved = any((Path(src) / name).is_file() for name in ("state.json", "dataset_dict.json"))
    files = [] if saved else parquet_files(src)
    if not saved and not files:
        raise FileNotFoundError(f"{src}: neither a save_to_disk directory nor parquet files")
    try:
        data = (
            datasets.load_from_disk(src)
            if saved
            else datasets.load_dataset("parquet", data_files=files, streaming=True)
        )
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as e:
        raise ValueError(f"{src}: not a readable dataset ({e})") from None
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(data) != 1:
            raise ValueError(f"{src} has splits {sorted(data)}; choose one with --split")
        data = data[split or next(iter(data))]
    if isinstance(data, datasets.Dataset):
        data = data.to_iterable_dataset()
    return data.decode(False)


def read_rows(src: str, split: str | None = None) -> Iterator[dict]:
    """load_rows' rows; a file found corrupt while streamed fails with the dataset named, as in load_rows (arrow's
    own errors do not say which)."""
    rows = load_rows(src, split)
    try:
        yield from rows
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as e:
        raise ValueError(f"{src}: not a readable dataset ({e})") from None


def image_bytes(value, root: Path) -> bytes:
    """The encoded image of any form an image column takes (relative paths are under `root`)."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return (root / value).read_bytes()
    raise TypeError(f"unsupported image value {type(value).__name__}")


def hf_samples(
    src: str,
    report: Report,
    *,
    image_column: str = "image",
    text_column: str = "text",
    split: str | None = None,
    task: str = "ocr",
    lang: str = "auto",
) -> Iterator[Sample]:
    """The samples of a dataset; rows without a usable image or text are reported and skipped."""
    root = Path(src) if Path(src).is_dir() else Path(src).parent
    source = f"hf/{Path(src).name}"
    for n, row in enumerate(read_rows(src, split)):
        if n == 0 and not {image_column, text_column} <= row.keys():
            raise ValueError(f"{src}: needs columns {image_column!r} and {text_column!r}, has {sorted(row)}")
        value, text = row[image_column], row[text_column]
        if not isinstance(text, str) or not text.strip():
            report.skip("empty_text", f"row {n}")
            continue
        if value is None or value == []:
            report.skip("missing_image", f"row {n}")
            continue
        try:
            images = load_images([image_bytes(v, root) for v in (value if isinstance(value, list) else [value])])
        except BadSample as e:
            report.skip(e.reason, f"row {n}", e.detail)
            continue
        except (OSError, TypeError) as e:  # an unreadable path, a value that is no image
            report.skip("bad_image", f"row {n}", str(e))
            continue
        sample_lang = guess_lang(text) if lang == "auto" else lang
        yield Sample(images, text, task=task, lang=sample_lang, source=source, extra={"row": n})
