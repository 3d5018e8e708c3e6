"""Import existing OCR data into training shards.

    python data/import.py --format got-json ANNOTATIONS.json --images ROOT --out DIR
    python data/import.py --format hf SRC --out DIR [--image-column image] [--text-column text] [--split train]

got-json is GOT's official training format; hf is a `datasets` save_to_disk directory or parquet files (a file,
a glob or a directory). Entries that cannot be imported are reported and skipped. See docs/data.md.
"""

import argparse
from pathlib import Path

from got.data.importers import Report, write_all
from got.data.importers.got_json import got_json_samples
from got.data.importers.hf_datasets import hf_samples
from got.data.shards import ShardWriter
from got.prompts import TASKS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="the annotations JSON (got-json), or the dataset directory or parquet files (hf)")
    parser.add_argument("--format", required=True, choices=("got-json", "hf"))
    parser.add_argument("--out", required=True, help="shard directory (added to if it exists)")
    parser.add_argument("--images", help="got-json: the folder that the entries' image paths are relative to")
    parser.add_argument("--image-column", default="image", help="hf: the image column (default image)")
    parser.add_argument("--text-column", default="text", help="hf: the target text column (default text)")
    parser.add_argument("--split", help="hf: the split of a DatasetDict")
    parser.add_argument("--task", default="ocr", choices=TASKS, help="hf: the task of every row (default ocr)")
    parser.add_argument("--lang", default="auto", help="language code, or auto (guessed per sample from its script)")
    parser.add_argument("--max-count", type=int, default=1000, help="samples per shard (default 1000)")
    parser.add_argument("--max-image-size", type=int, default=1024, help="longest stored image side (default 1024)")
    args = parser.parse_args(argv)
    if args.format == "got-json" and not args.images:
        parser.error("--format got-json needs --images ROOT")
    if args.images and not Path(args.images).is_dir():
        parser.error(f"--images {args.images}: no such directory")

    report = Report()
    if args.format == "got-json":
        samples = got_json_samples(args.src, args.images, report, lang=args.lang)
    else:
        samples = hf_samples(
            args.src,
            report,
            image_column=args.image_column,
            text_column=args.text_column,
            split=args.split,
            task=args.task,
            lang=args.lang,
        )
    try:
        with ShardWriter(args.out, max_count=args.max_count, max_image_size=args.max_image_size) as writer:
            write_all(samples, writer, report)
    except (ValueError, OSError) as e:  # an unreadable source, or an --out that cannot be a directory
        parser.error(str(e))
    print(report.summary())


if __name__ == "__main__":
    main()
