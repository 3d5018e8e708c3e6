"""Train the project's small BPE vocabulary (see docs/tokenizer.md).

python data/train_vocab.py --size 8000 --out got/assets/got-tiny.tiktoken
python data/train_vocab.py --size 256 --out runs/bytes.tiktoken   # byte-level: the 256 bytes, no merges
"""

import argparse
import time
from pathlib import Path

from got import bpe
from got.tokenizer import DEFAULT_VOCAB, GOTTokenizer, tokens_per_char, write_vocab


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--size", type=int, default=8000, help="total ranks: 256 bytes + merges (default 8000; 256: bytes only)"
    )
    parser.add_argument(
        "--out", default=str(DEFAULT_VOCAB), help="the .tiktoken file to write (default: the shipped one)"
    )
    args = parser.parse_args(argv)
    if args.size < 256:
        parser.error(f"--size must be at least the 256 single bytes, got {args.size}")
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():  # found now, not after the training
        parser.error(f"--out {out}: " + ("is a directory" if out.is_dir() else f"no such directory {out.parent}"))

    start = time.time()
    # 256: one token per byte, so output k of an English word is its letter k (docs/learning.md)
    ranks = bpe.byte_ranks() if args.size == 256 else bpe.hf_to_ranks(bpe.train_hf(bpe.corpus(), args.size))
    write_vocab(ranks, args.out)
    tok = GOTTokenizer.from_file(args.out)
    print(f"wrote {args.out}: {tok.num_ranks} ranks in {time.time() - start:.1f}s")
    en, zh = tokens_per_char(tok, bpe.SAMPLE_EN), tokens_per_char(tok, bpe.SAMPLE_ZH)
    print(f"tokens per char on the held-out samples: English {en:.3f}, Chinese {zh:.3f}")


if __name__ == "__main__":
    main()
