"""Importers turn existing data into shards: PDFs (pdf.py), GOT's JSON format (got_json.py), HF datasets
(hf_datasets.py). Each yields Samples and reports what it skipped, never stopping at a bad input."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from got.data.sample import Sample
from got.data.shards import BadSample, ShardWriter

log = logging.getLogger("got.data")

# Script ranges for guess_lang: (language, first code point, last code point).
SCRIPTS = (
    ("ja", 0x3040, 0x30FF),  # kana first: Japanese text also holds kanji
    ("ko", 0xAC00, 0xD7AF),
    ("zh", 0x4E00, 0x9FFF),
    ("ru", 0x0400, 0x04FF),
    ("ar", 0x0600, 0x06FF),
)


def guess_lang(text: str) -> str:
    """A language code from the script of the text: the first of SCRIPTS that holds at least a tenth of its
    letters, else en."""
    letters = [ord(c) for c in text if c.isalpha()]
    for lang, first, last in SCRIPTS:
        if letters and sum(first <= c <= last for c in letters) >= 0.1 * len(letters):
            return lang
    return "en"


def clean_text(text: str) -> str:
    """NFC, no control characters but newlines and tabs, no trailing spaces on lines, no blank lines at the ends."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


@dataclass
class Report:
    """What an import did: counts (samples written, inputs read, ...) and the inputs skipped, by reason."""

    counts: Counter = field(default_factory=Counter)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, what: str, detail: str = "") -> None:
        self.skipped.setdefault(reason, []).append(what)
        log.warning("skipping %s: %s%s", what, reason, f" ({detail})" if detail else "")

    def summary(self) -> str:
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        lines = [f"imported: {done or 'nothing'}"]
        for reason, items in sorted(self.skipped.items()):
            shown = ", ".join(items[:5]) + (f", ... ({len(items) - 5} more)" if len(items) > 5 else "")
            lines.append(f"skipped ({reason}): {len(items)}: {shown}")
        return "\n".join(lines)


def write_all(samples: Iterable[Sample], writer: ShardWriter, report: Report) -> None:
    """Write every sample the shard schema accepts; report the others (a bad box, empty text, ...)."""
    for sample in samples:
        try:
            writer.write(sample)
        except BadSample as e:
            report.skip(e.reason, f"{sample.source} {sample.extra}", e.detail)
            continue
        report.counts["samples"] += 1
