"""Look at a shard set: print its stats, write a contact sheet and an HTML gallery of random samples.

    python data/inspect_shards.py shards/pages [--n 16] [--out shards/pages/inspect]

Each gallery entry shows the sample's images (box outlined), key, kind, prompt and target. See docs/data.md.
(Not data/inspect.py: a script there would shadow the standard library's `inspect` for every script in data/.)
"""

import argparse
import json
from collections import Counter
from pathlib import Path

from got.data.gallery import contact_sheet, format_stats, pick_samples, write_gallery


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards", help="a shard directory (or a glob, brace pattern or pipe: URL)")
    parser.add_argument("--n", type=int, default=16, help="random samples to show (default 16)")
    parser.add_argument("--out", help="output folder (default SHARDS/inspect for a directory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shards", type=int, help="sample from at most this many random shards")
    args = parser.parse_args(argv)
    if args.n < 1 or (args.max_shards is not None and args.max_shards < 1):
        parser.error("--n and --max-shards must be >= 1")
    stats_file = Path(args.shards) / "stats.json"
    out = Path(args.out or (Path(args.shards) / "inspect" if Path(args.shards).is_dir() else "inspect"))

    if stats_file.is_file():
        try:
            print(format_stats(json.loads(stats_file.read_text(encoding="utf-8"))))
        except (ValueError, TypeError, AttributeError) as e:  # not JSON, or JSON of another shape than the writer's
            parser.error(f"{stats_file} is not readable: {e!r}; move it aside to inspect the shards")
    else:
        print(f"no {stats_file}")
    counts = Counter()
    try:
        picked = pick_samples(args.shards, args.n, args.seed, args.max_shards, counts)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    if not picked:
        parser.error(f"no readable sample in {args.shards} (skipped: {dict(counts)})")
    out.mkdir(parents=True, exist_ok=True)
    contact_sheet(picked).save(out / "contact.png")
    page = write_gallery(picked, out)
    print(f"{len(picked)} samples: {out / 'contact.png'}, {page}" + (f"; skipped {dict(counts)}" if counts else ""))


if __name__ == "__main__":
    main()
