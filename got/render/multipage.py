"""Multi-page documents: 2-8 short pages, each its own scan. Target: the pages' markdown, concatenated in page order
(blank line between pages), for `OCR with format across multi pages: `.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from got.data.sample import Sample
from got.render import document, effects


@dataclass
class MultipageConfig:
    pages: tuple[int, int] = (2, 8)
    blocks: tuple[int, int] = (1, 3)  # per page: short pages
    # short pages: a half-height canvas with a larger relative body size (14-26 px), so ~8-15 lines a page; fewer
    # inline formulas (MathJax) and effects per page than documents, since a sample has 5 pages on average
    document: document.DocumentConfig = field(
        default_factory=lambda: document.DocumentConfig(
            width=(520, 720),
            aspect=(0.4, 0.75),
            font_size=(0.026, 0.036),
            title_p=0.3,
            header_p=0.15,
            inline_math_p=0.15,
            degrade=effects.DegradeConfig(each_p=0.35),
        )
    )


@dataclass
class MultipageContent:
    pages: list[document.PageContent]
    degradations: list[effects.Degradation | None]  # one per page: each is its own scan


def sample_multipage(rng: random.Random, cfg: MultipageConfig) -> MultipageContent:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    size = document.page_size(rng, dc)  # one size and one typography for the whole document
    typography = document.sample_typography(rng, dc, lang, size[0])
    pages, degradations = [], []
    for _ in range(rng.randint(*cfg.pages)):
        pages.append(document.sample_page(rng, dc, lang, True, size, rng.randint(*cfg.blocks), typography))
        degradations.append(effects.sample_degradation(rng, dc.degrade))
    return MultipageContent(pages, degradations)


def draw_multipage(c: MultipageContent) -> Sample:
    pages = [document.draw_page(p) for p in c.pages]
    images = [effects.degrade(page.image, d)[0] for page, d in zip(pages, c.degradations)]
    return Sample(
        images,
        "\n\n".join(p.text(True) for p in pages),
        task="format",
        lang=c.pages[0].lang,
        source="render/multipage",
        extra={"pages": len(images)},
    )


def render_multipage(rng: random.Random, cfg: MultipageConfig) -> Sample:
    return draw_multipage(sample_multipage(rng, cfg))
