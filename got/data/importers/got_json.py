"""GOT's official training format -> samples.

The annotations are a JSON list of
    {"image": "path/name.png", "conversations": [{"from": "human", "value": "<image>\\nOCR: "},
                                                 {"from": "gpt", "value": "the target"}]}
An `image` without an extension is a prefix: its PNGs (`prefix*.png`, in natural order) are the pages of a
multi-page sample or the pre-cut views of a multi-crop one, as in GOT's conversation_dataset_qwen.py. The
human turn's query gives the task, and a box (already in 0-1000 coordinates) or colour.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from got.data.importers import Report, guess_lang
from got.data.sample import Sample
from got.data.shards import BadSample, load_images
from got.prompts import COLORS, FORMAT_QUERY, MULTI_CROP_PLAIN_QUERY, MULTI_CROP_QUERY, MULTI_PAGE_QUERY, OCR_QUERY

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
REGION = re.compile(r"\[(\d+), ?(\d+), ?(\d+), ?(\d+)\]|\[(" + "|".join(COLORS) + r")\]")


def parse_query(value: str) -> dict | None:
    """Sample fields (task, box, color, crop, pages) from the human turn, or None for a query GOT never used."""
    query = value.replace("<image>", "").strip()
    if query == MULTI_CROP_QUERY.strip():
        return {"task": "format", "crop": True}
    if query == MULTI_CROP_PLAIN_QUERY.strip():
        return {"task": "ocr", "crop": True}
    if query == MULTI_PAGE_QUERY.strip():
        return {"task": "format", "pages": True}
    region = REGION.match(query)
    rest = query[region.end() :].strip() if region else query
    task = {OCR_QUERY.strip(): "ocr", FORMAT_QUERY.strip(): "format"}.get(rest)
    if task is None:
        return None
    if region is None:
        return {"task": task}
    if region.group(5):
        return {"task": task, "color": region.group(5)}
    return {"task": task, "box": tuple(int(region.group(i)) for i in range(1, 5))}


def natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def image_files(root: Path, image: str) -> list[Path]:
    """The file of `image`, or the PNGs its prefix names (a prefix ending in a digit does not match longer
    numbers: "doc1" takes doc1_0.png, not doc10_0.png)."""
    path = root / image.lstrip("/")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [path] if path.is_file() else []
    found = path.parent.glob(path.name + "*.png")
    if path.name[-1:].isdigit():
        found = [p for p in found if not p.name[len(path.name)].isdigit()]
    return sorted(found, key=natural_key)


def got_json_samples(annotations: Path, images_root: Path, report: Report, lang: str = "auto") -> Iterator[Sample]:
    """The samples of a GOT annotations file; entries that cannot be imported are reported and skipped."""
    try:
        entries = json.loads(Path(annotations).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{annotations}: not a readable JSON file ({e})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{annotations}: expected a JSON list of {{image, conversations}} entries")
    source = f"got-json/{Path(annotations).stem}"
    for n, entry in enumerate(entries):
        where = f"entry {n}"
        try:
            image, (human, gpt) = entry["image"], entry["conversations"]
            query, text = human["value"], gpt["value"]
        except (KeyError, TypeError, ValueError):
            report.skip("not_single_turn", where, "expected image and a human + gpt conversation")
            continue
        fields = parse_query(query)
        if fields is None:
            report.skip("unknown_prompt", where, repr(query))
            continue
        if not isinstance(text, str) or not text.strip():
            report.skip("empty_text", where)
            continue
        files = image_files(Path(images_root), image)
        if not files:
            report.skip("missing_image", where, image)
            continue
        several = fields.pop("pages", False) or fields.get("crop", False)
        if len(files) > 1 and not several:
            report.skip("several_images", where, f"{len(files)} files for a single-image prompt")
            continue
        try:
            images = load_images([f.read_bytes() for f in files])  # the loader's pixel caps, checked before decoding
        except BadSample as e:
            report.skip(e.reason, where, e.detail)
            continue
        except OSError as e:  # an unreadable file
            report.skip("bad_image", where, str(e))
            continue
        sample_lang = guess_lang(text) if lang == "auto" else lang
        yield Sample(images, text, lang=sample_lang, source=source, extra={"image": image}, **fields)
