"""GOT/Qwen tokenizer: a tiktoken BPE vocabulary followed by GOT's special tokens (DESIGN §3)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import tiktoken

QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Their order fixes their ids: the first one gets id == number of ranks (151643 with the Qwen vocabulary).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    *(f"<|extra_{i}|>" for i in range(205)),
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    "<quad>",
    "</quad>",
    "<img>",
    "</img>",
    "<imgpad>",
)
DEFAULT_VOCAB = Path(__file__).parent / "assets" / "got-tiny.tiktoken"


def special_token_ids(num_ranks: int) -> dict[str, int]:
    """The special tokens' ids for a vocabulary of num_ranks ordinary tokens: they follow the ranks in order."""
    return {tok: num_ranks + i for i, tok in enumerate(SPECIAL_TOKENS)}


def load_ranks(path: str | Path) -> dict[bytes, int]:
    """Read a `.tiktoken` file (`base64(token) rank` per line, ranks 0..N-1)."""
    # Not tiktoken.load.load_tiktoken_bpe: it caches local files by path in $TMPDIR/data-gym-cache and keeps
    # returning the stale copy after the file at that path is regenerated.
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer vocabulary not found: {path}")
    ranks = {}
    for lineno, line in enumerate(path.read_bytes().splitlines(), 1):
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise ValueError(f"{path}:{lineno}: malformed line {line[:80]!r}, expected 'base64 rank'") from None
    if not ranks:
        raise ValueError(f"{path}: empty vocabulary")
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"{path}: ranks must be unique and contiguous from 0 ({len(ranks)} tokens)")
    return ranks


def write_vocab(ranks: dict[bytes, int], path: str | Path) -> None:
    """Write ranks as a `.tiktoken` file, the inverse of load_ranks."""
    by_rank = sorted(ranks.items(), key=lambda kv: kv[1])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"".join(base64.b64encode(token) + b" %d\n" % rank for token, rank in by_rank))


@functools.cache
def _byte_of_char() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {c: b for b, c in bytes_to_unicode().items()}


def token_bytes(token: str) -> bytes:
    """The bytes behind a byte-level BPE token string (GPT-2's alphabet spells each byte with a printable char)."""
    table = _byte_of_char()
    return bytes(table[c] for c in token)


@dataclass(frozen=True)
class GOTTokenizer:
    encoding: tiktoken.Encoding
    ranks: dict[bytes, int] = field(repr=False)
    special_ids: dict[str, int] = field(repr=False)
    source: Path | None = None  # the .tiktoken file it was read from; None when rebuilt from a tokenizer.json

    @classmethod
    def from_ranks(cls, ranks: dict[bytes, int], name: str, source: Path | None = None) -> GOTTokenizer:
        specials = special_token_ids(len(ranks))
        enc = tiktoken.Encoding(name, pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
        return cls(enc, ranks, specials, source)

    @classmethod
    def from_file(cls, path: str | Path) -> GOTTokenizer:
        return cls.from_ranks(load_ranks(path), Path(path).stem, Path(path))

    @classmethod
    def from_dir(cls, directory: str | Path) -> GOTTokenizer:
        found = sorted(Path(directory).glob("*.tiktoken"))
        if len(found) != 1:
            raise FileNotFoundError(f"expected exactly one *.tiktoken file in {directory}, found {len(found)}")
        return cls.from_file(found[0])

    @classmethod
    def from_hf_dir(cls, directory: str | Path) -> GOTTokenizer:
        """Rebuild from the tokenizer.json of export_hf() or of transformers' GOT port (stepfun-ai/GOT-OCR-2.0-hf).

        Only its vocabulary is read; the result always splits text with Qwen's regex, as GOT was trained. The port
        writes `\\p{N}{1,3}` where Qwen has `\\p{N}`, which only matters for the vocab's "１０" and "２０" tokens.
        """
        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer.json in {directory}")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
            ranks = {token_bytes(token): i for token, i in vocab.items()}
            merged = [vocab["".join(m.split(" ") if isinstance(m, str) else m)] for m in merges]
            specials = sorted((t["id"], t["content"]) for t in spec["added_tokens"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a byte-level BPE tokenizer.json ({e!r})") from None
        if specials != [(len(ranks) + i, tok) for i, tok in enumerate(SPECIAL_TOKENS)]:
            raise ValueError(f"{path}: its added tokens are not GOT's special tokens at ids {len(ranks)}...")
        # tiktoken merges by rank, so the ids must follow the merge order for both to encode alike.
        if sorted(ranks.values()) != list(range(len(ranks))) or merged != sorted(merged):
            raise ValueError(f"{path}: its ids are not tiktoken ranks (contiguous, in merge order)")
        return cls.from_ranks(ranks, "vocab")

    @classmethod
    def default(cls) -> GOTTokenizer:
        """The project's small vocabulary (see docs/tokenizer.md), for tiny models and tests."""
        return cls.from_file(DEFAULT_VOCAB)

    @property
    def num_ranks(self) -> int:
        return len(self.ranks)

    @property
    def vocab_size(self) -> int:
        return len(self.ranks) + len(SPECIAL_TOKENS)

    def token_id(self, name: str) -> int:
        try:
            return self.special_ids[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a special token (see got.tokenizer.SPECIAL_TOKENS)") from None

    pad_id = property(lambda self: self.token_id("<|endoftext|>"))
    eos_id = property(lambda self: self.token_id("<|im_end|>"))
    im_start_id = property(lambda self: self.token_id("<|im_start|>"))
    im_end_id = property(lambda self: self.token_id("<|im_end|>"))
    img_start_id = property(lambda self: self.token_id("<img>"))
    img_end_id = property(lambda self: self.token_id("</img>"))
    imgpad_id = property(lambda self: self.token_id("<imgpad>"))

    def encode(self, text: str) -> list[int]:
        """Ordinary text only: a special token's string in `text` is encoded as plain text, never as that token."""
        return self.encoding.encode_ordinary(unicodedata.normalize("NFC", text))

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        ids = [int(i) for i in ids]
        if bad := [i for i in ids if not 0 <= i < self.vocab_size]:
            raise ValueError(f"token ids out of range [0, {self.vocab_size}): {bad[:5]}")
        if skip_special_tokens:
            ids = [i for i in ids if i < self.num_ranks]
        return self.encoding.decode(ids, errors="replace")

    def save(self, directory: str | Path, filename: str | None = None) -> Path:
        """Write the vocabulary into `directory` (as its source file's name by default); from_dir() reloads it."""
        out = Path(directory) / (filename or f"{self.encoding.name}.tiktoken")
        if self.source is not None:  # a byte copy keeps the file's hash (Qwen's has CRLF line ends)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(self.source.read_bytes())
        else:
            write_vocab(self.ranks, out)
        return out

    def export_hf(self, directory: str | Path) -> Path:
        """Write a transformers fast tokenizer that `AutoTokenizer.from_pretrained(directory)` loads offline."""
        from tokenizers import normalizers
        from transformers.convert_slow_tokenizer import TikTokenConverter

        converter = TikTokenConverter(pattern=QWEN_PATTERN, extra_special_tokens=list(SPECIAL_TOKENS))
        # Hand it our ranks: its own loader is tiktoken's, with the stale-cache problem noted in load_ranks.
        converter.load_tiktoken_bpe = lambda _: self.ranks
        tok = converter.converted()
        tok.normalizer = normalizers.NFC()
        assert tok.token_to_id(SPECIAL_TOKENS[-1]) == self.vocab_size - 1, "special tokens got shifted ids"
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tok.save(str(directory / "tokenizer.json"))
        special = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
        config = {
            # The generic fast class runs tokenizer.json exactly as written, with no model-specific code.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "clean_up_tokenization_spaces": False,
            **special,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
        return directory


def tokens_per_char(tokenizer: GOTTokenizer, text: str) -> float:
    """Tokens per character of `text`, to check a vocabulary's coverage of a language. On bpe.SAMPLE_EN and
    bpe.SAMPLE_ZH: Qwen 0.18 and 0.62, got-tiny 0.32 and 1.0; 2 or more means text falls apart into bytes."""
    if not text:
        raise ValueError("tokens_per_char needs non-empty text")
    return len(tokenizer.encode(text)) / len(text)
