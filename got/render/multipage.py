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
    document: document.DocumentConfig = field(default_factory=lambda: document.DocumentConfig(
        width=(520, 720), aspect=(0.4, 0.75), font_size=(0.026, 0.036), title_p=0.3, header_p=0.15,
        inline_math_p=0.15, degrade=effects.DegradeConfig(each_p=0.35)))  # fmt: skip


def render_multipage(rng: random.Random, cfg: MultipageConfig) -> Sample:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    size = document.page_size(rng, dc)  # one size and one typography for the whole document
    typeset = document.typography(rng, dc, lang, size[0])
    images, texts = [], []
    for _ in range(rng.randint(*cfg.pages)):
        page = document.compose(rng, dc, lang, True, size, max_blocks=rng.randint(*cfg.blocks), typeset=typeset)
        image, _ = effects.degrade(page.image, rng, dc.degrade)
        images.append(image)
        texts.append(page.text(True))
    return Sample(images, "\n\n".join(texts), task="format", lang=lang, source="render/multipage",
                  extra={"pages": len(images)})  # fmt: skip
