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
    blocks: tuple[int, int] = (2, 6)  # per page: short pages
    document: document.DocumentConfig = field(default_factory=lambda: document.DocumentConfig(width=(640, 900)))


def render_multipage(rng: random.Random, cfg: MultipageConfig) -> Sample:
    dc = cfg.document
    lang = rng.choice(dc.langs)
    size = document.page_size(rng, dc)  # one size for the whole document
    images, texts = [], []
    for _ in range(rng.randint(*cfg.pages)):
        page = document.compose(rng, dc, lang, True, size, max_blocks=rng.randint(*cfg.blocks))
        image, _ = effects.degrade(page.image, rng, dc.degrade)
        images.append(image)
        texts.append(page.text(True))
    return Sample(images, "\n\n".join(texts), task="format", lang=lang, source="render/multipage",
                  extra={"pages": len(images)})  # fmt: skip
