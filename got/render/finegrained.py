"""Fine-grained OCR: a region is named either by its box, `[x1, y1, x2, y2] OCR: ` in GOT's 0-1000 coordinates, or
by a red, green or blue frame drawn around it, `[color] OCR: `. On a document page the region is a line, a few
lines or a paragraph; on a single line (`source: line`, the line renderer's strips) it is a run of the line's words,
or of its letters when it has no space. Target: the region's text. The box follows the image through the
degradation's warp.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from PIL import ImageDraw

from got.data.sample import Sample
from got.prompts import normalize_box
from got.render import document, effects, fonts, layout, line

FRAME_COLORS = {"red": (230, 20, 20), "green": (20, 170, 40), "blue": (20, 40, 230)}


SOURCES = ("document", "line")


@dataclass
class FinegrainedConfig:
    source: str = "document"  # document: regions of a page (`document`); line: runs of a line (`line`)
    color_p: float = 0.4  # a colour frame rather than a box prompt
    regions: dict[str, float] = field(default_factory=lambda: {"line": 0.3, "lines": 0.4, "block": 0.3})
    region_lines: tuple[int, int] = (1, 5)  # of a "lines" region (at most the paragraph's)
    frame_width: tuple[int, int] = (2, 5)
    # pages 640-900 px wide (documents: 800-1100): the model sees 1024x1024 anyway, and a page costs ~0.6x
    document: document.DocumentConfig = field(
        default_factory=lambda: document.DocumentConfig(
            width=(640, 900), degrade=effects.DegradeConfig(rotate=1.0, warp=0.01)
        )
    )
    line: line.LineConfig = field(default_factory=line.LineConfig)  # the region is 1..n-1 of the n units it holds

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"finegrained: unknown source {self.source!r}, expected one of {list(SOURCES)}")


@dataclass
class FinegrainedContent:
    page: document.PageContent | line.LineContent
    region: str  # line | lines | block, or span (of a line)
    picks: tuple[float, float, float]  # the paragraph, the number of lines, the first line (document.pick)
    region_lines: tuple[int, int]
    pad: float  # the region's margin (document.pad_box)
    color: str | None  # the frame's, or None for a box prompt
    frame_width: int
    degradation: effects.Degradation | None


def sample_finegrained(rng: random.Random, cfg: FinegrainedConfig) -> FinegrainedContent:
    if cfg.source == "line":
        content = line.sample_line(rng, cfg.line)
        picks = (0.0, rng.random(), rng.random())
        color = rng.choice(list(FRAME_COLORS)) if rng.random() < cfg.color_p else None
        # the line is drawn clean and degraded here, so that the box follows the warp
        return FinegrainedContent(
            replace(content, degradation=None),
            "span",
            picks,
            (1, 1),
            0.0,
            color,
            rng.randint(*cfg.frame_width),
            content.degradation,
        )
    dc = cfg.document
    lang = rng.choice(dc.langs)
    page = document.sample_page(rng, dc, lang, False, document.page_size(rng, dc))
    region = rng.choices(list(cfg.regions), list(cfg.regions.values()))[0]
    picks = (rng.random(), rng.random(), rng.random())
    color = rng.choice(list(FRAME_COLORS)) if rng.random() < cfg.color_p else None
    return FinegrainedContent(
        page,
        region,
        picks,
        cfg.region_lines,
        rng.uniform(*dc.slice_pad),
        color,
        rng.randint(*cfg.frame_width),
        effects.sample_degradation(rng, dc.degrade),
    )


def _region(c: FinegrainedContent, page: layout.Page) -> list[layout.Line]:
    """The region's lines, all in one paragraph's first column."""
    lines = document.text_lines(page, document.pick(document.text_blocks(page, "to point at"), c.picks[0]))
    if c.region == "line":
        return [document.pick(lines, c.picks[2])]
    if c.region == "block":
        return lines
    hi = min(c.region_lines[1], len(lines))
    n = document.pick(range(min(c.region_lines[0], hi), hi + 1), c.picks[1])
    start = document.pick(range(len(lines) - n + 1), c.picks[2])
    return lines[start : start + n]


def _span(c: FinegrainedContent) -> tuple[Sample, effects.Box, str]:
    """The line drawn, the box of a run of its units (words, or letters without a space) and the run's text."""
    strip, text = line.draw_line(c.page), c.page.text
    sep = " " if " " in text.strip() else ""
    units = text.split(" ") if sep else list(text)
    n = document.pick(range(1, max(len(units) - 1, 1) + 1), c.picks[1])
    start = document.pick(range(len(units) - n + 1), c.picks[2])
    before, run = sep.join(units[:start]) + (sep if start else ""), sep.join(units[start : start + n])
    font, (x0, y0) = fonts.font(c.page.face, c.page.size), line.text_origin(c.page)
    x1, x2 = x0 + font.getlength(before), x0 + font.getlength(before + run)
    ascent, descent = font.getmetrics()
    pad = c.page.size * 0.1  # above and below; none to the sides, where the next letter's cell begins
    return strip, (x1, y0 - pad, x2, y0 + ascent + descent + pad), run


def draw_finegrained(c: FinegrainedContent) -> Sample:
    if isinstance(c.page, line.LineContent):
        strip, box, target = _span(c)
        image, meta = strip.images[0], strip.extra
    else:
        page = document.draw_page(c.page)
        lines = _region(c, page)
        box, target = document.pad_box(page, document.union(lines), c.pad), "\n".join(ln.text for ln in lines)
        image, meta = page.image, page.meta
    if c.color:
        ImageDraw.Draw(image).rectangle(box, outline=FRAME_COLORS[c.color], width=c.frame_width)
    image, (moved,) = effects.degrade(image, c.degradation, [box])
    pixel = [math.floor(moved[0]), math.floor(moved[1]), math.ceil(moved[2]), math.ceil(moved[3])]  # contains the text
    extra = {"region": c.region, "pixel_box": pixel, **meta}
    return Sample(
        [image],
        target,
        task="ocr",
        lang=c.page.lang,
        source="render/finegrained",
        color=c.color,
        box=None if c.color else tuple(normalize_box(pixel, image.size)),
        extra=extra,
    )


def render_finegrained(rng: random.Random, cfg: FinegrainedConfig) -> Sample:
    return draw_finegrained(sample_finegrained(rng, cfg))
