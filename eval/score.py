"""Score a predictions file and print the metrics as JSON, overall and per task, language and kind.

    python eval/score.py predictions.jsonl [--mode got|nougat|strict] [--kind page|scene] [--split-format]

Reads our JSONL, one {"id", "task", "lang", "kind", "label", "pred"} a line, or GOT's results_final.json, a JSON
list of {"image", "question", "label", "answer"}. Bad entries are counted and reported in the output, not fatal.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from got.eval.metrics import KINDS, MODES, check_requirements, score_corpus


def load(path: Path) -> tuple[str, list[tuple[int | str, object]]]:
    """The file's format and its entries, each with where it came from; None marks a line that is not JSON."""
    raw = path.read_bytes()  # bytes: a non-UTF-8 line is one bad entry, and U+2028 in a string is no line break
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, list):
        return "got_results", list(enumerate(data))
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return "got_results", list(data.items())  # the same entries keyed by id
    entries = []
    for n, line in enumerate(raw.splitlines(), 1):
        if line.strip():
            try:
                entries.append((n, json.loads(line)))
            except ValueError:
                entries.append((n, None))
    return "jsonl", entries


def check(entry: object, pred_key: str, kind: str | None) -> str | None:
    """Why an entry cannot be scored, or None."""
    if entry is None:
        return "malformed_json"
    if not isinstance(entry, dict):
        return "not_an_object"
    if not all(isinstance(entry.get(k), str) for k in ("label", pred_key)):
        return f"missing_label_or_{pred_key}"
    if (kind or entry.get("kind", "page")) not in KINDS:
        return "unknown_kind"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path)
    ap.add_argument("--mode", choices=list(MODES), default="strict")
    ap.add_argument("--kind", choices=KINDS, help="overrides each entry's kind (default: the entry's, else page)")
    ap.add_argument("--split-format", action="store_true", help="also score text, math and tables separately")
    args = ap.parse_args(argv)
    if not args.predictions.is_file():
        ap.error(f"no such file: {args.predictions}")

    fmt, entries = load(args.predictions)
    pred_key = "answer" if fmt == "got_results" else "pred"
    bad, bad_at, rows = Counter(), [], []
    for where, entry in entries:
        if reason := check(entry, pred_key, args.kind):
            bad[reason] += 1
            bad_at.append(where)
            continue
        rows.append({**entry, "pred": entry[pred_key], "kind": args.kind or entry.get("kind", "page")})

    if not rows:  # scoring nothing would print zeros that read as a perfect edit distance
        print(
            f"score.py: no scorable entries in {args.predictions} ({len(entries)} read, bad: {dict(bad)})",
            file=sys.stderr,
        )
        return 1
    page = [r for r in rows if r["kind"] != "scene"]
    try:
        check_requirements([r["label"] for r in page], [r["pred"] for r in page])
    except RuntimeError as e:
        print(f"score.py: {e}", file=sys.stderr)
        return 1

    pairs = [(r["label"], r["pred"], r["kind"]) for r in rows]
    groups = {field: [str(r.get(field, "unknown")) for r in rows] for field in ("task", "lang", "kind")}
    out = {
        "file": str(args.predictions),
        "format": fmt,
        "input": {"entries": len(entries), "bad": dict(bad), "bad_at": bad_at[:20]},
        **score_corpus(pairs, mode=args.mode, split_format=args.split_format, groups=groups),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
