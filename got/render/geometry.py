"""Geometry figures: labelled points, segments, lines, circles, polygons, ellipses and parabolas, drawn with PIL
(2x supersampled). Target: TikZ that reproduces the figure: every shape is emitted in the figure's own
coordinates (cm, one decimal), and the picture is drawn from exactly those rounded numbers.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from got.data.sample import Sample
from got.render import effects, fonts

SS = 2  # supersampling factor


@dataclass
class GeometryConfig:
    shapes: tuple[int, int] = (2, 6)
    extent: float = 5.0  # coordinates lie in [-extent, extent] cm
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "segment": 1.0,
            "polygon": 1.0,
            "circle": 1.0,
            "ellipse": 0.5,
            "parabola": 0.5,
            "line": 0.5,
        }
    )
    # where shapes sit: centres of polygons, circles and ellipses, a line's two points, a parabola's vertex, each
    # coordinate within this fraction of the extent
    centre_spread: float = 0.5
    line_spread: float = 0.6
    vertex_spread: float = 0.4
    polygon_sides: tuple[int, int] = (3, 5)
    polygon_radius: tuple[float, float] = (1.0, 3.0)  # cm, of segments too
    vertex_jitter: float = 0.4  # radians a vertex may stray from the regular polygon's
    circle_radius: tuple[float, float] = (0.8, 3.0)  # cm
    ellipse_axes: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 3.5), (0.6, 2.5))  # x and y semi-axes, cm
    parabola_k: tuple[float, float] = (0.2, 1.0)  # |k| of y = k (x - h)^2 + v, either sign
    parabola_width: tuple[float, float] = (1.0, 2.5)  # half the x range drawn, cm
    dashed_p: float = 0.15
    px_per_cm: tuple[int, int] = (45, 90)
    line_width: tuple[float, float] = (1.5, 3.5)  # px
    label_size: tuple[int, int] = (16, 26)  # px
    paper: effects.PaperConfig = field(default_factory=lambda: effects.PaperConfig(plain_p=0.6))
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=0.5, warp=0.005))


def _num(v: float) -> str:
    return f"{v:.1f}".replace("-0.0", "0.0")


def _pt(p: tuple[float, float]) -> str:
    return f"({_num(p[0])},{_num(p[1])})"


ANCHORS = {
    "above": (0, -1),
    "below": (0, 1),
    "left": (-1, 0),
    "right": (1, 0),
    "above right": (1, -1),
    "below left": (-1, 1),
}


class Figure:
    """Samples shapes in cm; each add_* records the TikZ line and the drawing op with the same rounded numbers."""

    def __init__(self, rng: random.Random, cfg: GeometryConfig):
        self.rng, self.cfg = rng, cfg
        self.tikz: list[str] = []
        self.ops: list = []  # (kind, args, closed, dashed): "poly" with points, or "ellipse" with (centre, a, b)
        self.labels: list[tuple[float, float, str, str]] = []
        self.used = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def pt(self, spread: float) -> tuple[float, float]:
        e = self.cfg.extent * spread
        return round(self.rng.uniform(-e, e), 1), round(self.rng.uniform(-e, e), 1)

    def draw(self, kind: str, args, closed, tikz: str) -> None:
        dashed = self.rng.random() < self.cfg.dashed_p
        self.tikz.append(rf"\draw{'[dashed]' if dashed else ''}{tikz};")
        self.ops.append((kind, args, closed, dashed))

    def point(self, p: tuple[float, float]) -> None:
        name = next(self.used, None)
        if name is None:
            return
        anchor = self.rng.choice(list(ANCHORS))
        self.tikz.append(rf"\fill {_pt(p)} circle (2pt) node[{anchor}] {{${name}$}};")
        self.labels.append((p[0], p[1], name, anchor))

    def add_polygon(self, n: int) -> None:
        """A segment (n = 2) or a polygon: vertices near a circle, each labelled."""
        cfg, rng = self.cfg, self.rng
        c, r, start = self.pt(cfg.centre_spread), rng.uniform(*cfg.polygon_radius), rng.uniform(0, 2 * math.pi)
        angles = [start + 2 * math.pi * i / n + rng.uniform(-cfg.vertex_jitter, cfg.vertex_jitter) for i in range(n)]
        pts = [(round(c[0] + r * math.cos(a), 1), round(c[1] + r * math.sin(a), 1)) for a in angles]
        self.draw("poly", pts, n > 2, " " + " -- ".join(_pt(p) for p in pts) + (" -- cycle" if n > 2 else ""))
        for p in pts:
            self.point(p)

    def add_line(self) -> None:
        """A line through two points, drawn across the whole frame."""
        a, b = self.pt(self.cfg.line_spread), self.pt(self.cfg.line_spread)
        if a == b:
            return
        t = 2 * self.cfg.extent / max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        p = (round(a[0] - t * (b[0] - a[0]), 1), round(a[1] - t * (b[1] - a[1]), 1))
        q = (round(b[0] + t * (b[0] - a[0]), 1), round(b[1] + t * (b[1] - a[1]), 1))
        self.draw("poly", [p, q], False, f" {_pt(p)} -- {_pt(q)}")

    def add_ellipse(self, circle: bool) -> None:
        cfg, rng = self.cfg, self.rng
        c = self.pt(cfg.centre_spread)
        if circle:
            r = round(rng.uniform(*cfg.circle_radius), 1)
            self.draw("ellipse", (c, r, r), None, f" {_pt(c)} circle ({_num(r)})")
            self.point(c)
            return
        a, b = (round(rng.uniform(*axis), 1) for axis in cfg.ellipse_axes)
        self.draw("ellipse", (c, a, b), None, f" {_pt(c)} ellipse ({_num(a)} and {_num(b)})")

    def add_parabola(self) -> None:
        """y = k (x - h)^2 + v over [h - w, h + w]."""
        cfg, rng = self.cfg, self.rng
        h, v = self.pt(cfg.vertex_spread)
        k = round(rng.choice([-1, 1]) * rng.uniform(*cfg.parabola_k), 1) or 0.5  # either way up, never flat
        w = round(rng.uniform(*cfg.parabola_width), 1)
        xs = [h - w + 2 * w * i / 60 for i in range(61)]
        self.draw(
            "poly",
            [(x, k * (x - h) ** 2 + v) for x in xs],
            False,
            rf"[domain={_num(h - w)}:{_num(h + w)}] plot (\x, {{{_num(k)}*(\x-({_num(h)}))^2+({_num(v)})}})",
        )

    def add(self, kind: str) -> None:
        if kind in ("segment", "polygon"):
            self.add_polygon(2 if kind == "segment" else self.rng.randint(*self.cfg.polygon_sides))
        elif kind == "line":
            self.add_line()
        elif kind in ("circle", "ellipse"):
            self.add_ellipse(kind == "circle")
        elif kind == "parabola":
            self.add_parabola()


@dataclass
class GeometryContent:
    extent: float  # cm; the picture shows [-extent - 1, extent + 1] (room for labels and curves that leave the box)
    tikz: list[str]  # the shapes' TikZ lines
    ops: list  # the same shapes as drawing ops (Figure.ops)
    labels: list[tuple[float, float, str, str]]  # x, y, name, anchor
    scale: int  # px per cm
    line_width: float  # px
    face: fonts.Face
    label_size: int  # px
    paper: effects.Paper | None
    degradation: effects.Degradation | None


def sample_geometry(rng: random.Random, cfg: GeometryConfig) -> GeometryContent:
    fig = Figure(rng, cfg)
    kinds = list(cfg.weights)
    for _ in range(rng.randint(*cfg.shapes)):
        fig.add(rng.choices(kinds, [cfg.weights[k] for k in kinds])[0])
    scale, lw = rng.randint(*cfg.px_per_cm), rng.uniform(*cfg.line_width)
    face, size = fonts.pick(rng, "en", bold=False, italic=True), rng.randint(*cfg.label_size)
    paper, degradation = effects.sample_paper(rng, cfg.paper), effects.sample_degradation(rng, cfg.degrade)
    return GeometryContent(cfg.extent, fig.tikz, fig.ops, fig.labels, scale, lw, face, size, paper, degradation)


def _draw_op(draw: ImageDraw.ImageDraw, px, op, lw: int) -> None:
    kind, args, closed, dashed = op
    if kind == "poly":
        pts = [px(p) for p in args] + ([px(args[0])] if closed else [])
        for a, b in itertools.pairwise(pts):
            if dashed:  # TikZ's dash: 3pt on, 3pt off; here in proportion to the line width
                _dash(draw, a, b, lw)
            else:
                draw.line((a, b), fill=255, width=lw, joint="curve")
        return
    (cx, cy), a, b = args
    box = (*px((cx - a, cy + b)), *px((cx + a, cy - b)))
    if dashed:
        for start in range(0, 360, 20):
            draw.arc(box, start, start + 10, fill=255, width=lw)
    else:
        draw.ellipse(box, outline=255, width=lw)


def draw_geometry(c: GeometryContent) -> Sample:
    e = c.extent + 1.0  # room for labels and curves that leave the box a little
    size = round(2 * e * c.scale)
    big = Image.new("L", (size * SS, size * SS), 0)  # ink coverage, supersampled
    draw = ImageDraw.Draw(big)

    def px(p: tuple[float, float]) -> tuple[float, float]:
        return ((p[0] + e) * c.scale * SS, (e - p[1]) * c.scale * SS)  # TikZ y points up

    for op in c.ops:
        _draw_op(draw, px, op, max(1, round(c.line_width * SS)))
    font = fonts.font(c.face, c.label_size * SS)
    for x, y, name, anchor in c.labels:
        cx, cy = px((x, y))
        draw.ellipse((cx - 3 * SS, cy - 3 * SS, cx + 3 * SS, cy + 3 * SS), fill=255)
        dx, dy = ANCHORS[anchor]
        off = 0.8 * font.size  # TikZ puts the node's edge, not its centre, next to the point
        draw.text((cx + dx * off, cy + dy * off), name, font=font, fill=255, anchor="mm")
    canvas = effects.draw_paper((size, size), c.paper)
    canvas.paste((0, 0, 0), (0, 0), big.resize((size, size), Image.BOX))
    image, _ = effects.degrade(canvas, c.degradation)
    clip = rf"\clip ({_num(-e)},{_num(-e)}) rectangle ({_num(e)},{_num(e)});"  # the frame of the picture
    target = "\n".join([r"\begin{tikzpicture}", clip] + c.tikz + [r"\end{tikzpicture}"])
    return Sample([image], target, task="format", lang="en", source="render/geometry", extra={"px_per_cm": c.scale})


def render_geometry(rng: random.Random, cfg: GeometryConfig) -> Sample:
    return draw_geometry(sample_geometry(rng, cfg))


def _dash(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], lw: int) -> None:
    length = math.dist(a, b)
    step = 4 * lw
    for i in range(int(length // step) + 1):
        t0, t1 = i * step / length if length else 0, min(1.0, (i * step + step / 2) / length) if length else 0
        draw.line(
            (
                (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1),
            ),
            fill=255,
            width=lw,
        )
