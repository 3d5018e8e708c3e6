"""How well a vocabulary covers a language: tokens per character of sample texts (docs/finetune.md).

    python data/token_coverage.py sample.txt [more.txt ...] --tokenizer ~/models/GOT-OCR2_0/qwen.tiktoken

--tokenizer takes a *.tiktoken file or a directory holding one (a got checkpoint, the official download);
without it, the project's small vocabulary. Qwen's vocabulary gives about 0.18 on English, 0.6 on Chinese,
Japanese, Korean and Thai, 0.9 on Hindi and 1.3 on Amharic or Tibetan; 1 or more means most characters are
split into byte pieces (see got.tokenizer.tokens_per_char).
"""

import argparse
import sys
from pathlib import Path

from got.tokenizer import GOTTokenizer, tokens_per_char


def load_tokenizer(path: str | None) -> GOTTokenizer:
    if path is None:
        return GOTTokenizer.default()
    return GOTTokenizer.from_dir(path) if Path(path).is_dir() else GOTTokenizer.from_file(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", nargs="+", help="UTF-8 text files in the language or script to check")
    parser.add_argument("--tokenizer", help="a *.tiktoken file or a directory with one (default: the tiny vocabulary)")
    args = parser.parse_args(argv)
    try:
        tokenizer = load_tokenizer(args.tokenizer)
    except (OSError, ValueError) as e:  # a missing or malformed vocabulary (the message names it)
        sys.exit(f"error: {e}")
    for path in args.texts:
        try:
            text = Path(path).read_text(encoding="utf-8")
            ratio, tokens = tokens_per_char(tokenizer, text), len(tokenizer.encode(text))
        except (OSError, ValueError) as e:  # a missing or undecodable file, an empty text
            sys.exit(f"error: {path}: {e}")
        print(f"{path}: {len(text)} characters, {tokens} tokens: {ratio:.3f} tokens per character")


if __name__ == "__main__":
    main()
