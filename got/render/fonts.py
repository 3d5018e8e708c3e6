"""Font discovery: which installed faces a renderer may use for a language, and the characters all of them draw.

Faces are found by file-name patterns under a few font folders (scripts/setup_system.sh installs the Debian
packages they name). Only faces whose character map covers the language's basic set are kept, and text sources
keep only characters every kept face has, so no glyph is ever missing from a picture (a missing glyph would make the
label lie).
"""

from __future__ import annotations

import fnmatch
import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont

# Printable ASCII plus the typographic punctuation our text sources use.
LATIN = frozenset(chr(c) for c in range(0x20, 0x7F)) | frozenset("‘’“”–—•…")
CJK_CHECK = frozenset("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年，。、；：？！“”（）《》")


@dataclass(frozen=True)
class FontConfig:
    dirs: tuple[str, ...] = ("/usr/share/fonts", "/usr/share/texmf/fonts", "~/.local/share/fonts", "~/.fonts")
    # "pattern" or "pattern:face-index" (for .ttc collections); matched against the file name
    en: tuple[str, ...] = (
        "DejaVuSans.ttf",
        "DejaVuSans-*.ttf",
        "DejaVuSansCondensed*.ttf",
        "DejaVuSerif*.ttf",
        "DejaVuSansMono*.ttf",
        "Liberation*-*.ttf",
        "NotoSans-*.ttf",
        "NotoSerif-*.ttf",
        "NotoSansDisplay-*.ttf",
        "NotoSerifDisplay-*.ttf",
        "C059-*.otf",
        "P052-*.otf",
        "Nimbus*-*.otf",
        "URWBookman-*.otf",
        "URWGothic-*.otf",
        "texgyre*-*.otf",
        "cmun*.ttf",
    )
    zh: tuple[str, ...] = (
        "NotoSansCJK-*.ttc:2",
        "NotoSerifCJK-*.ttc:2",
        "wqy-*.ttc:0",
        "ukai.ttc:0",
        "uming.ttc:0",
        "LXGWWenKai*.ttf",
    )
    # script, symbol and hairline faces: real, but they would teach the model to read ornaments
    exclude: tuple[str, ...] = (
        "*ExtraLight*",
        "*Thin*",
        "*-math*",
        "DejaVuMathTeXGyre*",
        "texgyrechorus*",
        "Z003*",
        "D050000L*",
        "StandardSymbols*",
    )


@dataclass(frozen=True)
class Face:
    path: str
    index: int
    bold: bool
    italic: bool

    @property
    def name(self) -> str:
        return Path(self.path).stem + (f":{self.index}" if self.index else "")


_BOLD = re.compile(r"bold|demi|heavy|black|^cmun\w*bx", re.I)
_ITALIC = re.compile(r"italic|oblique|ita\b|^cmun\w*(i|o|sl)\.", re.I)  # CMU names italics cmun?i, cmun?o


def _basic_set(lang: str) -> frozenset[str]:
    return frozenset(c for c in LATIN if c not in "‘’“”–—•…") if lang == "en" else CJK_CHECK


@lru_cache(maxsize=None)
def _cmap(path: str, index: int) -> frozenset[str]:
    font = TTFont(path, fontNumber=index, lazy=True)
    return frozenset(chr(c) for c in font["cmap"].getBestCmap())


@lru_cache(maxsize=None)
def faces(lang: str, cfg: FontConfig = FontConfig()) -> tuple[Face, ...]:
    """The usable faces for a language, in a fixed order (so a seed picks the same face on every machine that has
    the same fonts)."""
    patterns = {"en": cfg.en, "zh": cfg.zh}.get(lang)
    if patterns is None:
        raise ValueError(f"no fonts configured for language {lang!r}; FontConfig has en and zh")
    files: dict[str, str] = {}  # basename -> first path, so a font installed twice counts once
    for d in cfg.dirs:
        for root, _, names in sorted(os.walk(os.path.expanduser(d))):
            for n in sorted(names):
                if n.lower().endswith((".ttf", ".otf", ".ttc")):
                    files.setdefault(n, os.path.join(root, n))
    basic, found = _basic_set(lang), []
    for spec in patterns:
        pattern, _, index = spec.partition(":")
        for name in sorted(fnmatch.filter(files, pattern)):
            if any(fnmatch.fnmatch(name, x) for x in cfg.exclude):
                continue
            face = Face(files[name], int(index or 0), bool(_BOLD.search(name)), bool(_ITALIC.search(name)))
            if face not in found and basic <= _cmap(face.path, face.index):
                found.append(face)
    if not found:
        raise RuntimeError(f"no {lang} fonts found under {cfg.dirs}; run scripts/setup_system.sh to install them")
    return tuple(found)


@lru_cache(maxsize=None)
def charset(lang: str, cfg: FontConfig = FontConfig()) -> frozenset[str]:
    """Characters that every face of the language draws: text sources keep only these."""
    sets = [_cmap(f.path, f.index) for f in faces(lang, cfg)]
    return frozenset.intersection(*sets) | frozenset(" \n")


def pick(
    rng: random.Random,
    lang: str,
    *,
    bold: bool | None = None,
    italic: bool | None = False,
    cfg: FontConfig = FontConfig(),
) -> Face:
    """A random face; bold/italic None means either. Falls back to any face when no face has the style."""
    all_faces = faces(lang, cfg)
    styled = [f for f in all_faces if (bold is None or f.bold == bold) and (italic is None or f.italic == italic)]
    return rng.choice(styled or list(all_faces))


@lru_cache(maxsize=512)
def font(face: Face, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: fast, and the same glyph positions on every machine (raqm versions differ)
    return ImageFont.truetype(face.path, size=max(int(size), 4), index=face.index, layout_engine=ImageFont.Layout.BASIC)
