"""OCR of files: images, folders (searched recursively) and PDFs (every page), read in batches across pages and
written one file a page, with a results.jsonl that makes a stopped run resumable.

    OUT/<relative path without suffix>.md|.txt      a page's text (.md for format, .txt for plain OCR)
    OUT/<pdf relative path>/page-0003.md            page 3 of a PDF
    OUT/results.jsonl                               {"page", "file", "text", "tokens", "seconds", "looping"} a line
    OUT/errors.jsonl                                {"page", "error"} for each input that could not be read

A page's record is appended after its text file is in place, so a record is the proof that a page is done: a
resumed run skips the pages recorded and redoes any other. A corrupt, encrypted or unreadable file is recorded in
errors.jsonl and skipped; the run goes on.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from got.infer.api import GOT, Request, batches
from got.infer.inputs import PDF_SUFFIX, InputError, pdf_page_count

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class Page:
    source: Path | tuple[Path, int]  # an image file, or (pdf, page number from 1)
    name: str  # how results.jsonl names it: "dir/scan.png" or "dir/doc.pdf#3"
    stem: str  # its output path under OUT, without suffix


@dataclass
class OcrOptions:
    ocr_type: str = "ocr"
    box: tuple[float, ...] | None = None
    color: str | None = None
    crop: bool = False
    batch_size: int = 8
    max_new_tokens: int = 4096
    no_repeat_ngram_size: int | None = None  # None: the official setting of the mode (20, or 0 with crop)
    cut_loops: bool = False


def find_pages(inputs: Iterable[str | Path], errors: list[dict]) -> list[Page]:
    """Every page of the inputs, in order: files as given, folders' images and PDFs in sorted order. A PDF that
    cannot be opened is added to `errors`; a path that does not exist raises FileNotFoundError."""
    pages = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in (*IMAGE_SUFFIXES, PDF_SUFFIX)
            )
            pages += [page for f in files for page in _file_pages(f, f.relative_to(item), errors)]
        elif item.is_file():
            pages += _file_pages(item, Path(item.name), errors)
        else:
            raise FileNotFoundError(f"no such file or directory: {item}")
    return pages


def _file_pages(path: Path, rel: Path, errors: list[dict]) -> list[Page]:
    if path.suffix.lower() != PDF_SUFFIX:
        return [Page(path, rel.as_posix(), rel.with_suffix("").as_posix())]
    try:
        count = pdf_page_count(path)
    except InputError as e:
        errors.append({"page": rel.as_posix(), "error": str(e)})
        return []
    stem = rel.with_suffix("").as_posix()
    return [Page((path, n), f"{rel.as_posix()}#{n}", f"{stem}/page-{n:04d}") for n in range(1, count + 1)]


def done_pages(out: Path) -> set[str]:
    """Names of the pages a previous run finished: recorded, with their text file in place. A torn last line (a
    kill mid-write) is cut off the file, so that the next record starts on a line of its own."""
    path = out / "results.jsonl"
    if not path.is_file():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    names = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():  # a garbled line is redone
        try:
            record = json.loads(line)
            if (out / record["file"]).is_file():
                names.add(record["page"])
        except (ValueError, KeyError, TypeError):
            continue
    return names


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _append(path: Path, record: dict) -> None:
    # flushed, not fsync'd: a killed run loses nothing, and after a power cut done_pages redoes any page whose
    # record or text file did not reach the disk
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def skip(out: Path, name: str, error: Exception | str) -> None:
    """Record an input that could not be read, and say so."""
    _append(out / "errors.jsonl", {"page": name, "error": str(error)})
    tqdm.write(f"skipped {name}: {error}")


def ocr_files(
    reader: GOT, pages: list[Page], out: Path, opts: OcrOptions, *, progress: bool = True, errors: Iterable[dict] = ()
) -> dict:
    """Read every page not already in out/results.jsonl; `errors` (from find_pages) are recorded first. Returns
    counts: pages, resumed (done by an earlier run), done, failed, tokens."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {"pages": len(pages), "resumed": 0, "done": 0, "failed": 0, "tokens": 0}
    for error in errors:
        skip(out, error["page"], error["error"])
        counts["failed"] += 1
    finished = done_pages(out)
    todo = [p for p in pages if p.name not in finished]
    counts["resumed"] = len(pages) - len(todo)
    suffix = ".md" if opts.ocr_type == "format" else ".txt"
    ngram = opts.no_repeat_ngram_size
    if ngram is None:
        ngram = 0 if opts.crop else 20
    with tqdm(total=len(todo), unit="page", desc="ocr", disable=not progress, dynamic_ncols=True) as bar:
        for batch in batches(todo, opts.batch_size):
            ready = list(_requests(reader, batch, opts, out, counts))
            if not ready:
                bar.update(len(batch))
                continue
            start = time.perf_counter()
            readings = reader.read(
                [r for _, r in ready],
                max_new_tokens=opts.max_new_tokens,
                no_repeat_ngram_size=ngram,
                cut_loops=opts.cut_loops,
            )
            seconds = (time.perf_counter() - start) / len(ready)
            for (page, _), reading in zip(ready, readings):
                _write_text(out / (page.stem + suffix), reading.text)
                _append(
                    out / "results.jsonl",
                    {
                        "page": page.name,
                        "file": page.stem + suffix,
                        "text": reading.text,
                        "tokens": reading.new_tokens,
                        "seconds": round(seconds, 3),
                        "looping": reading.looping,
                    },
                )
                counts["done"] += 1
                counts["tokens"] += reading.new_tokens
            bar.update(len(batch))
            bar.set_postfix_str(f"{counts['done'] / max(bar.format_dict['elapsed'], 1e-9):.2f} pages/s")
    return counts


def _requests(
    reader: GOT, batch: list[Page], opts: OcrOptions, out: Path, counts: dict
) -> Iterator[tuple[Page, Request]]:
    for page in batch:
        try:
            yield page, reader.request(page.source, opts.ocr_type, box=opts.box, color=opts.color, crop=opts.crop)
        except InputError as e:
            counts["failed"] += 1
            skip(out, page.name, e)
