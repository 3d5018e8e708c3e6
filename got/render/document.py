"""Documents (en, zh): 1-3 column pages with a title, running header and footer, headings, paragraphs and lists in
varied fonts, sizes and spacing; format pages add inline and display formulas and tables.

A sample is a page, or a line or paragraph slice cut from one (stage-1 data). Targets: the drawn lines in reading
order (`OCR: `; lines joined by newlines, blocks by blank lines), or Mathpix-style markdown (`OCR with format: `;
`#`/`##` headings, `-`/`1.` lists, `\\( \\)` and `\\[ \\]` formulas, LaTeX tabulars).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from got.data.sample import Sample
from got.render import effects, engines, fonts, formula, layout, table, text

BULLETS = ("• ", "– ", "* ", "▪ ")
IMAGE_BLOCKS = ("formula", "table")


@dataclass
class DocumentConfig:
    langs: tuple[str, ...] = ("en", "zh")
    kinds: dict[str, float] = field(default_factory=lambda: {"page": 0.6, "line": 0.2, "paragraph": 0.2})
    format_p: float = 0.5  # pages with a markdown target (and formulas and tables) rather than plain text
    width: tuple[int, int] = (800, 1100)  # page width, px
    aspect: tuple[float, float] = (1.25, 1.45)  # height / width
    margin: tuple[float, float] = (0.05, 0.1)  # fraction of the width
    columns: tuple[float, ...] = (0.5, 0.35, 0.15)  # weights of 1, 2, 3 columns
    min_column_chars: int = 32  # fewer columns when a column line would hold fewer characters
    gutter: tuple[float, float] = (0.03, 0.06)  # fraction of the width
    font_size: tuple[float, float] = (0.017, 0.027)  # body size, fraction of the width
    spacing: tuple[float, float] = (1.25, 1.7)  # line height / size
    justify_p: float = 0.5
    indent_p: float = 0.5  # first-line indent of paragraphs
    title_p: float = 0.6
    header_p: float = 0.3  # running header line
    footer_p: float = 0.4  # page number
    blocks: dict[str, float] = field(
        default_factory=lambda: {"paragraph": 0.6, "heading": 0.14, "list": 0.1, "formula": 0.08, "table": 0.08}
    )  # formula and table only on format pages
    inline_math_p: float = 0.3  # format paragraphs that carry inline formulas
    ink: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (0, 0, 0), (45, 45, 45), (20, 30, 90), (60, 35, 20))
    paper: effects.PaperConfig = field(default_factory=effects.PaperConfig)
    degrade: effects.DegradeConfig = field(default_factory=effects.DegradeConfig)
    table: table.TableConfig = field(default_factory=table.TableConfig)
    text: text.TextConfig = text.TextConfig()


@dataclass
class _Fill:
    """What one page draws with."""

    rng: random.Random
    cfg: DocumentConfig
    lang: str
    fmt: bool
    body: layout.Style
    heading: layout.Style
    ink: tuple[int, int, int]


def _styles(rng: random.Random, cfg: DocumentConfig, lang: str, width: int, ink) -> tuple[layout.Style, layout.Style]:
    fc = cfg.text.fonts
    size = round(width * rng.uniform(*cfg.font_size))
    body = layout.Style(fonts.pick(rng, lang, bold=False, italic=False, cfg=fc), size, ink,
                        rng.uniform(*cfg.spacing), "justify" if rng.random() < cfg.justify_p else "left",
                        size * (2 if lang == "zh" else rng.randint(1, 3)) if rng.random() < cfg.indent_p else 0)  # fmt: skip
    heading = layout.Style(fonts.pick(rng, lang, bold=True, italic=False, cfg=fc), round(size * rng.uniform(1.1, 1.5)),
                           ink, 1.3)  # fmt: skip
    return body, heading


def _inline_math(f: _Fill, paragraph: str) -> tuple[str, list[layout.Math]]:
    """Put 1-2 short formulas between the paragraph's words (characters in Chinese)."""
    maths, out = [], paragraph
    for _ in range(f.rng.randint(1, 2)):
        latex = formula.inline_latex(f.rng)
        img, depth = engines.mathjax(latex, f.body.size, display=False, color=formula.hex_color(f.ink))
        if img.height > 2 * f.body.size or img.width > 12 * f.body.size:  # tall or long: would break the line grid
            continue
        ph = chr(layout.MATH_BASE + len(maths))
        maths.append(layout.Math(img, latex, depth))
        if f.lang == "zh":
            i = f.rng.randrange(len(out) + 1)
            out = out[:i] + ph + out[i:]
        else:
            words = out.split(" ")
            words.insert(f.rng.randrange(len(words) + 1), ph)
            out = " ".join(words)
    return out, maths


def _place_block(page: layout.Page, f: _Fill, kind: str) -> bool:
    rng, b = f.rng, f.body
    gap = b.size * rng.uniform(0.4, 1.0)
    if kind == "heading":
        words = (2, 7) if f.lang == "en" else (4, 12)
        number = f"{rng.randint(1, 9)}.{rng.randint(1, 9)} " if rng.random() < 0.4 else ""
        title = number + text.phrase(rng, f.lang, *words, cfg=f.cfg.text)
        return page.place_text("heading", title, f.heading, md_prefix="## ", space_before=gap * 1.5)
    if kind == "list":
        numbered, bullet = rng.random() < 0.4, rng.choice(BULLETS)
        item = layout.Style(b.face, b.size, b.color, b.spacing, "left")
        for i in range(rng.randint(2, 5)):
            marker = f"{i + 1}. " if numbered else bullet
            line = text.paragraph(rng, f.lang, rng.randint(30, 160), f.cfg.text)
            md = f"{i + 1}. " if numbered else "- "
            if not page.place_text("item", line, item, marker=marker, md_prefix=md, space_before=gap * (0.3 if i else 1)):  # fmt: skip
                return False
        return True
    if kind == "formula":
        latex = formula.random_latex(rng, depth=rng.randint(1, 2))
        img, _ = engines.mathjax(latex, b.size * rng.uniform(1.0, 1.3), color=formula.hex_color(f.ink))
        if img.width > page.col_width:
            img = img.resize((int(page.col_width), max(1, int(img.height * page.col_width / img.width))), Image.LANCZOS)  # fmt: skip
        return page.place_image("formula", img, formula.wrap(latex, True), space_before=gap)
    if kind == "table":
        made = table.table_image(rng, f.cfg.table, f.lang, round(b.size * 0.9), page.col_width, f.ink)
        return made is not None and page.place_image("table", made[0], made[1], space_before=gap)
    body = text.paragraph(rng, f.lang, rng.randint(150, 700), f.cfg.text)
    maths: list[layout.Math] = []
    if f.fmt and rng.random() < f.cfg.inline_math_p:
        body, maths = _inline_math(f, body)
    return page.place_text("paragraph", body, b, space_before=gap, math=maths)


def typography(rng: random.Random, cfg: DocumentConfig, lang: str, width: int) -> tuple:
    """(ink, body style, heading style): what compose draws a page's text with."""
    ink = rng.choice(cfg.ink)
    return (ink, *_styles(rng, cfg, lang, width, ink))


def compose(rng: random.Random, cfg: DocumentConfig, lang: str, fmt: bool, size: tuple[int, int],
            max_blocks: int = 200, typeset: tuple | None = None) -> layout.Page:  # fmt: skip
    """A filled page, undegraded, with its blocks and line boxes (documents, fine-grained, multi-page, multi-crop).
    typeset (from typography()) gives the pages of one document the same fonts, sizes and ink."""
    w, h = size
    ink, body, heading = typeset or typography(rng, cfg, lang, w)
    f = _Fill(rng, cfg, lang, fmt, body, heading, ink)
    margins = [round(w * rng.uniform(*cfg.margin)) for _ in range(4)]
    n = rng.choices((1, 2, 3), weights=cfg.columns)[0]
    gutter = round(w * rng.uniform(*cfg.gutter))
    per_char = body.size * (1.0 if lang == "zh" else 0.5)
    while n > 1 and (w - margins[0] - margins[2] - (n - 1) * gutter) / n < cfg.min_column_chars * per_char:
        n -= 1
    page = layout.Page(effects.paper(rng, size, cfg.paper), margins, n, gutter)
    page.meta = {"columns": n, "font": body.face.name, "size": body.size}
    small = layout.Style(body.face, max(9, round(body.size * 0.8)), ink, 1.3, "center")
    if rng.random() < cfg.header_p:
        running = text.phrase(rng, lang, 3, 8, cfg.text)
        page.place_text("header", running, small, md_prefix="", full_width=True)
        page.y += body.size
    footer = rng.random() < cfg.footer_p
    footer_space = round(small.size * 3) if footer else 0
    page.bottom -= footer_space
    if rng.random() < cfg.title_p:
        title_style = layout.Style(heading.face, round(body.size * rng.uniform(1.5, 2.2)), ink, 1.25, "center")
        words = (3, 10) if lang == "en" else (5, 16)
        page.place_text("title", text.phrase(rng, lang, *words, cfg=cfg.text), title_style, md_prefix="# ", full_width=True)  # fmt: skip
        page.y += body.size
    page.start_columns()
    kinds = [k for k in cfg.blocks if fmt or k not in IMAGE_BLOCKS]
    for _ in range(max_blocks):
        kind = rng.choices(kinds, [cfg.blocks[k] for k in kinds])[0]
        if not _place_block(page, f, kind):
            if kind not in IMAGE_BLOCKS:
                break  # text ran off the page
            kinds = [k for k in kinds if k not in IMAGE_BLOCKS]  # no room for a picture: text fills the rest
    if footer:  # in the reserved strip; as the last column, so that it cannot flow anywhere else
        page.col, page.y = page.n - 1, page.bottom + small.size
        page.bottom += footer_space
        page.place_text("footer", str(rng.randint(1, 400)), small, full_width=True)
    return page


def pad_box(page: layout.Page, box: effects.Box, rng: random.Random) -> effects.Box:
    """The box plus a random margin that stops halfway to every other drawn line, so that a crop or a frame
    shows only the box's own text."""
    x1, y1, x2, y2 = box
    pads = [(y2 - y1) * rng.uniform(0.1, 0.8)] * 4
    for ln in (ln for b in page.blocks for ln in b.lines):
        a1, b1, a2, b2 = ln.box
        if a2 > x1 and a1 < x2:  # overlaps horizontally: limits the vertical margins
            if b2 <= y1:
                pads[1] = min(pads[1], (y1 - b2) / 2)
            elif b1 >= y2:
                pads[3] = min(pads[3], (b1 - y2) / 2)
        if b2 > y1 and b1 < y2:  # overlaps vertically: limits the horizontal margins
            if a2 <= x1:
                pads[0] = min(pads[0], (x1 - a2) / 2)
            elif a1 >= x2:
                pads[2] = min(pads[2], (a1 - x2) / 2)
    w, h = page.image.size
    return (max(0.0, x1 - pads[0]), max(0.0, y1 - pads[1]), min(float(w), x2 + pads[2]), min(float(h), y2 + pads[3]))


def text_lines(page: layout.Page, block: layout.Block) -> list[layout.Line]:
    """The block's lines in its first column (a paragraph may continue in the next one)."""
    x0 = block.lines[0].box[0]
    return [ln for ln in block.lines if abs(ln.box[0] - x0) < page.col_width / 2]


def union(lines: list[layout.Line]) -> effects.Box:
    return (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines), max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines))  # fmt: skip


TEXT_BLOCKS = ("paragraph", "item", "heading", "title")


def page_size(rng: random.Random, cfg: DocumentConfig, aspect: tuple[float, float] | None = None) -> tuple[int, int]:
    w = rng.randint(*cfg.width)
    return w, round(w * rng.uniform(*(aspect or cfg.aspect)))


def render_document(rng: random.Random, cfg: DocumentConfig) -> Sample:
    lang = rng.choice(cfg.langs)
    kind = rng.choices(list(cfg.kinds), weights=list(cfg.kinds.values()))[0]
    fmt = kind == "page" and rng.random() < cfg.format_p
    # a slice needs only a few lines around it: a short page renders them 3x faster than a full one
    page = compose(rng, cfg, lang, fmt, page_size(rng, cfg, None if kind == "page" else (0.3, 0.5)))
    extra = {"kind": kind, **page.meta}
    if kind == "page":
        image, _ = effects.degrade(page.image, rng, cfg.degrade)
        return Sample([image], page.text(fmt), task="format" if fmt else "ocr", lang=lang, source="render/document", extra=extra)  # fmt: skip
    texts = [b for b in page.blocks if b.kind in TEXT_BLOCKS]
    if not texts:
        raise engines.RenderError("page has no text block to slice")
    lines = [rng.choice([ln for b in texts for ln in b.lines])] if kind == "line" else text_lines(page, rng.choice(texts))
    crop = page.image.crop(tuple(round(v) for v in pad_box(page, union(lines), rng)))
    image, _ = effects.degrade(crop, rng, cfg.degrade)
    return Sample([image], "\n".join(ln.text for ln in lines), task="ocr", lang=lang, source="render/document", extra=extra)  # fmt: skip
