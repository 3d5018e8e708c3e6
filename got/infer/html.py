"""GOT's outputs rendered to HTML that opens offline: one self-contained page, no script, no external URL.

Every output kind GOT writes is drawn here, server-side, to inline SVG or HTML:
- markdown (Mathpix style: headings, lists, pipe tables) through markdown-it, raw HTML shown as text;
- math (`\\( \\)`, `\\[ \\]`, `$$ $$`, and `$ $` or `\\( \\)` in table cells) typeset by MathJax 3 to SVG
  (got.render.engines' node child);
- LaTeX tabular as an HTML table (\\multicolumn, \\multirow -> colspan, rowspan);
- SMILES as an RDKit depiction plus the canonical SMILES;
- Humdrum **kern engraved by verovio (engines' child process: malformed kern can kill the process that parses it);
- a chart dict (got.render.chart's target: a python/JSON dict with a "values" map) as a table of its values and a
  bar chart redrawn by matplotlib;
- the TikZ subset got.render.geometry writes, drawn by a small interpreter.
What cannot be rendered is shown as escaped text under a one-line note saying why; render_output never raises for
any text.
"""

from __future__ import annotations

import ast
import base64
import functools
import io
import json
import logging
import math
import re
from html import escape
from pathlib import Path

from PIL import Image

from got.infer import tikz
from got.render import engines

log = logging.getLogger(__name__)

THUMB_SIDE = 512  # px, the source image on a page
# no script may run and nothing may be fetched, whatever an output smuggles into its SVG or markup
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
VEROVIO = {
    "inputFrom": "humdrum",
    "pageWidth": 2100,
    "pageHeight": 60000,
    "adjustPageHeight": True,
    "scale": 40,
    "header": "none",
    "footer": "none",
}


def unrendered(text: str, why: str, *, inline: bool = False) -> str:
    """The output as escaped text, under a note saying why it is not rendered."""
    if inline:
        return (
            f'<span class="got-unrendered"><span class="got-note">{escape(why)}</span> '
            f"<code>{escape(text)}</code></span>"
        )
    return f'<div class="got-unrendered"><p class="got-note">{escape(why)}</p><pre>{escape(text)}</pre></div>'


def notes_html(notes: list[str]) -> str:
    return "".join(f'<p class="got-note">{escape(note)}</p>' for note in notes)


# --- SVG from the engines, made fit to sit inline in a page ------------------------------------------------------

_SVG_STRIP = re.compile(
    r"<\?xml.*?\?>|<!DOCTYPE[^>]*>|<!--.*?-->|<metadata>.*?</metadata>"
    r"""|\sxmlns(?::\w+)?=(?:"[^"]*"|'[^']*')|\son\w+=(?:"[^"]*"|'[^']*')"""
    r"""|\s(?:xlink:)?href=(?:"[^#"][^"]*"|'[^#'][^']*')""",
    re.S | re.I,
)


def inline_svg(svg: str) -> str:
    """An engine's SVG document as an element for an HTML page: no XML prolog, doctype, comments or metadata, no
    namespace declarations (the HTML parser puts <svg> in its namespace; they are the only URLs these engines
    write), no event handlers and no links other than to the SVG's own #ids."""
    return _SVG_STRIP.sub("", svg).replace("xlink:href=", "href=").strip()


# --- math ---------------------------------------------------------------------------------------------------------


def math_html(latex: str, display: bool, source: str) -> str:
    """One formula as MathJax SVG; `source` (the formula with its delimiters) is shown if MathJax refuses it."""
    try:
        svg = engines.mathjax_svg(latex, display)
    except (RuntimeError, OSError) as e:  # a TeX error (RenderError), or node / mathjax-full missing
        return unrendered(source, str(e), inline=True)
    # \style and \bbox may carry CSS; only MathJax's own vertical alignment of the formula is kept
    svg = re.sub(r'\sstyle="(?!vertical-align: -?[\d.]+ex;")[^"]*"', "", inline_svg(svg))
    return f'<span class="got-math {"display" if display else "inline"}">{svg}</span>'


# --- LaTeX tabular ------------------------------------------------------------------------------------------------

RULES = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|(?:cline|hhline|cmidrule(?:\([^)]*\))?)\{[^}]*\})")
CELL_MATH = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)(?<!\\)\\\)", re.S)
FONT = re.compile(r"\\(textbf|textit|emph|underline)\{([^{}]*)\}")
TAGS = {"textbf": "b", "textit": "i", "emph": "i", "underline": "u"}
TEXT_ESCAPES = re.compile(r"\\(textbackslash|textasciitilde|textasciicircum)\{\}|\\([&%$#_{}])|~")
ESCAPED = {"textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^"}


def group(s: str, i: int, open_: str = "{", close: str = "}") -> tuple[str, int] | None:
    """The balanced group opening at s[i] (after spaces): (its content, the index after it), or None."""
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s) or s[i] != open_:
        return None
    depth, j = 0, i
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        depth += (s[j] == open_) - (s[j] == close)
        if depth == 0:
            return s[i + 1 : j], j + 1
        j += 1
    return None


def latex_text(s: str) -> str:
    """Text-mode LaTeX of a cell as HTML: \\textbf and friends, escaped characters, ~ as a no-break space."""

    def plain(t: str) -> str:
        return escape(TEXT_ESCAPES.sub(lambda m: ESCAPED.get(m[1], "") if m[1] else (m[2] or "\u00a0"), t))

    out, last = [], 0
    for m in FONT.finditer(s):
        out += [plain(s[last : m.start()]), f"<{TAGS[m[1]]}>{plain(m[2])}</{TAGS[m[1]]}>"]
        last = m.end()
    return "".join(out) + plain(s[last:])


def cell_html(s: str) -> str:
    out, last = [], 0
    for m in CELL_MATH.finditer(s):
        out += [latex_text(s[last : m.start()]), math_html(m[1] or m[2], False, m[0])]
        last = m.end()
    return "".join(out) + latex_text(s[last:])


def split_tabular(body: str) -> list[list[str]] | None:
    """Rows of cells, split at the top level (outside braces and math) on \\\\ and &; None if braces or math are
    unbalanced."""
    rows, cells, start, depth, math_end, i = [], [], 0, 0, None, 0
    while i < len(body):
        c, nxt = body[i], body[i + 1 : i + 2]
        if c == "\\":
            if nxt == "\\" and depth == 0 and math_end is None:
                rows.append(cells + [body[start:i]])
                cells, start = [], i + 2
            elif nxt == "(" and math_end is None:
                math_end = ")"
            elif nxt == ")" and math_end == ")":
                math_end = None
            i += 2
            continue
        if c == "$" and math_end in (None, "$"):
            math_end = None if math_end else "$"
        elif c in "{}":
            depth += 1 if c == "{" else -1
            if depth < 0:
                return None
        elif c == "&" and depth == 0 and math_end is None:
            cells.append(body[start:i])
            start = i + 1
        i += 1
    if depth or math_end:
        return None
    rows.append(cells + [body[start:]])
    for row in rows:  # \\[2pt]: the optional space after a row break belongs to the break
        row[0] = re.sub(r"^\s*\[[^\]]*\]", "", row[0])
    rows = [[RULES.sub("", c).strip() for c in row] for row in rows]
    return rows[:-1] if rows[-1] == [""] else rows  # the break after the last row


def aligns(spec: str) -> str:
    """The alignment letter (l, c or r) of each column of a tabular's column spec; p{}, m{}, b{} and X are l."""
    spec = re.sub(r"\*\{(\d+)\}\{([^{}]*)\}", lambda m: m[2] * min(int(m[1]), 100), spec)
    spec = re.sub(r"[@!<>]\{[^{}]*\}", "", spec)
    return "".join(re.findall(r"[lcr]", re.sub(r"[pmb]\{[^{}]*\}|X", "l", spec)))


def spans(cell: str) -> tuple[int, int, str, str]:
    """(colspan, rowspan, content, alignment or "") of a cell: \\multicolumn{n}{spec}{..} and
    \\multirow[pos]{n}{width}{..}, nested either way."""
    cols, rows, align = 1, 1, ""
    for _ in range(2):
        if cell.startswith("\\multicolumn"):
            n = group(cell, 12)
            spec = n and group(cell, n[1])
            body = spec and group(cell, spec[1])
            if body and n[0].strip().isdigit():
                cols, cell, align = max(1, int(n[0])), body[0].strip(), aligns(spec[0])[:1]
        elif cell.startswith("\\multirow"):
            i, parts = 9, []
            while len(parts) < 3:
                if (opt := group(cell, i, "[", "]")) is not None:
                    i = opt[1]
                elif (g := group(cell, i)) is not None:
                    parts.append(g[0])
                    i = g[1]
                else:
                    break
            if len(parts) == 3 and re.fullmatch(r"\s*-?\d+\s*", parts[0]):
                rows, cell = max(1, int(parts[0])), parts[2].strip()  # \multirow{-n}: drawn in its last row
    return cols, rows, cell, align


def tabular_html(source: str, inner: str, closed: bool) -> str:
    """`inner`: what follows \\begin{tabular} in `source`, up to \\end{tabular}."""
    if not closed:
        return unrendered(source, "the tabular is not closed by \\end{tabular} (output cut short?)")
    pos = group(inner, 0, "[", "]")
    spec = group(inner, pos[1] if pos else 0)
    rows = split_tabular(inner[spec[1] :]) if spec else None
    if rows is None:
        return unrendered(source, "unbalanced braces or math in the tabular")
    columns = aligns(spec[0])
    covered: dict[int, int] = {}  # column -> last row that a \multirow above covers
    out = []
    for r, row in enumerate(rows):
        col, cells = 0, []
        for cell in row:
            colspan, rowspan, content, align = spans(cell)
            if covered.get(col, -1) >= r and not content:  # LaTeX writes an empty cell under a \multirow
                col += colspan
                continue
            align = align or columns[col : col + 1]
            attrs = (f' colspan="{colspan}"' if colspan > 1 else "") + (f' rowspan="{rowspan}"' if rowspan > 1 else "")
            attrs += f' class="got-{align}"' if align in ("c", "r") else ""
            cells.append(f"<td{attrs}>{cell_html(content)}</td>")
            if rowspan > 1:
                covered.update((c, r + rowspan - 1) for c in range(col, col + colspan))
            col += colspan
        out.append("<tr>" + "".join(cells) + "</tr>")
    return '<table class="got-tabular">' + "".join(out) + "</table>"


# --- markdown -----------------------------------------------------------------------------------------------------

TABULAR = re.compile(r"\\begin\{tabular\}(?P<table>.*?)(?P<end>\\end\{tabular\}|\Z)", re.S)
# a formula stays within its paragraph (no blank line) and does not hold its own opening delimiter, so that one
# stray \( cannot swallow the text up to the next formula's \)
MATH = re.compile(
    r"\\\[(?P<display>(?:(?!\n\s*\n|\\\[).)+?)(?<!\\)\\\]|\$\$(?P<dollars>(?:(?!\n\s*\n).)+?)\$\$"
    r"|\\\((?P<inline>(?:(?!\n\s*\n|\\\().)+?)(?<!\\)\\\)",
    re.S,
)
STRAY = re.compile(r"\\[()\[\]]|\$\$|\\(?:begin|end)\{tabular\}")
HOLD = re.compile("\ufdd0(\\d+)\ufdd1")  # noncharacters: never in real text, left alone by markdown-it


# raw HTML is shown as text, and links and images (which could name a URL) stay text too
@functools.cache
def _md():
    from markdown_it import MarkdownIt  # imported on first use, as matplotlib and RDKit below: training imports
    # this module (through the rewards) and need not pay for them

    return MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "image", "autolink", "reference"])


def markdown_html(text: str) -> str:
    pieces: list[str] = []

    def hold(fragment: str, block: bool = False) -> str:  # a placeholder keeps the piece away from markdown-it
        pieces.append(fragment)
        mark = f"\ufdd0{len(pieces) - 1}\ufdd1"
        return f"\n\n{mark}\n\n" if block else mark

    text = TABULAR.sub(lambda m: hold(tabular_html(m[0], m["table"], bool(m["end"])), block=True), text)
    text = MATH.sub(lambda m: hold(math_html(m["display"] or m["dollars"] or m["inline"], not m["inline"], m[0])), text)
    stray = sorted({m[0] for m in STRAY.finditer(text)})
    text = STRAY.sub(lambda m: hold(escape(m[0])), text)
    out = _md().render(text)
    out = re.sub("<p>\ufdd0(\\d+)\ufdd1</p>", lambda m: pieces[int(m[1])], out)  # a table is no paragraph
    out = HOLD.sub(lambda m: pieces[int(m[1])], out)
    if stray:
        out = notes_html([f"unbalanced: {' '.join(stray)} has no partner; shown as written"]) + out
    return out


def text_html(text: str) -> str:
    return f'<div class="got-plain">{escape(text)}</div>'


# --- SMILES -------------------------------------------------------------------------------------------------------


def smiles_html(text: str) -> str:
    from rdkit import Chem, rdBase
    from rdkit.Chem.Draw import rdMolDraw2D

    with rdBase.BlockLogs():  # the reason goes in the note, not to stderr
        mol = Chem.MolFromSmiles(text.strip()) if text.strip() else None
    if mol is None:
        return unrendered(text, "RDKit could not parse this as SMILES")
    drawer = rdMolDraw2D.MolDraw2DSVG(360, 280)
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return (
        f'<figure class="got-molecule">{inline_svg(drawer.GetDrawingText())}<figcaption>canonical SMILES: '
        f'<code class="got-smiles">{escape(Chem.MolToSmiles(mol))}</code></figcaption></figure>'
    )


# --- **kern -------------------------------------------------------------------------------------------------------


def spine_problem(text: str) -> tuple[str | None, bool]:
    """(why the Humdrum spine structure is broken, or None; whether spines are left open at the end). verovio can
    hang or die on a broken structure, so it is checked here first: every record has one token per open spine,
    and *^ splits, *v merges (a run of them), *+ adds and *- ends a spine."""
    spines = 0
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("!!"):
            continue
        tokens = line.split("\t")
        if spines == 0:
            if not all(re.fullmatch(r"\*\*\w+", t) for t in tokens):
                return f"line {n}: expected a **kern header, got {line[:40]!r}", False
            spines = len(tokens)
            continue
        if len(tokens) != spines:
            return f"line {n} has {len(tokens)} spine(s) where {spines} are open", False
        if line.startswith("*"):
            merged = sum(1 for i, t in enumerate(tokens) if t == "*v" and i and tokens[i - 1] == "*v")
            spines = sum({"*^": 2, "*+": 2, "*-": 0}.get(t, 1) for t in tokens) - merged
    return None, spines > 0


def kern_html(text: str) -> str:
    problem, open_end = spine_problem(text.strip("\n"))
    if problem:
        return unrendered(text, f"not valid **kern: {problem}")
    try:
        svg, pages = engines.verovio(text, VEROVIO)
    except (engines.RenderError, OSError) as e:  # the child died, hung or refused the input
        return unrendered(text, f"verovio could not engrave this: {e}")
    notes = ["spines not ended by *- (output cut short?)"] * open_end + [f"page 1 of {pages} shown"] * (pages > 1)
    return notes_html(notes) + f'<div class="got-music">{inline_svg(svg)}</div>'


# --- chart dict ---------------------------------------------------------------------------------------------------


CHART_KEYS = ("title", "source", "x_title", "y_title")  # got.render.chart's target, besides "values"


def chart_values(data) -> tuple[list[str], dict[str, dict[str, object]]] | str:
    """(categories, {series: {category: value}}) of a chart dict, or why it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("values"), dict) or not data["values"]:
        return "no 'values' map"
    values = data["values"]
    if all(isinstance(v, dict) for v in values.values()):
        series = {str(s): {str(c): v for c, v in cats.items()} for s, cats in values.items()}
    elif not any(isinstance(v, dict) for v in values.values()):
        series = {str(data.get("y_title") or "value"): {str(c): v for c, v in values.items()}}
    else:
        return "'values' mixes series and single values"
    categories = list(dict.fromkeys(c for cats in series.values() for c in cats))
    return categories, series


def number(v) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v) if math.isfinite(v) else None
    try:
        return float(str(v).replace(",", "").rstrip("%"))
    except ValueError:
        return None


def chart_svg(data: dict, categories: list[str], series: dict[str, dict]) -> str:
    """The values as a (grouped) bar chart: the dict does not say which kind of chart it was read from."""
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    # the text stays text (the browser draws it); a CJK fallback face only makes matplotlib's layout measure right
    cjk = [f.name for f in font_manager.fontManager.ttflist if f.name == "Noto Sans CJK SC"][:1]
    rc = {"svg.fonttype": "none", "svg.hashsalt": "got-chart", "font.family": ["DejaVu Sans", *cjk]}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.add_subplot()
        width = 0.8 / len(series)
        for i, (name, cats) in enumerate(series.items()):
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(categories))]
            ys = [number(cats.get(c)) for c in categories]
            bars = ax.bar(xs, [y or 0.0 for y in ys], width, label=name)
            ax.bar_label(bars, labels=["" if y is None else str(cats[c]) for c, y in zip(categories, ys)], fontsize=7)
        ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 6 else 0)
        ax.set_title(str(data.get("title") or ""))
        ax.set_xlabel(str(data.get("x_title") or ""))
        ax.set_ylabel(str(data.get("y_title") or ""))
        if len(series) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = re.sub(r'<style type="text/css">\*\{[^}]*\}</style>', "", buf.getvalue())  # a "*" rule: the whole page's
    return inline_svg(svg)


def chart_html(text: str) -> str:
    try:
        data = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        try:  # JSON spells None, True and False its own way
            data = json.loads(text)
        except ValueError:
            return unrendered(text, f"not a chart dict: {getattr(e, 'msg', None) or e}")
    read = chart_values(data)
    if isinstance(read, str):
        return unrendered(text, f"not a chart dict: {read}")
    categories, series = read
    meta = "".join(f"<dt>{k}</dt><dd>{escape(str(data[k]))}</dd>" for k in CHART_KEYS if data.get(k) is not None)
    out = (f'<dl class="got-chart-meta">{meta}</dl>' if meta else "") + '<table class="got-chart-values"><tr>'
    out += "".join(f"<th>{escape(h)}</th>" for h in [str(data.get("x_title") or ""), *series]) + "</tr>"
    for c in categories:
        out += f"<tr><th>{escape(c)}</th>" + "".join(f"<td>{escape(str(s.get(c, '')))}</td>" for s in series.values())
        out += "</tr>"
    out += "</table>"
    if not any(number(v) is not None for cats in series.values() for v in cats.values()):
        return out + notes_html(["no numeric value to draw"])
    return out + f'<div class="got-chart">{chart_svg(data, categories, series)}</div>'


# --- TikZ ---------------------------------------------------------------------------------------------------------


def picture_html(m: re.Match) -> str:
    """One TIKZ match drawn, with a note for each statement or option it could not draw."""
    if not m["end"]:
        return unrendered(m[0], "the tikzpicture is not closed by \\end{tikzpicture} (output cut short?)")
    picture = tikz.draw(m["options"], m["body"])
    if not picture.elements:
        return unrendered(m[0], "nothing in this TikZ could be drawn") + notes_html(picture.notes)
    return f'<div class="got-figure">{picture.svg()}</div>' + notes_html(picture.notes)


def tikz_html(text: str) -> str:
    """Every tikzpicture drawn, and the text around them as markdown."""
    out, last = [], 0
    for m in tikz.TIKZ.finditer(text):
        out += [markdown_html(text[last : m.start()]) if text[last : m.start()].strip() else "", picture_html(m)]
        last = m.end()
    if not out:
        return unrendered(text, "no \\begin{tikzpicture}")
    return "".join(out) + (markdown_html(text[last:]) if text[last:].strip() else "")


# --- what an output is, and the page -------------------------------------------------------------------------------

KERN_HEADER = re.compile(r"\*\*[A-Za-z]\w*(?:\t\*\*[A-Za-z]\w*)*")
CHART_START = re.compile(rf"\{{\s*['\"](?:{'|'.join(CHART_KEYS)}|values)['\"]\s*:")
SMILES_CHARS = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$/\\%.:*]+")
SMILES_SYNTAX = re.compile(r"[\d()\[\]=#@/\\%]")
CHAIN = re.compile(r"(?=.*[Cc])[BCNOPSFIcnops]{3,}")  # CCO, OCC...: atoms only, a carbon among them
MARKDOWN = re.compile(r"\\\(|\\\[|\$\$|\\begin\{tabular\}|^#{1,6} |^\s*(?:[-*+]|\d+\.) |^\|.*\|\s*$|\*\*\S", re.M)
RENDER = {
    "text": text_html,
    "markdown": markdown_html,
    "smiles": smiles_html,
    "kern": kern_html,
    "chart": chart_html,
    "tikz": tikz_html,
}
KINDS = tuple(RENDER)


def detect_kind(text: str) -> str:
    """What an output is, from its text, first rule that holds:
    - kern: its first line is a Humdrum header of `**` spines, one of them `**kern`;
    - tikz: it holds `\\begin{tikzpicture}`;
    - chart: it opens a dict whose first key is title, source, x_title, y_title or values (got.render.chart's
      target, in python or JSON spelling);
    - smiles: one token of SMILES characters that RDKit parses and that shows SMILES syntax (a ring digit, branch,
      bond or bracket atom) or is 3+ organic-subset atoms with a carbon (so that plain words stay text);
    - markdown: math delimiters, a tabular, a heading, a list item, a pipe table or **bold**;
    - text: anything else (plain OCR: line breaks kept as written)."""
    s = text.strip()
    first = s.split("\n", 1)[0].strip()
    if KERN_HEADER.fullmatch(first) and "**kern" in first.split("\t"):
        return "kern"
    if "\\begin{tikzpicture}" in s:
        return "tikz"
    if CHART_START.match(s):
        return "chart"
    if SMILES_CHARS.fullmatch(s) and (SMILES_SYNTAX.search(s) or CHAIN.fullmatch(s)):
        from rdkit import Chem, rdBase

        with rdBase.BlockLogs():
            if Chem.MolFromSmiles(s) is not None:
                return "smiles"
    return "markdown" if MARKDOWN.search(text) else "text"


def render_output(text: str, kind: str | None = None) -> str:
    """One output as an HTML fragment (a <div class="got-render">); kind is one of KINDS, or None to detect it
    (detect_kind). Never raises for any text: what cannot be rendered is shown escaped under a note."""
    kind = kind or detect_kind(text)
    if kind not in RENDER:
        raise ValueError(f"unknown output kind {kind!r}; known: {', '.join(KINDS)}")
    try:
        body = RENDER[kind](text)
    except Exception as e:  # noqa: BLE001 - a page shows every output; the failure is logged and named on it
        log.warning("rendering a %s output failed: %s: %s", kind, type(e).__name__, e)
        body = unrendered(text, f"the {kind} renderer failed: {type(e).__name__}: {e}")
    return f'<div class="got-render" data-kind="{kind}">{body}</div>'


CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:24px;color:#222}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:6px;margin:4px 0}
.got-render{overflow-x:auto}
.got-render svg{max-width:100%;height:auto}
.got-render .got-math svg{max-width:none}
.got-math.display{display:block;text-align:center;margin:.6em 0}
.got-plain{white-space:pre-wrap}
table.got-tabular,table.got-chart-values{border-collapse:collapse;margin:6px 0}
table.got-tabular td,table.got-chart-values td,table.got-chart-values th{border:1px solid #999;padding:2px 6px}
table.got-chart-values td,td.got-r{text-align:right}
td.got-c{text-align:center}
dl.got-chart-meta{display:grid;grid-template-columns:auto 1fr;gap:0 10px;margin:4px 0}
dl.got-chart-meta dt{font-weight:600}
dl.got-chart-meta dd{margin:0}
figure.got-molecule{margin:0}
.got-note{color:#a60;margin:2px 0}
.got-unrendered .got-note{font-size:13px}
.got-side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.4fr);gap:20px;align-items:start}
.got-side img{max-width:100%;border:1px solid #ccc;display:block;margin-bottom:8px}
"""


def document(title: str, body: str, style: str = "") -> str:
    """A complete HTML page around `body`: inline CSS, and a policy that lets nothing run or be fetched."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
        f'content="{CSP}"><title>{escape(title)}</title><style>{CSS}{style}</style></head>'
        f"<body>{body}</body></html>"
    )


def image_data_uri(image: Image.Image | str | Path) -> str:
    """A JPEG thumbnail (at most THUMB_SIDE px a side) of an image or an image file, as a data URI."""
    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            picture = opened.convert("RGB")
    else:
        picture = image.convert("RGB")
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def render_page(
    text: str, *, kind: str | None = None, title: str = "GOT output", image: Image.Image | str | Path | None = None
) -> str:
    """One self-contained HTML page: the source image (if given) and the output's text beside its rendering."""
    kind = kind or detect_kind(text)
    img = f'<img src="{image_data_uri(image)}" alt="source image">' if image is not None else ""
    source = f'<section>{img}<h2>Output</h2><pre class="got-source">{escape(text)}</pre></section>'
    rendered = f"<section><h2>Rendered as {kind}</h2>{render_output(text, kind)}</section>"
    return document(title, f'<h1>{escape(title)}</h1><div class="got-side">{source}{rendered}</div>')


def save_render(text: str, path: str | Path, **kw) -> Path:
    """render_page(text, **kw) written to path (UTF-8); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(text, **kw), encoding="utf-8")
    return path
