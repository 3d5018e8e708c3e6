"""Hugging Face `datasets` -> samples: a save_to_disk directory or parquet files, with an image column (an
Image feature, encoded bytes, a {"bytes", "path"} dict, a path, or a list of those as pages) and a text column."""

from __future__ import annotations

import glob
import io
from pathlib import Path
from typing import Iterable, Iterator

import datasets
from PIL import Image

from got.data.importers import Report, guess_lang
from got.data.sample import Sample


def parquet_files(src: str) -> list[str]:
    """A parquet file, a glob of them, or a directory's *.parquet (recursively)."""
    if glob.has_magic(src):
        return sorted(glob.glob(src))
    if Path(src).is_dir():
        return sorted(map(str, Path(src).rglob("*.parquet")))
    return [src] if Path(src).is_file() else []


def load_rows(src: str, split: str | None = None) -> Iterable[dict]:
    """The rows of a load_from_disk directory (a Dataset, or one split of a DatasetDict) or of parquet files
    (streamed, without a cache copy)."""
    if any((Path(src) / name).is_file() for name in ("state.json", "dataset_dict.json")):
        data = datasets.load_from_disk(src)
    elif files := parquet_files(src):
        data = datasets.load_dataset("parquet", data_files=files, streaming=True)
    else:
        raise FileNotFoundError(f"{src}: neither a save_to_disk directory nor parquet files")
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(data) != 1:
            raise ValueError(f"{src} has splits {sorted(data)}; choose one with --split")
        data = data[split or next(iter(data))]
    return data


def to_image(value, root: Path) -> Image.Image:
    """A PIL image from any form an image column takes (relative paths are under `root`)."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        image = Image.open(io.BytesIO(value))
    elif isinstance(value, str):
        image = Image.open(root / value)
    else:
        raise TypeError(f"unsupported image value {type(value).__name__}")
    image.load()
    return image


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
    for n, row in enumerate(load_rows(src, split)):
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
            images = [to_image(v, root) for v in (value if isinstance(value, list) else [value])]
        except (OSError, TypeError) as e:
            report.skip("bad_image", f"row {n}", str(e))
            continue
        sample_lang = guess_lang(text) if lang == "auto" else lang
        yield Sample(images, text, task=task, lang=sample_lang, source=source, extra={"row": n})
