"""Single short text lines: stage-1 line data, and the reading tasks of the CPU demo and bench/learning.py.

Document line slices span a page's column (40-80 characters); these are a word or a few words, short enough for a
tiny model. The text is a stretch of real prose, one real word, or random letters (which give the decoder no
language prior to lean on and so push it to read). A line is set on a strip one line of type high (the face's
ascent and descent, whatever letters it holds), so every face and size gives the same proportions; `crop` lets the
loader tile a long strip along its length instead of squashing it into one view.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from got.data.sample import Sample
from got.render import effects, engines, fonts, text

KINDS = ("phrase", "word", "letters")
STYLES = {"plain": "{}", "bold": "**{}**", "italic": "*{}*"}  # a line's style -> its markdown (task format)
TASKS = ("ocr", "format")
_WORD = re.compile(r"[A-Za-z]+")
_TRIES = 50  # paragraphs tried for a word or phrase of the asked length before the sample is given up


@dataclass
class LineConfig:
    langs: tuple[str, ...] = ("en",)
    # phrase: consecutive words of a paragraph, punctuation kept (Chinese: consecutive characters); word: one word
    # of a paragraph, letters only, as often as the prose uses it; letters: random lowercase letters (English)
    kinds: dict[str, float] = field(default_factory=lambda: {"phrase": 1.0})
    chars: tuple[int, int] = (3, 12)  # length of a phrase in characters, of a word or letters in letters
    faces: tuple[str, ...] = ()  # font file names (e.g. DejaVuSerif-Bold.ttf), one drawn per line; (): any regular
    # the whole line's style: plain (in `faces`), bold or italic (in style_faces[style]; none named: any such face)
    styles: dict[str, float] = field(default_factory=lambda: {"plain": 1.0})
    style_faces: dict[str, tuple[str, ...]] = field(default_factory=dict)  # e.g. {bold: [DejaVuSansMono-Bold.ttf]}
    task: str = "ocr"  # ocr: the label is the text; format: its markdown, **bold** or *italic* by the line's style
    font_size: tuple[int, int] = (28, 28)  # px
    margin: tuple[float, float] = (0.3, 0.3)  # blank round the text, in font sizes
    pitch_chars: int = 0  # 0: the strip fits the text; N: a fixed strip, N average letters wide, text at its left,
    # so a letter's place on the page does not depend on the line's length (docs/learning.md)
    # flag the sample multi-crop: the loader cuts the strip into tiles along its length. The strip is widened (blank
    # on the right) to a whole number of its heights, so that the grid closest to its aspect is one row of square
    # tiles: a strip 1.25-1.75 heights wide would otherwise get a 3x2 grid, which cuts its letters in half.
    crop: bool = False
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(p=0.0))
    text: text.TextConfig = text.TextConfig()

    def __post_init__(self) -> None:
        for name, allowed in (("kinds", KINDS), ("styles", STYLES), ("style_faces", STYLES)):
            if unknown := sorted(set(getattr(self, name)) - set(allowed)):
                raise ValueError(f"line: unknown {name} {unknown}, expected some of {list(allowed)}")
        for name in ("kinds", "styles"):
            weights = getattr(self, name)
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(f"line: {name} need non-negative weights, some positive, got {weights}")
        if self.task not in TASKS:
            raise ValueError(f"line: task {self.task!r} is not one of {list(TASKS)}")
        for name in ("chars", "font_size"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ValueError(f"line: need 1 <= {name}[0] <= {name}[1], got {lo} and {hi}")


def _phrase(rng: random.Random, lang: str, cfg: LineConfig) -> str:
    """A stretch of one paragraph of chars[0]..chars[1] characters, cut at word boundaries (any character in
    Chinese), starting at a random word."""
    lo, hi = cfg.chars
    for _ in range(_TRIES):
        paragraph = text.any_paragraph(rng, lang, cfg.text)
        units, sep = (list(paragraph.replace(" ", "")), "") if lang == "zh" else (paragraph.split(), " ")
        length, start = rng.randint(lo, hi), rng.randrange(len(units))
        out = units[start]
        for unit in units[start + 1 :]:
            joined = out + sep + unit
            if len(joined) > length:
                break
            out = joined
        if lo <= len(out) <= hi:
            return out
    raise engines.RenderError(f"no {lang} phrase of {lo}-{hi} characters in {_TRIES} paragraphs")


def _word(rng: random.Random, lang: str, cfg: LineConfig) -> str:
    lo, hi = cfg.chars
    if lang != "en":
        raise ValueError(f"line: kind 'word' is English only, got lang {lang!r}")
    for _ in range(_TRIES):
        words = [w for w in _WORD.findall(text.any_paragraph(rng, lang, cfg.text)) if lo <= len(w) <= hi]
        if words:
            return rng.choice(words)
    raise engines.RenderError(f"no word of {lo}-{hi} letters in {_TRIES} paragraphs")


def _line_text(rng: random.Random, lang: str, cfg: LineConfig) -> str:
    kind = rng.choices(list(cfg.kinds), list(cfg.kinds.values()))[0]
    if kind == "letters":
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(*cfg.chars)))
    return _word(rng, lang, cfg) if kind == "word" else _phrase(rng, lang, cfg)


def _face(rng: random.Random, lang: str, cfg: LineConfig, style: str) -> fonts.Face:
    names = cfg.faces if style == "plain" else cfg.style_faces.get(style, ())
    if not names:
        return fonts.pick(rng, lang, bold=style == "bold", italic=style == "italic", cfg=cfg.text.fonts)
    name = rng.choice(names)
    named = [f for f in fonts.faces(lang, cfg.text.fonts) if f.path.endswith("/" + name)]
    if not named:
        raise engines.RenderError(f"font {name!r} is not installed for {lang} (run scripts/setup_system.sh)")
    return named[0]


@dataclass
class LineContent:
    lang: str
    text: str
    face: fonts.Face
    size: int  # px
    margin: int  # px
    pitch_chars: int  # LineConfig.pitch_chars
    crop: bool
    style: str  # plain | bold | italic
    task: str  # ocr | format
    degradation: effects.Degradation | None


def sample_line(rng: random.Random, cfg: LineConfig) -> LineContent:
    lang = rng.choice(cfg.langs)
    line = _line_text(rng, lang, cfg)
    if not line.strip():
        raise engines.RenderError("empty line")
    style = rng.choices(list(cfg.styles), list(cfg.styles.values()))[0]
    face, size = _face(rng, lang, cfg, style), rng.randint(*cfg.font_size)
    margin = round(size * rng.uniform(*cfg.margin))
    return LineContent(
        lang,
        line,
        face,
        size,
        margin,
        cfg.pitch_chars,
        cfg.crop,
        style,
        cfg.task,
        effects.sample_degradation(rng, cfg.degrade),
    )


def _extent(c: LineContent) -> tuple[int, int]:
    """The text's left and right edge in the font's coordinates; with pitch_chars, the fixed strip's."""
    font = fonts.font(c.face, c.size)
    left, _, right, _ = font.getbbox(c.text)
    if c.pitch_chars:  # the strip and the text's start do not move with the text
        return 0, max(right, round(font.getlength(string.ascii_lowercase) / 26 * c.pitch_chars))
    return left, right


def text_origin(c: LineContent) -> tuple[int, int]:
    """Where draw_line puts the text (PIL's anchor "la": left, ascender) on the strip, in pixels."""
    return c.margin - _extent(c)[0], c.margin


def draw_line(c: LineContent) -> Sample:
    font = fonts.font(c.face, c.size)
    ascent, descent = font.getmetrics()
    left, right = _extent(c)
    width, height = right - left + 2 * c.margin, ascent + descent + 2 * c.margin
    if c.crop:  # a whole number of squares: the loader's grid is then one row of tiles (see LineConfig.crop)
        width = -(-width // height) * height
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text(text_origin(c), c.text, font=font, fill="black")
    image, _ = effects.degrade(image, c.degradation)
    label = STYLES[c.style].format(c.text) if c.task == "format" else c.text
    return Sample(
        [image],
        label,
        task=c.task,
        lang=c.lang,
        source="render/line",
        crop=c.crop,
        extra={"font": c.face.name, "size": c.size},
    )


def render_line(rng: random.Random, cfg: LineConfig) -> Sample:
    return draw_line(sample_line(rng, cfg))
