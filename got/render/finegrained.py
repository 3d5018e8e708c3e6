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
from got.render import document, effects, engines

FRAME_COLORS = {"red": (230, 20, 20), "green": (20, 170, 40), "blue": (20, 40, 230)}


@dataclass
class FinegrainedConfig:
    color_p: float = 0.4  # a colour frame rather than a box prompt
    regions: dict[str, float] = field(default_factory=lambda: {"line": 0.3, "lines": 0.4, "block": 0.3})
    frame_width: tuple[int, int] = (2, 5)
    # pages 640-900 px wide (documents: 800-1100): the model sees 1024x1024 anyway, and a page costs ~0.6x
    document: document.DocumentConfig = field(default_factory=lambda: document.DocumentConfig(
        width=(640, 900), degrade=effects.DegradeConfig(rotate=1.0, warp=0.01)))  # fmt: skip


def render_finegrained(rng: random.Random, cfg: FinegrainedConfig) -> Sample:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    page = document.compose(rng, dc, lang, False, document.page_size(rng, dc))
    blocks = [b for b in page.blocks if b.kind in document.TEXT_BLOCKS]
    if not blocks:
        raise engines.RenderError("page has no text to point at")
    region = rng.choices(list(cfg.regions), list(cfg.regions.values()))[0]
    lines = document.text_lines(page, rng.choice(blocks))
    if region == "line":
        lines = [rng.choice(lines)]
    elif region == "lines":
        n = rng.randint(1, min(5, len(lines)))
        start = rng.randrange(len(lines) - n + 1)
        lines = lines[start : start + n]
    box = document.pad_box(page, document.union(lines), rng)
    color = rng.choice(list(FRAME_COLORS)) if rng.random() < cfg.color_p else None
    if color:
        ImageDraw.Draw(page.image).rectangle(box, outline=FRAME_COLORS[color], width=rng.randint(*cfg.frame_width))
    image, (moved,) = effects.degrade(page.image, rng, dc.degrade, [box])
    pixel = [math.floor(moved[0]), math.floor(moved[1]), math.ceil(moved[2]), math.ceil(moved[3])]  # contains the text
    target = "\n".join(ln.text for ln in lines)
    extra = {"region": region, "pixel_box": pixel, **page.meta}
    return Sample([image], target, task="ocr", lang=lang, source="render/finegrained", color=color,
                  box=None if color else tuple(normalize_box(pixel, image.size)), extra=extra)  # fmt: skip
