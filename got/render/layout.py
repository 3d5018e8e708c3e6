"""Page layout: flows text and image blocks into 1..n columns, draws them, and records every drawn line's text and
box in reading order (full-width title, then column by column, top to bottom).

A line's text is a slice of its block's string, so joining a paragraph's lines gives back the source text exactly,
and a block that runs off the page keeps precisely the lines that were drawn. Inline formulas travel in the
string as private-use characters and come out as `\\( ... \\)` in the markdown.
"""

from __future__ import annotations

import functools
import re
import weakref
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from got.render import fonts
from got.render.effects import Box

# A break may fall before any unit: a run of spaces, one CJK or full-width character, or a run of anything else.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f\ue000-\uf8ff"
_UNIT = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")
NO_START = set("，。、；：？！”’）》」』〉】,.;:!?)]}%")  # a line never begins with these (kinsoku)
MATH_BASE = 0xE000  # inline formula i is chr(MATH_BASE + i) in a block's string
# advance widths of words and characters, per font object (fonts.font is lru_cached, so these live as long as it)
_WIDTHS: "weakref.WeakKeyDictionary[object, dict[str, float]]" = weakref.WeakKeyDictionary()


# glyph masks (mask, offset from the pen on the baseline, advance in 1/64 px) per font object
_GLYPHS: "weakref.WeakKeyDictionary[object, dict[str, tuple]]" = weakref.WeakKeyDictionary()


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, fill) -> None:
    """draw.text(xy, text, font=font, fill=fill, anchor="ls"), with each glyph rasterised once per font.

    PIL rasterises every glyph of every call again (FreeType keeps no cache for it), which was half of a page's
    time. This blends cached glyph masks at the pen positions PIL uses (BASIC layout: the sum of the advances in
    1/64 px, rounded per glyph), so the pixels are PIL's own except where a start coordinate falls exactly on a
    half pixel (a glyph may then sit one pixel over) and where antialiased edges of neighbouring glyphs overlap.
    """
    glyphs = _GLYPHS.get(font)
    if glyphs is None or len(glyphs) > 20_000:
        glyphs = _GLYPHS[font] = {}
    ink = draw.draw.draw_ink(fill)
    x0, y0 = xy
    xi, yi = int(x0), int(y0) + ((int((y0 - int(y0)) * 64) + 31) >> 6)
    x = int((x0 - xi) * 64) + 32  # pen in 26.6 fixed point, plus a half pixel: >> 6 rounds it
    for ch in text:
        g = glyphs.get(ch)
        if g is None:
            mask, offset = font.getmask2(ch, "L", anchor="ls")
            g = glyphs[ch] = (mask if mask.size[0] and mask.size[1] else None, offset, round(font.getlength(ch) * 64))
        if g[0] is not None:
            draw.draw.draw_bitmap((xi + (x >> 6) + g[1][0], yi + g[1][1]), g[0], ink)
        x += g[2]


@dataclass
class Style:
    face: fonts.Face
    size: int
    color: tuple[int, int, int] = (0, 0, 0)
    spacing: float = 1.35  # line height as a multiple of the size
    align: str = "left"  # left | justify | center
    indent: int = 0  # first-line indent, px

    @functools.cached_property
    def font(self):  # styles are never changed once made
        return fonts.font(self.face, self.size)

    @property
    def line_height(self) -> int:
        return round(self.size * self.spacing)


@dataclass
class Math:
    image: Image.Image  # RGBA, ink on transparent
    latex: str
    depth: int  # px below the baseline


def _math(unit: str, math: list[Math]) -> Math | None:
    """The inline formula a unit stands for, if it is one."""
    i = ord(unit) - MATH_BASE if len(unit) == 1 else -1
    return math[i] if 0 <= i < len(math) else None


@dataclass
class Line:
    text: str
    box: Box


@dataclass
class Block:
    kind: str  # title | heading | paragraph | item | formula | table | header | footer
    lines: list[Line] = field(default_factory=list)
    md: str = ""

    @property
    def plain(self) -> str:
        return "\n".join(ln.text for ln in self.lines)

    @property
    def box(self) -> Box:
        xs0, ys0, xs1, ys1 = zip(*(ln.box for ln in self.lines))
        return (min(xs0), min(ys0), max(xs1), max(ys1))


class Page:
    """A page being filled. place_* return False once nothing more fits; what was placed stays."""

    def __init__(self, image: Image.Image, margins: tuple[int, int, int, int], columns: int, gutter: int):
        self.image, self.draw = image, ImageDraw.Draw(image)
        self.left, self.top, self.right, self.bottom = (
            margins[0],
            margins[1],
            image.width - margins[2],
            image.height - margins[3],
        )
        self.n, self.gutter = columns, gutter
        self.col, self.y, self.columns_top = 0, self.top, self.top
        self.blocks: list[Block] = []
        self.meta: dict = {}  # provenance for the sample's extra (fonts, columns)

    # geometry -------------------------------------------------------------------------------------------------
    @property
    def col_width(self) -> float:
        return (self.right - self.left - (self.n - 1) * self.gutter) / self.n

    def _col_x(self) -> float:
        return self.left + self.col * (self.col_width + self.gutter)

    def _advance(self, height: float) -> bool:
        """Move to where a box of this height fits (this column or the next); False when the page is full."""
        if self.y + height <= self.bottom:
            return True
        if self.col + 1 < self.n:
            self.col, self.y = self.col + 1, self.columns_top
            return self.y + height <= self.bottom
        return False

    def start_columns(self) -> None:
        """Columns begin here (below full-width blocks such as the title)."""
        self.columns_top = self.y

    # text -----------------------------------------------------------------------------------------------------
    def _width(self, unit: str, style: Style, math: list[Math]) -> float:
        if (m := _math(unit, math)) is not None:
            return m.image.width
        font = style.font
        widths = _WIDTHS.get(font)
        if widths is None or len(widths) > 50_000:  # words recur across pages: keep them per font, bounded
            widths = _WIDTHS[font] = {}
        w = widths.get(unit)
        if w is None:
            # PIL draws a string at the sum of its characters' advances (draw_text above does the same), so that
            # is its width; a character's advance is measured once
            if len(unit) == 1:
                w = widths[unit] = font.getlength(unit)
            else:
                w = 0.0
                for ch in unit:
                    a = widths.get(ch)
                    if a is None:
                        a = widths[ch] = font.getlength(ch)
                    w += a
                widths[unit] = w
        return w

    def _break(self, text: str, style: Style, width: float, math: list[Math]) -> list[tuple[int, int]]:
        """Greedy line breaking: (start, end) slices of text, trailing spaces excluded."""
        units = [(m.start(), m.group()) for m in _UNIT.finditer(text)]
        lines, start, end, x, limit = [], None, 0, 0.0, width - style.indent
        for pos, unit in units:
            if unit.isspace():
                if start is not None:
                    x += self._width(" ", style, math)
                continue
            w = self._width(unit, style, math)
            if start is not None and x + w > limit and unit[0] not in NO_START:
                lines.append((start, end))
                start, x, limit = None, 0.0, width
            if start is None and w > limit:  # a word wider than the column: cut it by characters
                for ch_pos, ch in enumerate(unit, pos):
                    cw = self._width(ch, style, math)
                    if start is not None and x + cw > limit:
                        lines.append((start, ch_pos))
                        start, x, limit = None, 0.0, width
                    start = ch_pos if start is None else start
                    x, end = x + cw, ch_pos + 1
                continue
            start = pos if start is None else start
            x, end = x + w, pos + len(unit)
        if start is not None:
            lines.append((start, end))
        return lines

    def _line_width(self, line: str, style: Style, math: list[Math]) -> float:
        return sum(self._width(" " if u.isspace() else u, style, math) for u in _UNIT.findall(line))

    def _draw_line(
        self, line: str, x: float, baseline: float, style: Style, gap_extra: float, math: list[Math]
    ) -> None:
        """Draws one line; gap_extra widens each space (justification)."""
        if not math and not gap_extra:
            draw_text(self.draw, (x, baseline), line, style.font, style.color)
            return
        run = ""

        def flush(cx: float) -> float:
            if run:
                draw_text(self.draw, (cx, baseline), run, style.font, style.color)
                cx += self._width(run, style, math)
            return cx

        for u in _UNIT.findall(line):
            if (m := _math(u, math)) is not None:
                x, run = flush(x), ""
                self.image.paste(m.image, (round(x), round(baseline + m.depth - m.image.height)), m.image)
                x += m.image.width
            elif u.isspace():
                x, run = flush(x), ""
                x += self._width(" ", style, math) + gap_extra
            else:
                run += u
        flush(x)

    def place_text(
        self,
        kind: str,
        text: str,
        style: Style,
        *,
        md_prefix: str = "",
        marker: str = "",
        space_before: float = 0,
        math: list[Math] = (),
        full_width: bool = False,
    ) -> bool:
        """Flow a text block. marker (e.g. a bullet) is drawn before the first line with a hanging indent and is part
        of the plain text; md_prefix starts the markdown ("## ", "- ")."""
        math = list(math)
        marker_w = style.font.getlength(marker) if marker else 0.0
        width = (self.right - self.left if full_width else self.col_width) - marker_w
        ascent, descent = style.font.getmetrics()
        ascent = max([ascent] + [m.image.height - m.depth for m in math])
        descent = max([descent] + [m.depth for m in math])
        lh = max(style.line_height, ascent + descent + 2)
        block = Block(kind)
        self.y += space_before
        spans = self._break(text, style, width, math)
        for i, (a, b) in enumerate(spans):
            if not self._advance(lh):
                break
            line, indent = text[a:b], style.indent if i == 0 else 0
            x0 = (self.left if full_width else self._col_x()) + marker_w + indent
            natural, avail = self._line_width(line, style, math), width - indent
            gaps = sum(u.isspace() for u in _UNIT.findall(line))
            # a justified line stretched past twice its spaces is left ragged (TeX would hyphenate instead)
            justify = (
                style.align == "justify"
                and i < len(spans) - 1
                and gaps
                and avail - natural <= 2 * gaps * self._width(" ", style, math)
            )
            x0 += (avail - natural) / 2 if style.align == "center" else 0
            baseline = self.y + (lh - ascent - descent) / 2 + ascent
            if i == 0 and marker:
                draw_text(self.draw, (x0 - marker_w, baseline), marker, style.font, style.color)
            self._draw_line(line, x0, baseline, style, (avail - natural) / gaps if justify else 0.0, math)
            right = x0 + (avail if justify else natural)
            left = x0 - marker_w if i == 0 and marker else x0
            block.lines.append(
                Line((marker if i == 0 else "") + line, (left, baseline - ascent, right, baseline + descent))
            )
            self.y += lh
        if not block.lines:
            return False
        body = text[: spans[len(block.lines) - 1][1]]
        for i, m in enumerate(math):
            body = body.replace(chr(MATH_BASE + i), f"\\( {m.latex} \\)")
        block.md = md_prefix + body
        self.blocks.append(block)
        return len(block.lines) == len(spans)

    def place_image(
        self, kind: str, image: Image.Image, md: str, *, space_before: float = 0, align: str = "center"
    ) -> bool:
        """A formula or table: moves to the next column if it does not fit here; False (and nothing drawn) if it fits
        nowhere. The image must be RGBA (drawn over the paper) and no wider than a column."""
        if image.width > self.col_width:
            raise ValueError(f"{kind} image is {image.width}px wide, the column {self.col_width:.0f}px")
        self.y += space_before
        if not self._advance(image.height):
            return False
        x0 = self._col_x() + ((self.col_width - image.width) / 2 if align == "center" else 0)
        self.image.paste(image, (round(x0), round(self.y)), image)
        box = (x0, self.y, x0 + image.width, self.y + image.height)
        self.blocks.append(Block(kind, [Line(md, box)], md))
        self.y += image.height
        return True

    def text(self, fmt: bool) -> str:
        """The page's target: markdown blocks (fmt) or the drawn lines, blocks separated by a blank line."""
        return "\n\n".join(b.md if fmt else b.plain for b in self.blocks)
