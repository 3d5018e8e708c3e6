"""Convert a GOT checkpoint between layouts: official (ucaslcl/GOT-OCR2_0), hf (transformers GotOcr2), got.

    python train/convert.py --from official --to got SRC OUT [--tokenizer qwen.tiktoken]

--from defaults to auto: the layout is read off SRC/config.json.

Safetensors only. A malformed SRC (missing keys, wrong shapes, a pickle) fails with the offending keys named.
"""

import argparse
import sys

from got.model.checkpoint import LAYOUTS, detect_layout, load_checkpoint, save_checkpoint, with_tokenizer
from got.tokenizer import GOTTokenizer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="src_layout", choices=("auto", *LAYOUTS), default="auto")
    p.add_argument("--to", dest="dst_layout", choices=LAYOUTS, required=True)
    p.add_argument("--tokenizer", help="a *.tiktoken vocabulary to use instead of the one found in SRC")
    p.add_argument("src")
    p.add_argument("out")
    args = p.parse_args(argv)
    try:
        layout = detect_layout(args.src) if args.src_layout == "auto" else args.src_layout
        ckpt = load_checkpoint(args.src, layout)
        if args.tokenizer:
            with_tokenizer(ckpt, GOTTokenizer.from_file(args.tokenizer))
        if ckpt.tokenizer is None:
            print(f"warning: no tokenizer found in {args.src}; pass --tokenizer to include one", file=sys.stderr)
        save_checkpoint(ckpt, args.out, args.dst_layout)
    except (ValueError, OSError) as e:  # CheckpointError, a malformed vocabulary, an unreadable path
        sys.exit(f"error: {e}")
    n = sum(t.numel() for t in ckpt.state.values())
    print(
        f"converted {args.src} ({layout}) -> {args.out} ({args.dst_layout}): {len(ckpt.state)} tensors, {n / 1e6:.1f}M parameters"
    )


if __name__ == "__main__":
    main()
