"""The TikZ subset got.render.geometry writes, drawn as SVG: `\\draw`/`\\fill`/`\\filldraw`/`\\clip`, `--`,
`cycle`, `circle`, `ellipse`, `rectangle`, `node[anchor] {$A$}`, `plot (\\x, {expr})` with `domain`/`samples`,
`dashed`/`dotted`, with TikZ's own defaults (0.4 pt lines, 3 pt dashes, 25 samples a plot, true size in cm). What
falls outside the subset is skipped and named in the picture's notes.
"""

from __future__ import annotations

import ast
import math
import re
from html import escape

TIKZ = re.compile(
    r"\\begin\{tikzpicture\}\s*(?:\[(?P<options>[^\]]*)\])?(?P<body>.*?)"
    r"(?P<end>\\end\{tikzpicture\}|\Z)",
    re.S,
)
COMMAND = re.compile(r"\s*\\(draw|fill|filldraw|clip|path)\b")
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
LENGTH = rf"{NUMBER}\s*(?:cm|mm|pt|in)?"
UNITS = {"cm": 1.0, "mm": 0.1, "pt": 2.54 / 72.27, "in": 2.54, "": 1.0}
STEP = re.compile(
    rf"""\s*(?:
    \[(?P<options>[^\]]*)\]
  | \(\s*(?P<x>{LENGTH})\s*,\s*(?P<y>{LENGTH})\s*\)
  | (?P<to>--)
  | (?P<cycle>cycle)
  | circle\s*\(\s*(?P<r>{LENGTH})\s*\)
  | ellipse\s*\(\s*(?P<a>{LENGTH})\s+and\s+(?P<b>{LENGTH})\s*\)
  | (?P<rectangle>rectangle)
  | node\s*(?:\[(?P<anchor>[^\]]*)\])?\s*\{{(?P<label>[^{{}}]*)\}}
  | plot\s*\(\s*\\x\s*,\s*\{{(?P<expr>[^{{}}]*)\}}\s*\)
)""",
    re.X,
)
PT = UNITS["pt"]
LINE_WIDTH = 0.4 * PT  # TikZ's default line, dash pattern, dot and label size, in cm
DASHES = {"dashed": f"{3 * PT:.4f} {3 * PT:.4f}", "dotted": f"{0.4 * PT:.4f} {2 * PT:.4f}", "solid": ""}
FONT_SIZE, LABEL_GAP = 10 * PT, 0.12
ANCHORS = {"above": (0, -1), "below": (0, 1), "left": (-1, 0), "right": (1, 0)}
ARITHMETIC = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Constant,
    ast.Name,
    ast.Load,
)
MAX_SAMPLES = 1000


def cm(length: str) -> float:
    m = re.fullmatch(rf"({NUMBER})\s*(cm|mm|pt|in)?", length.strip())
    return float(m[1]) * UNITS[m[2] or ""]


def n(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s == "-0" else s


def plot(expr: str, domain: tuple[float, float], samples: int) -> list[tuple[float, float]]:
    """pgfmath's arithmetic (+ - * / ^ and parentheses over \\x and numbers) sampled over the domain."""
    tree = ast.parse(expr.replace("^", "**").replace("\\x", "x"), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, ARITHMETIC) or (isinstance(node, ast.Name) and node.id != "x"):
            raise ValueError(f"unsupported in a plot expression: {expr!r}")
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)):
                raise ValueError(f"unsupported in a plot expression: {expr!r}")
            node.value = float(node.value)  # float powers overflow at once instead of growing huge integers
    code = compile(tree, "<tikz plot>", "eval")
    a, b = domain
    xs = [a + (b - a) * i / (samples - 1) for i in range(samples)]
    points = [(x, eval(code, {"__builtins__": {}}, {"x": x})) for x in xs]  # noqa: S307 - checked to be arithmetic
    if not all(isinstance(y, float) and math.isfinite(y) for _, y in points):  # (-1)^0.5 is complex in Python
        raise ValueError(f"{expr!r} leaves the real numbers over the domain")
    return points


class Picture:
    """The shapes of a tikzpicture as SVG elements in cm, y pointing down (TikZ's points up)."""

    def __init__(self):
        self.elements: list[str] = []
        self.points: list[tuple[float, float]] = []  # every drawn point, for the picture's extent
        self.clip: tuple[float, float, float, float] | None = None
        self.notes: list[str] = []

    def statement(self, command: str, rest: str, source: str) -> None:
        opts = {"dash": "", "domain": (-5.0, 5.0), "samples": 25}  # TikZ's defaults
        paint = {
            "draw": ' fill="none" stroke="currentColor"',
            "fill": ' fill="currentColor" stroke="none"',
            "filldraw": ' fill="currentColor" stroke="currentColor"',
            "clip": "",
            "path": "",
        }[command]
        shapes: list[tuple[str, object]] = []
        labels: list[tuple[tuple[float, float], str, str]] = []
        sub: list[tuple[float, float]] = []
        here, line_to, rect_to, pos = None, False, False, 0

        def end_sub(closed: bool = False) -> None:
            nonlocal sub
            if len(sub) > 1:
                shapes.append(("polygon" if closed else "polyline", sub))
            sub = []

        while pos < len(rest.rstrip()):
            m = STEP.match(rest, pos)
            if not m:
                self.notes.append(f"not in the supported TikZ subset, skipped: {source.strip()[:80]}")
                return
            pos = m.end()
            if m["options"] is not None:
                self.options(m["options"], opts)
            elif m["x"] is not None:
                p = (cm(m["x"]), -cm(m["y"]))
                if rect_to:
                    shapes.append(("rect", (here, p)))
                    end_sub()
                elif line_to and sub:
                    sub.append(p)
                else:
                    end_sub()
                    sub = [p]
                here, line_to, rect_to = p, False, False
            elif m["to"]:
                line_to = True
            elif m["cycle"]:
                end_sub(closed=True)
                line_to = False
            elif m["expr"] is not None:
                end_sub()
                samples = min(opts["samples"], MAX_SAMPLES)
                points = [(x, -y) for x, y in plot(m["expr"], opts["domain"], samples)]
                shapes.append(("polyline", points))
                here = points[-1]
            elif here is None:
                self.notes.append(f"no current point, skipped: {source.strip()[:80]}")
                return
            elif m["r"] is not None:
                shapes.append(("ellipse", (here, cm(m["r"]), cm(m["r"]))))
            elif m["a"] is not None:
                shapes.append(("ellipse", (here, cm(m["a"]), cm(m["b"]))))
            elif m["rectangle"]:
                rect_to = True
            else:
                labels.append((here, m["anchor"] or "", m["label"]))
        end_sub()
        if command == "clip":
            if len(shapes) != 1 or shapes[0][0] != "rect":
                self.notes.append(f"only a rectangle clip is supported, skipped: {source.strip()[:80]}")
                return
            (x0, y0), (x1, y1) = shapes[0][1]
            self.clip = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
            return
        style = paint + (f' stroke-dasharray="{opts["dash"]}"' if opts["dash"] else "")
        for kind, data in shapes if paint else ():
            self.elements.append(self.shape(kind, data, style))
        for p, anchor, label in labels:
            self.elements.append(self.label(p, anchor, label))

    def options(self, text: str, opts: dict) -> None:
        for item in (o.strip() for o in text.split(",") if o.strip()):
            key, _, value = (s.strip() for s in item.partition("="))
            if key in DASHES and not value:
                opts["dash"] = DASHES[key]
            elif key == "domain" and re.fullmatch(rf"{NUMBER}\s*:\s*{NUMBER}", value):
                opts["domain"] = tuple(float(v) for v in value.split(":"))
            elif key == "samples" and value.isdigit() and int(value) > 1:
                opts["samples"] = int(value)
            else:
                self.notes.append(f"TikZ option ignored: {item}")

    def shape(self, kind: str, data, style: str) -> str:
        if kind == "ellipse":
            (cx, cy), rx, ry = data
            self.points += [(cx - rx, cy - ry), (cx + rx, cy + ry)]
            if rx == ry:
                return f'<circle cx="{n(cx)}" cy="{n(cy)}" r="{n(rx)}"{style}/>'
            return f'<ellipse cx="{n(cx)}" cy="{n(cy)}" rx="{n(rx)}" ry="{n(ry)}"{style}/>'
        if kind == "rect":
            (x0, y0), (x1, y1) = data
            self.points += [(x0, y0), (x1, y1)]
            x, y, w, h = min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
            return f'<rect x="{n(x)}" y="{n(y)}" width="{n(w)}" height="{n(h)}"{style}/>'
        self.points += data
        return f'<{kind} points="{" ".join(f"{n(x)},{n(y)}" for x, y in data)}"{style}/>'

    def label(self, p: tuple[float, float], anchor: str, text: str) -> str:
        """A node's text beside its point: `$A$` in italics, as TeX sets a math letter."""
        dx = sum(ANCHORS[w][0] for w in anchor.split() if w in ANCHORS)
        dy = sum(ANCHORS[w][1] for w in anchor.split() if w in ANCHORS)
        x, y = p[0] + dx * LABEL_GAP, p[1] + dy * LABEL_GAP
        self.points += [(x - FONT_SIZE, y - FONT_SIZE), (x + FONT_SIZE, y + FONT_SIZE)]
        italic = ' font-style="italic"' if "$" in text else ""
        anchor = "end" if dx < 0 else "start" if dx > 0 else "middle"
        baseline = "auto" if dy < 0 else "hanging" if dy > 0 else "central"
        return (
            f'<text x="{n(x)}" y="{n(y)}" font-size="{n(FONT_SIZE)}"{italic} text-anchor="{anchor}" '
            f'dominant-baseline="{baseline}">{escape(text.replace("$", ""))}</text>'
        )

    def svg(self) -> str:
        if self.clip:
            x, y, w, h = self.clip
        else:
            xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
            x, y = min(xs) - 0.3, min(ys) - 0.3
            w, h = max(xs) + 0.3 - x, max(ys) + 0.3 - y
        return (
            f'<svg class="got-tikz" viewBox="{n(x)} {n(y)} {n(w)} {n(h)}" width="{n(w)}cm" height="{n(h)}cm" '
            f'stroke-width="{n(LINE_WIDTH)}" fill="currentColor">{"".join(self.elements)}</svg>'
        )


def split_statements(body: str) -> list[str]:
    """The picture's statements: split on ; outside braces (a node's text may hold one)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(body):
        depth += (c == "{") - (c == "}")
        if c == ";" and depth == 0:
            out.append(body[start:i])
            start = i + 1
    return out + ([body[start:]] if body[start:].strip() else [])


def draw(options: str | None, body: str) -> Picture:
    """A tikzpicture's options and body drawn; what could not be drawn is in the result's notes."""
    picture = Picture()
    if options:
        picture.notes.append(f"picture options ignored: {options}")
    for statement in split_statements(body):
        if not statement.strip():
            continue
        command = COMMAND.match(statement)
        try:
            if not command:
                picture.notes.append(f"not in the supported TikZ subset, skipped: {statement.strip()[:80]}")
            else:
                picture.statement(command[1], statement[command.end() :], statement)
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError) as e:  # a plot's expression
            picture.notes.append(f"{type(e).__name__}: {e}; skipped: {statement.strip()[:80]}")
    return picture
