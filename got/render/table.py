"""Tables: random real-looking tables (phrases, names, dates, numbers) with grid, three-rule or header-rule borders,
column groups (\\multicolumn) and row groups (\\multirow), drawn with PIL. Target: LaTeX `tabular` whose rules,
alignment and spans are the drawn ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from got.data.sample import Sample
from got.render import effects, fonts, text

_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape(s: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in s)


@dataclass
class TableConfig:
    langs: tuple[str, ...] = ("en", "zh")
    rows: tuple[int, int] = (3, 10)  # body rows
    cols: tuple[int, int] = (2, 6)
    # what a column holds, picked uniformly per column
    column_kinds: tuple[str, ...] = ("int", "float", "percent", "money", "phrase", "name", "date")
    magnitude: tuple[int, int] = (1, 5)  # a number column's values go up to 10**magnitude (percent: 100)
    decimals: tuple[int, int] = (1, 3)  # of a float column; a percent column has one fewer
    # alignments picked uniformly: numbers right twice as often as centred, phrases left, names and dates either
    number_align: str = "rrc"
    phrase_align: str = "llc"
    name_align: str = "lc"
    # words of a phrase cell, a header cell and a column group's label (characters in Chinese)
    cell_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (1, 3), "zh": (1, 6)})
    header_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (1, 2), "zh": (1, 4)})
    group_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (1, 2), "zh": (1, 2)})
    styles: tuple[str, ...] = ("grid", "three_rule", "header_rule")
    group_p: float = 0.3  # a header row of \multicolumn column groups
    multirow_p: float = 0.25  # first-column cells spanning two rows
    multirow_row_p: float = 0.5  # in such a table, each row's chance to start one
    font_size: tuple[int, int] = (16, 30)  # px, standalone tables
    cell_pad: tuple[float, float] = (0.3, 0.9)  # horizontal padding, in ems
    row_height: tuple[float, float] = (1.5, 2.1)  # in ems
    margin: tuple[int, int] = (10, 60)  # px of paper round a standalone table
    ink: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (40, 40, 40), (20, 30, 90))
    paper: effects.PaperConfig = field(default_factory=effects.PaperConfig)
    degrade: effects.DegradeConfig = field(default_factory=effects.DegradeConfig)
    text: text.TextConfig = text.TextConfig()


def _numbers(rng: random.Random, lang: str, n: int, kind: str, cfg: TableConfig) -> list[str]:
    scale = 10 ** rng.randint(*cfg.magnitude)
    digits = rng.randint(*cfg.decimals)
    fmt = {
        "int": lambda: f"{rng.randint(0, scale):,}" if scale >= 10**4 else str(rng.randint(0, scale)),
        "float": lambda: f"{rng.uniform(0, scale):.{digits}f}",
        "percent": lambda: f"{rng.uniform(0, 100):.{digits - 1}f}%",
        "money": lambda: f"${rng.uniform(0, scale):,.2f}" if lang == "en" else f"¥{rng.uniform(0, scale):.2f}",
    }[kind]
    return [fmt() for _ in range(n)]


def _column(rng: random.Random, lang: str, n: int, cfg: TableConfig) -> tuple[list[str], str]:
    """n cells of one kind, and their alignment."""
    kind = rng.choice(cfg.column_kinds)
    if kind in ("int", "float", "percent", "money"):
        return _numbers(rng, lang, n, kind, cfg), rng.choice(cfg.number_align)
    if kind == "phrase":
        return [text.phrase(rng, lang, *cfg.cell_words[lang], cfg=cfg.text) for _ in range(n)], rng.choice(
            cfg.phrase_align
        )
    fake = text.fake(rng, lang)
    cells = [fake.name() if kind == "name" else fake.date() for _ in range(n)]
    return [text.drawable(c, lang, cfg.text) for c in cells], rng.choice(cfg.name_align)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]  # "" under a \multirow cell
    align: list[str]
    style: str
    groups: list[tuple[str, int]]  # column groups over the header: (label, span); label "" is an empty cell
    multirow: list[int]  # body rows whose first cell spans this row and the next


def random_table(
    rng: random.Random, cfg: TableConfig, lang: str, n_rows: int | None = None, n_cols: int | None = None
) -> Table:
    n_rows, n_cols = n_rows or rng.randint(*cfg.rows), n_cols or rng.randint(*cfg.cols)
    columns = [_column(rng, lang, n_rows, cfg) for _ in range(n_cols)]
    header = [text.phrase(rng, lang, *cfg.header_words[lang], cfg=cfg.text) for _ in range(n_cols)]
    rows = [[col[0][r] for col in columns] for r in range(n_rows)]
    groups: list[tuple[str, int]] = []
    if n_cols >= 3 and rng.random() < cfg.group_p:
        first = rng.randint(1, n_cols - 2)  # ungrouped columns before the group
        groups = [("", 1)] * first + [(text.phrase(rng, lang, *cfg.group_words[lang], cfg=cfg.text), n_cols - first)]
    multirow = []
    if n_rows >= 4 and rng.random() < cfg.multirow_p:
        r = 0
        while r < n_rows - 1:
            if rng.random() < cfg.multirow_row_p:
                multirow.append(r)
                rows[r + 1][0] = ""
                r += 1
            r += 1
    return Table(header, rows, [col[1] for col in columns], rng.choice(cfg.styles), groups, multirow)


def to_latex(t: Table) -> str:
    n = len(t.header)
    grid = t.style == "grid"
    spec = ("|" + "|".join(t.align) + "|") if grid else "".join(t.align)
    boxed = t.style != "header_rule"  # header_rule draws only the rule under the header
    out = [rf"\begin{{tabular}}{{{spec}}}"] + [r"\hline"] * boxed
    if t.groups:
        cells, col = [], 0
        for label, span in t.groups:
            a = ("|" if grid and col == 0 else "") + "c" + ("|" if grid else "")
            cells.append(rf"\multicolumn{{{span}}}{{{a}}}{{{escape(label)}}}" if span > 1 else escape(label))
            col += span
        out.append(" & ".join(cells) + r" \\")
        first_grouped = sum(s for _, s in t.groups[:-1]) + 1
        out.append(rf"\cline{{{first_grouped}-{n}}}")
    out += [" & ".join(escape(c) for c in t.header) + r" \\", r"\hline"]
    for r, row in enumerate(t.rows):
        first = rf"\multirow{{2}}{{*}}{{{escape(row[0])}}}" if r in t.multirow else escape(row[0])
        out.append(" & ".join([first] + [escape(c) for c in row[1:]]) + r" \\")
        last = r == len(t.rows) - 1
        if (last and boxed) or (grid and not last and r not in t.multirow):
            out.append(r"\hline")
        elif grid and not last:
            out.append(rf"\cline{{2-{n}}}")
    out.append(r"\end{tabular}")
    return "\n".join(out)


def draw_tabular(
    t: Table, face: fonts.Face, size: int, pad_em: float, row_em: float, ink: tuple[int, int, int]
) -> Image.Image:
    """The table on a transparent canvas (RGBA), rules exactly as to_latex writes them."""
    font = fonts.font(face, size)
    pad, rh, lw = round(pad_em * size), round(row_em * size), max(1, size // 14)
    n = len(t.header)
    widths = [max(font.getlength(c) for c in [t.header[j]] + [row[j] for row in t.rows]) + 2 * pad for j in range(n)]
    if t.groups:  # a group label wider than its columns widens the last of them
        col = 0
        for label, span in t.groups:
            need = font.getlength(label) + 2 * pad - sum(widths[col : col + span])
            widths[col + span - 1] += max(0, need)
            col += span
    xs = [lw]
    for w in widths:
        xs.append(xs[-1] + round(w))
    n_rows = len(t.rows) + 1 + bool(t.groups)
    img = Image.new("RGBA", (xs[-1] + lw, n_rows * rh + 2 * lw), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    ys = [lw + i * rh for i in range(n_rows + 1)]

    def cell(s: str, x0: float, x1: float, y0: float, y1: float, align: str) -> None:
        x = {"l": x0 + pad, "r": x1 - pad, "c": (x0 + x1) / 2}[align]
        draw.text((x, (y0 + y1) / 2), s, font=font, fill=ink, anchor={"l": "lm", "r": "rm", "c": "mm"}[align])

    def hline(i: int, c0: int = 0, c1: int = n) -> None:
        draw.line((xs[c0], ys[i], xs[c1], ys[i]), fill=ink, width=lw)

    row = 0
    if t.groups:
        col = 0
        for label, span in t.groups:
            cell(label, xs[col], xs[col + span], ys[0], ys[1], "c")
            col += span
        row = 1
        first_grouped = sum(s for _, s in t.groups[:-1])
        hline(1, first_grouped, n)
    if t.style != "header_rule":
        hline(0)
    for j, s in enumerate(t.header):
        cell(s, xs[j], xs[j + 1], ys[row], ys[row + 1], t.align[j])
    hline(row + 1)
    for r, cells in enumerate(t.rows):
        y0, y1 = ys[row + 1 + r], ys[row + 2 + r]
        for j, s in enumerate(cells):
            if j == 0 and r in t.multirow:
                cell(s, xs[0], xs[1], y0, y1 + rh, t.align[0])
            elif not (j == 0 and r - 1 in t.multirow):
                cell(s, xs[j], xs[j + 1], y0, y1, t.align[j])
        if r == len(t.rows) - 1:
            if t.style != "header_rule":
                hline(row + 2 + r)
        elif t.style == "grid":
            hline(row + 2 + r, 1 if r in t.multirow else 0)
    if t.style == "grid":
        for j, x in enumerate(xs):
            top = ys[0] if j in (0, n) or not t.groups or j > sum(s for _, s in t.groups[:-1]) else ys[1]
            draw.line((x, top, x, ys[-1]), fill=ink, width=lw)
    return img


def sample_look(rng: random.Random, cfg: TableConfig, lang: str) -> tuple[fonts.Face, float, float]:
    """A face, and the cell padding and row height in ems."""
    return fonts.pick(rng, lang, cfg=cfg.text.fonts), rng.uniform(*cfg.cell_pad), rng.uniform(*cfg.row_height)


def fit_table(
    t: Table, face: fonts.Face, size: int, pad_em: float, row_em: float, ink: tuple[int, int, int], max_width: float
) -> tuple[Image.Image, str] | None:
    """The table drawn no wider than max_width (smaller if need be, for pages) and its LaTeX, or None if it cannot
    be made to fit."""
    for _ in range(3):
        img = draw_tabular(t, face, size, pad_em, row_em, ink)
        if img.width <= max_width:
            return img, to_latex(t)
        size = int(size * max_width / img.width)  # glyph widths do not scale exactly linearly: retry
        if size < 9:
            return None
    return None


@dataclass
class TableContent:
    lang: str
    table: Table
    face: fonts.Face
    size: int  # px
    pad_em: float
    row_em: float
    ink: tuple[int, int, int]
    margin: int  # px of paper round the table
    paper: effects.Paper | None
    degradation: effects.Degradation | None


def sample_table(rng: random.Random, cfg: TableConfig) -> TableContent:
    lang = rng.choice(cfg.langs)
    t = random_table(rng, cfg, lang)
    face, pad_em, row_em = sample_look(rng, cfg, lang)
    ink, size, margin = rng.choice(cfg.ink), rng.randint(*cfg.font_size), rng.randint(*cfg.margin)
    paper, degradation = effects.sample_paper(rng, cfg.paper), effects.sample_degradation(rng, cfg.degrade)
    return TableContent(lang, t, face, size, pad_em, row_em, ink, margin, paper, degradation)


def draw_table(c: TableContent) -> Sample:
    img = draw_tabular(c.table, c.face, c.size, c.pad_em, c.row_em, c.ink)
    canvas = effects.draw_paper((img.width + 2 * c.margin, img.height + 2 * c.margin), c.paper)
    canvas.paste(img, (c.margin, c.margin), img)
    image, _ = effects.degrade(canvas, c.degradation)
    return Sample(
        [image],
        to_latex(c.table),
        task="format",
        lang=c.lang,
        source="render/table",
        extra={"style": c.table.style, "font": c.face.name},
    )


def render_table(rng: random.Random, cfg: TableConfig) -> Sample:
    return draw_table(sample_table(rng, cfg))
