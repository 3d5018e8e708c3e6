"""OCR images, folders and PDFs with a trained model: one text file a page, and OUT/results.jsonl.

    python eval/ocr.py scans/ report.pdf --model runs/stage3/final --out ocr_out [--type format]
        [--box X1 Y1 X2 Y2 | --color red] [--crop] [--batch-size 8] [--max-new-tokens 4096]

Folders are searched recursively for images and PDFs; every PDF page is rendered at the model's resolution. A
stopped run started again with the same --out skips the pages it finished. Unreadable, corrupt or encrypted files
are listed in OUT/errors.jsonl and skipped. See docs/inference.md.
"""

import argparse
import sys
from pathlib import Path

from got.infer.api import load
from got.infer.files import OcrOptions, find_pages, ocr_files
from got.model.checkpoint import CheckpointError
from got.prompts import COLORS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="image files, folders, PDFs")
    p.add_argument("--model", required=True, help="a checkpoint: got, official (GOT-OCR2_0) or hf layout")
    p.add_argument("--out", required=True)
    p.add_argument("--type", dest="ocr_type", choices=("ocr", "format"), default="ocr")
    p.add_argument("--box", type=float, nargs="+", metavar="N", help="x1 y1 x2 y2 (or x y) in pixels of each page")
    p.add_argument("--color", choices=COLORS, help="read the text inside a frame of this colour")
    p.add_argument(
        "--crop", action="store_true", help="multi-crop: tiles for each page's aspect ratio, then a thumbnail"
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=4096)
    p.add_argument("--no-repeat-ngram-size", type=int, help="default: the official 20 (0 with --crop)")
    p.add_argument("--cut-loops", action="store_true", help="cut an answer that ran out of tokens in a loop")
    p.add_argument("--tokenizer", help="a *.tiktoken, for a checkpoint that carries none")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.box is not None and len(args.box) not in (2, 4):
        p.error("--box takes 4 numbers (x1 y1 x2 y2) or 2 (a point x y)")
    if args.box is not None and (args.color or args.crop):
        p.error("--box is exclusive with --color and --crop")
    if args.batch_size < 1 or args.max_new_tokens < 1:
        p.error("--batch-size and --max-new-tokens must be >= 1")
    errors: list[dict] = []
    try:
        pages = find_pages(args.inputs, errors)
        if not pages and not errors:
            raise FileNotFoundError(f"no images or PDFs in {', '.join(args.inputs)}")
        reader = load(args.model, args.device, args.dtype, tokenizer=args.tokenizer)
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except (CheckpointError, OSError, ValueError) as e:  # missing inputs, a bad checkpoint, an --out that is a file
        print(f"error: {e}", file=sys.stderr)
        return 2
    opts = OcrOptions(
        args.ocr_type,
        tuple(args.box) if args.box else None,
        args.color,
        args.crop,
        args.batch_size,
        args.max_new_tokens,
        args.no_repeat_ngram_size,
        args.cut_loops,
    )
    out = Path(args.out)
    counts = ocr_files(reader, pages, out, opts, progress=not args.no_progress, errors=errors)
    print(
        f"{counts['done']} pages read, {counts['resumed']} already done, {counts['failed']} skipped "
        f"({counts['tokens']} tokens); results in {out / 'results.jsonl'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
