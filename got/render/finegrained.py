"""Fine-grained OCR from document pages: a region (a line, a few lines, or a paragraph) is named either by its box,
`[x1, y1, x2, y2] OCR: ` in GOT's 0-1000 coordinates, or by a red, green or blue frame drawn around it on the
page, `[color] OCR: `. Target: the region's lines. The box follows the page through the degradation's warp.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from PIL import ImageDraw

from got.data.sample import Sample
from got.prompts import normalize_box
from got.render import document, effects, layout

FRAME_COLORS = {"red": (230, 20, 20), "green": (20, 170, 40), "blue": (20, 40, 230)}


@dataclass
class FinegrainedConfig:
    color_p: float = 0.4  # a colour frame rather than a box prompt
    regions: dict[str, float] = field(default_factory=lambda: {"line": 0.3, "lines": 0.4, "block": 0.3})
    region_lines: tuple[int, int] = (1, 5)  # of a "lines" region (at most the paragraph's)
    frame_width: tuple[int, int] = (2, 5)
    # pages 640-900 px wide (documents: 800-1100): the model sees 1024x1024 anyway, and a page costs ~0.6x
    document: document.DocumentConfig = field(default_factory=lambda: document.DocumentConfig(
        width=(640, 900), degrade=effects.DegradeConfig(rotate=1.0, warp=0.01)))  # fmt: skip


@dataclass
class FinegrainedContent:
    page: document.PageContent
    region: str  # line | lines | block
    picks: tuple[float, float, float]  # the paragraph, the number of lines, the first line (document.pick)
    region_lines: tuple[int, int]
    pad: float  # the region's margin (document.pad_box)
    color: str | None  # the frame's, or None for a box prompt
    frame_width: int
    degradation: effects.Degradation | None


def sample_finegrained(rng: random.Random, cfg: FinegrainedConfig) -> FinegrainedContent:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    page = document.sample_page(rng, dc, lang, False, document.page_size(rng, dc))
    region = rng.choices(list(cfg.regions), list(cfg.regions.values()))[0]
    picks = (rng.random(), rng.random(), rng.random())
    color = rng.choice(list(FRAME_COLORS)) if rng.random() < cfg.color_p else None
    return FinegrainedContent(page, region, picks, cfg.region_lines, rng.uniform(*dc.slice_pad), color,
                              rng.randint(*cfg.frame_width), effects.sample_degradation(rng, dc.degrade))  # fmt: skip


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


def draw_finegrained(c: FinegrainedContent) -> Sample:
    page = document.draw_page(c.page)
    lines = _region(c, page)
    box = document.pad_box(page, document.union(lines), c.pad)
    if c.color:
        ImageDraw.Draw(page.image).rectangle(box, outline=FRAME_COLORS[c.color], width=c.frame_width)
    image, (moved,) = effects.degrade(page.image, c.degradation, [box])
    pixel = [math.floor(moved[0]), math.floor(moved[1]), math.ceil(moved[2]), math.ceil(moved[3])]  # contains the text
    target = "\n".join(ln.text for ln in lines)
    extra = {"region": c.region, "pixel_box": pixel, **page.meta}
    return Sample([image], target, task="ocr", lang=c.page.lang, source="render/finegrained", color=c.color,
                  box=None if c.color else tuple(normalize_box(pixel, image.size)), extra=extra)  # fmt: skip


def render_finegrained(rng: random.Random, cfg: FinegrainedConfig) -> Sample:
    return draw_finegrained(sample_finegrained(rng, cfg))
