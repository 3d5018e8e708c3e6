"""Documents (en, zh): 1-3 column pages with a title, running header and footer, headings, paragraphs and lists in
varied fonts, sizes and spacing; format pages add inline and display formulas and tables.

A sample is a page, or a line or paragraph slice cut from one (stage-1 data). Targets: the drawn lines in reading
order (`OCR: `; lines joined by newlines, blocks by blank lines), or Mathpix-style markdown (`OCR with format: `;
`#`/`##` headings, `-`/`1.` lists, `\\( \\)` and `\\[ \\]` formulas, LaTeX tabulars).

sample_page draws every choice of a page (typography, geometry, texts, formulas, tables) into a PageContent, with
more blocks than the page holds; draw_page lays them out until the page is full. The target is what the layout
fits on the page: a function of the content alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import ClassVar

from PIL import Image

from got.data.sample import Sample
from got.render import effects, engines, fonts, formula, layout, table, text

BULLETS = ("• ", "– ", "* ", "▪ ")
IMAGE_BLOCKS = ("formula", "table")
TEXT_BLOCKS = ("paragraph", "item", "heading", "title")
OVERFILL = 1.5  # a page samples blocks that would fill its columns this many times (the layout takes what fits)
EM_PER_CHAR = {"en": 0.5, "zh": 1.0}  # a character's rough advance, for column widths and page capacity


@dataclass
class DocumentConfig:
    langs: tuple[str, ...] = ("en", "zh")
    kinds: dict[str, float] = field(default_factory=lambda: {"page": 0.6, "line": 0.2, "paragraph": 0.2})
    format_p: float = 0.5  # pages with a markdown target (and formulas and tables) rather than plain text
    width: tuple[int, int] = (800, 1100)  # page width, px
    aspect: tuple[float, float] = (1.25, 1.45)  # height / width
    slice_aspect: tuple[float, float] = (0.3, 0.5)  # of the short page a line or paragraph slice is cut from
    # margin round a slice (or a fine-grained region), in line heights; less where it would reach other text
    slice_pad: tuple[float, float] = (0.1, 0.8)
    margin: tuple[float, float] = (0.05, 0.1)  # fraction of the width
    columns: tuple[float, ...] = (0.5, 0.35, 0.15)  # weights of 1, 2, 3 columns
    min_column_chars: int = 32  # fewer columns when a column line would hold fewer characters
    gutter: tuple[float, float] = (0.03, 0.06)  # fraction of the width
    font_size: tuple[float, float] = (0.017, 0.027)  # body size, fraction of the width
    spacing: tuple[float, float] = (1.25, 1.7)  # line height / size
    justify_p: float = 0.5
    indent_p: float = 0.5  # first-line indent of paragraphs
    indent: tuple[int, int] = (1, 3)  # that indent in English, ems (Chinese indents 2)
    heading_scale: tuple[float, float] = (1.1, 1.5)  # heading size / body size
    title_p: float = 0.6
    title_scale: tuple[float, float] = (1.5, 2.2)  # title size / body size
    header_p: float = 0.3  # running header line
    footer_p: float = 0.4  # page number
    page_number: tuple[int, int] = (1, 400)
    # words of a title, a running header and a heading (characters in Chinese)
    title_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (3, 10), "zh": (5, 16)})
    header_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (3, 8), "zh": (3, 8)})
    heading_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (2, 7), "zh": (4, 12)})
    blocks: dict[str, float] = field(
        default_factory=lambda: {"paragraph": 0.6, "heading": 0.14, "list": 0.1, "formula": 0.08, "table": 0.08}
    )  # formula and table only on format pages
    block_gap: tuple[float, float] = (0.4, 1.0)  # space before a block, in body sizes
    heading_number_p: float = 0.4  # a section number ("2.3 ") before a heading
    heading_number: tuple[int, int] = (1, 9)  # each part of it
    list_items: tuple[int, int] = (2, 5)
    list_numbered_p: float = 0.4  # "1. " items rather than bullets
    item_chars: tuple[int, int] = (30, 160)  # at most, per list item
    paragraph_chars: tuple[int, int] = (150, 700)  # at most, per paragraph
    formula_scale: tuple[float, float] = (1.0, 1.3)  # display formula size / body size
    display_grammar: formula.GrammarConfig = field(default_factory=lambda: formula.GrammarConfig(depth=(1, 2)))
    inline_math_p: float = 0.3  # format paragraphs that carry inline formulas
    inline_formulas: tuple[int, int] = (1, 2)  # in such a paragraph
    inline_grammar: formula.GrammarConfig = field(
        default_factory=lambda: formula.GrammarConfig(depth=(1, 1), env_p=0.0, classic_p=0.05)
    )
    ink: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (0, 0, 0), (45, 45, 45), (20, 30, 90), (60, 35, 20))
    paper: effects.PaperConfig = field(default_factory=effects.PaperConfig)
    degrade: effects.DegradeConfig = field(default_factory=effects.DegradeConfig)
    table: table.TableConfig = field(default_factory=table.TableConfig)
    text: text.TextConfig = text.TextConfig()


@dataclass
class Typography:
    """What a document's text is set in (the pages of a multi-page document share it)."""

    ink: tuple[int, int, int]
    body: layout.Style
    heading: layout.Style


def sample_typography(rng: random.Random, cfg: DocumentConfig, lang: str, width: int) -> Typography:
    fc, ink = cfg.text.fonts, rng.choice(cfg.ink)
    size = round(width * rng.uniform(*cfg.font_size))
    indent = size * (2 if lang == "zh" else rng.randint(*cfg.indent)) if rng.random() < cfg.indent_p else 0
    body = layout.Style(
        fonts.pick(rng, lang, bold=False, italic=False, cfg=fc),
        size,
        ink,
        rng.uniform(*cfg.spacing),
        "justify" if rng.random() < cfg.justify_p else "left",
        indent,
    )
    heading_face = fonts.pick(rng, lang, bold=True, italic=False, cfg=fc)
    heading_size = round(size * rng.uniform(*cfg.heading_scale))
    return Typography(ink, body, layout.Style(heading_face, heading_size, ink, 1.3))


# --- blocks: each holds its sampled content and places itself on a page ------------------------------------------


@dataclass
class Heading:
    kind: ClassVar[str] = "heading"
    gap: float  # px above
    text: str

    def place(self, page: layout.Page, t: Typography) -> bool:
        return page.place_text("heading", self.text, t.heading, md_prefix="## ", space_before=self.gap * 1.5)


@dataclass
class ListBlock:
    kind: ClassVar[str] = "list"
    gap: float
    items: list[str]
    numbered: bool
    bullet: str

    def place(self, page: layout.Page, t: Typography) -> bool:
        b = t.body
        style = layout.Style(b.face, b.size, b.color, b.spacing, "left")
        for i, item in enumerate(self.items):
            marker, md = (f"{i + 1}. ", f"{i + 1}. ") if self.numbered else (self.bullet, "- ")
            if not page.place_text(
                "item", item, style, marker=marker, md_prefix=md, space_before=self.gap * (0.3 if i else 1)
            ):
                return False
        return True


@dataclass
class DisplayFormula:
    kind: ClassVar[str] = "formula"
    gap: float
    latex: str
    scale: float  # size / body size

    def place(self, page: layout.Page, t: Typography) -> bool:
        img, _ = engines.mathjax(self.latex, t.body.size * self.scale, color=formula.hex_color(t.ink))
        if img.width > page.col_width:
            img = img.resize((int(page.col_width), max(1, int(img.height * page.col_width / img.width))), Image.LANCZOS)
        return page.place_image("formula", img, formula.wrap(self.latex, True), space_before=self.gap)


@dataclass
class TableBlock:
    kind: ClassVar[str] = "table"
    gap: float
    table: table.Table
    face: fonts.Face
    pad_em: float
    row_em: float

    def place(self, page: layout.Page, t: Typography) -> bool:
        size = round(t.body.size * 0.9)
        made = table.fit_table(self.table, self.face, size, self.pad_em, self.row_em, t.ink, page.col_width)
        return made is not None and page.place_image("table", made[0], made[1], space_before=self.gap)


@dataclass
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    gap: float
    text: str  # inline formula i stands in it as chr(layout.MATH_BASE + i)
    math: list[str]  # the inline formulas' LaTeX

    def place(self, page: layout.Page, t: Typography) -> bool:
        body, maths = self.text, []
        for i, latex in enumerate(self.math):
            mark = chr(layout.MATH_BASE + i)
            img, depth = engines.mathjax(latex, t.body.size, display=False, color=formula.hex_color(t.ink))
            if img.height > 2 * t.body.size or img.width > 12 * t.body.size:  # would break the line grid: left out
                body = body.replace(" " + mark, "").replace(mark + " ", "").replace(mark, "")
                continue
            body = body.replace(mark, chr(layout.MATH_BASE + len(maths)))  # the formulas kept, renumbered
            maths.append(layout.Math(img, latex, depth))
        return page.place_text("paragraph", body, t.body, space_before=self.gap, math=maths)


def _paragraph(rng: random.Random, cfg: DocumentConfig, lang: str, fmt: bool, gap: float) -> Paragraph:
    """Real prose; in a format paragraph, sometimes 1-2 short formulas between its words (characters in Chinese)."""
    out, latex = text.paragraph(rng, lang, rng.randint(*cfg.paragraph_chars), cfg.text), []
    if not (fmt and rng.random() < cfg.inline_math_p):
        return Paragraph(gap, out, latex)
    for _ in range(rng.randint(*cfg.inline_formulas)):
        mark = chr(layout.MATH_BASE + len(latex))
        latex.append(formula.random_latex(rng, cfg.inline_grammar))
        if lang == "zh":
            i = rng.randrange(len(out) + 1)
            out = out[:i] + mark + out[i:]
        else:
            words = out.split(" ")
            words.insert(rng.randrange(len(words) + 1), mark)
            out = " ".join(words)
    return Paragraph(gap, out, latex)


def _sample_block(rng: random.Random, cfg: DocumentConfig, lang: str, fmt: bool, t: Typography, kind: str):
    gap = t.body.size * rng.uniform(*cfg.block_gap)
    if kind == "heading":
        n = cfg.heading_number
        number = f"{rng.randint(*n)}.{rng.randint(*n)} " if rng.random() < cfg.heading_number_p else ""
        return Heading(gap, number + text.phrase(rng, lang, *cfg.heading_words[lang], cfg=cfg.text))
    if kind == "list":
        numbered, bullet = rng.random() < cfg.list_numbered_p, rng.choice(BULLETS)
        n = rng.randint(*cfg.list_items)
        items = [text.paragraph(rng, lang, rng.randint(*cfg.item_chars), cfg.text) for _ in range(n)]
        return ListBlock(gap, items, numbered, bullet)
    if kind == "formula":
        return DisplayFormula(gap, formula.random_latex(rng, cfg.display_grammar), rng.uniform(*cfg.formula_scale))
    if kind == "table":
        return TableBlock(gap, table.random_table(rng, cfg.table, lang), *table.sample_look(rng, cfg.table, lang))
    return _paragraph(rng, cfg, lang, fmt, gap)


Block = Heading | ListBlock | DisplayFormula | TableBlock | Paragraph


def _lines(block: Block, per_line: float) -> int:
    """About how many lines of text a block sets (for sampling enough blocks to fill a page). Formulas and tables
    count none: they may find no room, and then text alone has to fill the page."""
    if isinstance(block, ListBlock):
        return sum(math.ceil(len(item) / per_line) for item in block.items)
    return math.ceil(len(block.text) / per_line) if isinstance(block, (Heading, Paragraph)) else 0


# --- pages ---------------------------------------------------------------------------------------------------------


@dataclass
class PageContent:
    """Everything a page draws: its blocks run on past what fits, and the layout stops where the page is full."""

    lang: str
    fmt: bool  # markdown target, formulas and tables
    size: tuple[int, int]
    typography: Typography
    margins: tuple[int, ...]  # left, top, right, bottom, px
    columns: int
    gutter: int  # px
    paper: effects.Paper | None
    header: str | None  # the running header
    title: str | None
    title_size: int  # px
    blocks: list[Block]
    footer: int | None  # the page number


def _columns(cfg: DocumentConfig, lang: str, w: int, margins: tuple[int, ...], n: int, gutter: int, size: int) -> int:
    """n, or fewer columns when a column line would hold fewer than min_column_chars characters."""
    line = cfg.min_column_chars * size * EM_PER_CHAR[lang]
    while n > 1 and (w - margins[0] - margins[2] - (n - 1) * gutter) / n < line:
        n -= 1
    return n


def _sample_blocks(rng: random.Random, cfg: DocumentConfig, c: PageContent, max_blocks: int) -> list[Block]:
    """Blocks until they would fill the page's columns OVERFILL times (or max_blocks)."""
    (w, h), m, body = c.size, c.margins, c.typography.body
    col_width = (w - m[0] - m[2] - (c.columns - 1) * c.gutter) / c.columns
    per_line, capacity = col_width / (body.size * EM_PER_CHAR[c.lang]), c.columns * (h - m[1] - m[3]) / body.line_height
    kinds = [k for k in cfg.blocks if c.fmt or k not in IMAGE_BLOCKS]
    blocks, lines = [], 0
    while len(blocks) < max_blocks and lines < OVERFILL * capacity:
        kind = rng.choices(kinds, [cfg.blocks[k] for k in kinds])[0]
        blocks.append(_sample_block(rng, cfg, c.lang, c.fmt, c.typography, kind))
        lines += _lines(blocks[-1], per_line)
    return blocks


def sample_page(
    rng: random.Random,
    cfg: DocumentConfig,
    lang: str,
    fmt: bool,
    size: tuple[int, int],
    max_blocks: int = 200,
    typography: Typography | None = None,
) -> PageContent:
    """A page's content; typography (from sample_typography) gives the pages of one document the same fonts,
    sizes and ink."""
    w, _ = size
    t = typography or sample_typography(rng, cfg, lang, w)
    margins = tuple(round(w * rng.uniform(*cfg.margin)) for _ in range(4))
    n, gutter = rng.choices((1, 2, 3), weights=cfg.columns)[0], round(w * rng.uniform(*cfg.gutter))
    n = _columns(cfg, lang, w, margins, n, gutter, t.body.size)
    paper = effects.sample_paper(rng, cfg.paper)
    header = text.phrase(rng, lang, *cfg.header_words[lang], cfg=cfg.text) if rng.random() < cfg.header_p else None
    title = text.phrase(rng, lang, *cfg.title_words[lang], cfg=cfg.text) if rng.random() < cfg.title_p else None
    title_size = round(t.body.size * rng.uniform(*cfg.title_scale))
    footer = rng.randint(*cfg.page_number) if rng.random() < cfg.footer_p else None
    c = PageContent(lang, fmt, size, t, margins, n, gutter, paper, header, title, title_size, [], footer)
    c.blocks = _sample_blocks(rng, cfg, c, max_blocks)
    return c


def _fill(page: layout.Page, blocks: list[Block], t: Typography) -> None:
    """Place blocks in order until text runs off the page; once a picture fits nowhere, only text follows."""
    pictures = True
    for block in blocks:
        picture = block.kind in IMAGE_BLOCKS
        if picture and not pictures:
            continue
        if not block.place(page, t):
            if not picture:
                return
            pictures = False


def draw_page(c: PageContent) -> layout.Page:
    """The filled page, undegraded, with its blocks and line boxes (documents, fine-grained, multi-page, multi-crop)."""
    t = c.typography
    page = layout.Page(effects.draw_paper(c.size, c.paper), c.margins, c.columns, c.gutter)
    page.meta = {"columns": c.columns, "font": t.body.face.name, "size": t.body.size}
    small = layout.Style(t.body.face, max(9, round(t.body.size * 0.8)), t.ink, 1.3, "center")
    if c.header is not None:
        page.place_text("header", c.header, small, md_prefix="", full_width=True)
        page.y += t.body.size
    footer_space = round(small.size * 3) if c.footer is not None else 0
    page.bottom -= footer_space
    if c.title is not None:
        title_style = layout.Style(t.heading.face, c.title_size, t.ink, 1.25, "center")
        page.place_text("title", c.title, title_style, md_prefix="# ", full_width=True)
        page.y += t.body.size
    page.start_columns()
    _fill(page, c.blocks, t)
    if c.footer is not None:  # in the reserved strip; as the last column, so that it cannot flow anywhere else
        page.col, page.y = page.n - 1, page.bottom + small.size
        page.bottom += footer_space
        page.place_text("footer", str(c.footer), small, full_width=True)
    return page


def compose(rng: random.Random, cfg: DocumentConfig, lang: str, fmt: bool, size: tuple[int, int]) -> layout.Page:
    """A random page, drawn."""
    return draw_page(sample_page(rng, cfg, lang, fmt, size))


def page_size(rng: random.Random, cfg: DocumentConfig, aspect: tuple[float, float] | None = None) -> tuple[int, int]:
    w = rng.randint(*cfg.width)
    return w, round(w * rng.uniform(*(aspect or cfg.aspect)))


# --- regions of a drawn page: slices here, fine-grained regions --------------------------------------------------


def pick(items: list, u: float):
    """The item at fraction u in [0, 1) of the list: a choice sampled before the list exists."""
    return items[min(int(u * len(items)), len(items) - 1)]


def pad_box(page: layout.Page, box: effects.Box, pad: float) -> effects.Box:
    """The box plus a margin of `pad` line heights that stops halfway to every other drawn line, so that a crop or a
    frame shows only the box's own text."""
    x1, y1, x2, y2 = box
    pads = [(y2 - y1) * pad] * 4
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
    return (
        min(ln.box[0] for ln in lines),
        min(ln.box[1] for ln in lines),
        max(ln.box[2] for ln in lines),
        max(ln.box[3] for ln in lines),
    )


def text_blocks(page: layout.Page, what: str) -> list[layout.Block]:
    blocks = [b for b in page.blocks if b.kind in TEXT_BLOCKS]
    if not blocks:
        raise engines.RenderError(f"page has no text {what}")
    return blocks


# --- the document renderer ---------------------------------------------------------------------------------------


@dataclass
class DocumentContent:
    kind: str  # page | line | paragraph (a slice of a short page)
    page: PageContent
    pick: float  # which line or paragraph a slice is, as a fraction of the page's (pick)
    pad: float  # a slice's margin (pad_box)
    degradation: effects.Degradation | None


def sample_document(rng: random.Random, cfg: DocumentConfig) -> DocumentContent:
    lang = rng.choice(cfg.langs)
    kind = rng.choices(list(cfg.kinds), weights=list(cfg.kinds.values()))[0]
    fmt = kind == "page" and rng.random() < cfg.format_p
    # a slice needs only a few lines around it: a short page renders them 3x faster than a full one
    page = sample_page(rng, cfg, lang, fmt, page_size(rng, cfg, None if kind == "page" else cfg.slice_aspect))
    pick, pad = rng.random(), rng.uniform(*cfg.slice_pad)
    return DocumentContent(kind, page, pick, pad, effects.sample_degradation(rng, cfg.degrade))


def draw_document(c: DocumentContent) -> Sample:
    page, lang, fmt = draw_page(c.page), c.page.lang, c.page.fmt
    extra = {"kind": c.kind, **page.meta}
    if c.kind == "page":
        image, _ = effects.degrade(page.image, c.degradation)
        return Sample(
            [image], page.text(fmt), task="format" if fmt else "ocr", lang=lang, source="render/document", extra=extra
        )
    texts = text_blocks(page, "block to slice")
    if c.kind == "line":
        lines = [pick([ln for b in texts for ln in b.lines], c.pick)]
    else:
        lines = text_lines(page, pick(texts, c.pick))
    crop = page.image.crop(tuple(round(v) for v in pad_box(page, union(lines), c.pad)))
    image, _ = effects.degrade(crop, c.degradation)
    return Sample(
        [image], "\n".join(ln.text for ln in lines), task="ocr", lang=lang, source="render/document", extra=extra
    )


def render_document(rng: random.Random, cfg: DocumentConfig) -> Sample:
    return draw_document(sample_document(rng, cfg))
