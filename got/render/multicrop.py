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
    document: document.DocumentConfig = field(
        default_factory=lambda: document.DocumentConfig(
            width=(560, 800),
            aspect=(0.6, 0.95),
            font_size=(0.02, 0.028),
            inline_math_p=0.15,
            degrade=effects.DegradeConfig(rotate=0.0, warp=0.0),
        )
    )


@dataclass
class MulticropContent:
    size: tuple[int, int]  # of each page
    pages: list[document.PageContent]
    horizontal: bool  # side by side, else stacked
    degradation: effects.Degradation | None


def sample_multicrop(rng: random.Random, cfg: MulticropConfig) -> MulticropContent:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    size = document.page_size(rng, dc)
    n = rng.randint(*cfg.pages)
    horizontal = rng.random() < cfg.horizontal_p
    typography = document.sample_typography(rng, dc, lang, size[0])  # pages of one document: the same fonts and sizes
    pages = [document.sample_page(rng, dc, lang, True, size, typography=typography) for _ in range(n)]
    return MulticropContent(size, pages, horizontal, effects.sample_degradation(rng, dc.degrade))


def draw_multicrop(c: MulticropContent) -> Sample:
    (w, h), n = c.size, len(c.pages)
    pages = [document.draw_page(p) for p in c.pages]
    sheet = Image.new("RGB", (w * n, h) if c.horizontal else (w, h * n))
    for i, page in enumerate(pages):
        sheet.paste(page.image, (i * w, 0) if c.horizontal else (0, i * h))
    image, _ = effects.degrade(sheet, c.degradation)
    return Sample(
        [image],
        "\n\n".join(p.text(True) for p in pages),
        task="format",
        lang=c.pages[0].lang,
        source="render/multicrop",
        crop=True,
        extra={"pages": n, "horizontal": c.horizontal},
    )


def render_multicrop(rng: random.Random, cfg: MulticropConfig) -> Sample:
    return draw_multicrop(sample_multicrop(rng, cfg))
