"""Single short text lines on a plain page: stage-1 line data and the CPU demo's reading task.

Document line slices span a page's column (40-80 characters); these are a few words, short enough for a tiny
model's handful of image tokens. The text is a phrase of real prose, or random letters, which give the decoder
no language prior to lean on and so push it to read.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from PIL import Image, ImageDraw

from got.data.sample import Sample
from got.render import engines, fonts, text


@dataclass
class LineConfig:
    langs: tuple[str, ...] = ("en",)
    words: tuple[int, int] = (1, 3)  # words of prose per line (characters in Chinese: 2-3x as many)
    max_chars: int = 12  # longer phrases are cut at the last word boundary that fits (or hard, without one)
    random_letters_p: float = 0.0  # share of lines that are random lowercase letters instead of prose
    min_letters: int = 3  # random-letter lines have min_letters..max_chars letters (1: single glyphs too)
    face: str | None = None  # one font file name (e.g. DejaVuSans.ttf); None: any regular face of the language
    font_size: int = 28
    margin: int = 8  # px of page around the text
    pitch_chars: int = 0  # 0: the page fits the text; N: a fixed page, N average letters wide and one line high,
    # text at its left, so a letter's place on the page does not depend on the line's length (docs/learning.md)
    text: text.TextConfig = text.TextConfig()

    def __post_init__(self) -> None:
        if not 1 <= self.min_letters <= self.max_chars:
            raise ValueError(f"line: need 1 <= min_letters <= max_chars, got {self.min_letters} and {self.max_chars}")


def _line_text(rng: random.Random, lang: str, cfg: LineConfig) -> str:
    if lang == "en" and rng.random() < cfg.random_letters_p:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(cfg.min_letters, cfg.max_chars)))
    lo, hi = cfg.words if lang == "en" else (2 * cfg.words[0], 3 * cfg.words[1])
    line = text.phrase(rng, lang, lo, hi, cfg.text).strip()
    if len(line) > cfg.max_chars:
        cut = line[: cfg.max_chars + 1].rfind(" ")
        line = line[:cut] if cut > 0 else line[: cfg.max_chars]
    return line.strip()


def _face(rng: random.Random, lang: str, cfg: LineConfig) -> fonts.Face:
    if cfg.face is None:
        return fonts.pick(rng, lang, bold=False, italic=False, cfg=cfg.text.fonts)
    named = [f for f in fonts.faces(lang, cfg.text.fonts) if f.path.endswith("/" + cfg.face)]
    if not named:
        raise engines.RenderError(f"font {cfg.face!r} is not installed (run scripts/setup_system.sh)")
    return named[0]


@dataclass
class LineContent:
    lang: str
    text: str
    face: fonts.Face
    size: int  # px
    margin: int  # px
    pitch_chars: int  # LineConfig.pitch_chars


def sample_line(rng: random.Random, cfg: LineConfig) -> LineContent:
    lang = rng.choice(cfg.langs)
    line = _line_text(rng, lang, cfg)
    if not line:
        raise engines.RenderError("empty line")
    return LineContent(lang, line, _face(rng, lang, cfg), cfg.font_size, cfg.margin, cfg.pitch_chars)


def draw_line(c: LineContent) -> Sample:
    font = fonts.font(c.face, c.size)
    left, top, right, bottom = font.getbbox(c.text)
    if c.pitch_chars:  # the page and the baseline do not move with the text
        ascent, descent = font.getmetrics()
        width = max(right, round(font.getlength(string.ascii_lowercase) / 26 * c.pitch_chars))
        left, top, right, bottom = 0, 0, width, ascent + descent
    image = Image.new("RGB", (right - left + 2 * c.margin, bottom - top + 2 * c.margin), "white")
    ImageDraw.Draw(image).text((c.margin - left, c.margin - top), c.text, font=font, fill="black")
    return Sample([image], c.text, task="ocr", lang=c.lang, source="render/line", extra={"font": c.face.name})


def render_line(rng: random.Random, cfg: LineConfig) -> Sample:
    return draw_line(sample_line(rng, cfg))
