"""Multi-crop: 2-3 pages stitched side by side or one above the other into one large image, flagged `crop` so that
the loader tiles it into views (`OCR with format upon the patch reference: `). Target: the pages' markdown in
reading order (left to right, or top to bottom), blank line between pages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from got.data.sample import Sample
from got.render import document, effects


@dataclass
class MulticropConfig:
    pages: tuple[int, int] = (2, 3)
    horizontal_p: float = 0.6  # side by side, else stacked
    # smaller, shorter pages than documents (the stitched image is still 1100-2400 px long); no tilt or warp of
    # the whole montage (a 2-3 Mpx perspective resample was a third of a sample's time); half the inline formulas of
    # documents (each is a MathJax call)
    document: document.DocumentConfig = field(default_factory=lambda: document.DocumentConfig(
        width=(560, 800), aspect=(0.6, 0.95), font_size=(0.02, 0.028), inline_math_p=0.15,
        degrade=effects.DegradeConfig(rotate=0.0, warp=0.0)))  # fmt: skip


def render_multicrop(rng: random.Random, cfg: MulticropConfig) -> Sample:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    size = document.page_size(rng, dc)
    n = rng.randint(*cfg.pages)
    horizontal = rng.random() < cfg.horizontal_p
    typeset = document.typography(rng, dc, lang, size[0])  # pages of one document: the same fonts and sizes
    pages = [document.compose(rng, dc, lang, True, size, typeset=typeset) for _ in range(n)]
    sheet = Image.new("RGB", (size[0] * n, size[1]) if horizontal else (size[0], size[1] * n))
    for i, page in enumerate(pages):
        sheet.paste(page.image, (i * size[0], 0) if horizontal else (0, i * size[1]))
    image, _ = effects.degrade(sheet, rng, dc.degrade)
    return Sample([image], "\n\n".join(p.text(True) for p in pages), task="format", lang=lang,
                  source="render/multicrop", crop=True, extra={"pages": n, "horizontal": horizontal})  # fmt: skip
