"""Geometry figures: labelled points, segments, lines, circles, polygons, ellipses and parabolas, drawn with PIL
(2x supersampled). Target: TikZ that reproduces the figure: every shape is emitted in the figure's own
coordinates (cm, one decimal), and the picture is drawn from exactly those rounded numbers.
"""

from __future__ import annotations

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
    px_per_cm: tuple[int, int] = (45, 90)
    line_width: tuple[float, float] = (1.5, 3.5)  # px
    dashed_p: float = 0.15
    label_size: tuple[int, int] = (16, 26)  # px
    weights: dict[str, float] = field(default_factory=lambda: {
        "segment": 1.0, "polygon": 1.0, "circle": 1.0, "ellipse": 0.5, "parabola": 0.5, "line": 0.5})  # fmt: skip
    paper: effects.PaperConfig = field(default_factory=lambda: effects.PaperConfig(plain_p=0.6))
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=0.5, warp=0.005))


def _num(v: float) -> str:
    return f"{v:.1f}".replace("-0.0", "0.0")


class Figure:
    """Shapes in cm; each add_* records the TikZ line and the drawing call with the same rounded numbers."""

    def __init__(self, rng: random.Random, cfg: GeometryConfig):
        self.rng, self.cfg = rng, cfg
        self.tikz: list[str] = []
        self.ops: list = []  # (kind, args, dashed)
        self.labels: list[tuple[float, float, str, str]] = []
        self.used = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def pt(self, spread: float = 1.0) -> tuple[float, float]:
        e = self.cfg.extent * spread
        return round(self.rng.uniform(-e, e), 1), round(self.rng.uniform(-e, e), 1)

    def _style(self) -> tuple[str, bool]:
        dashed = self.rng.random() < self.cfg.dashed_p
        return ("[dashed]" if dashed else ""), dashed

    def point(self, p: tuple[float, float]) -> None:
        name = next(self.used, None)
        if name is None:
            return
        anchor = self.rng.choice(["above", "below", "left", "right", "above right", "below left"])
        self.tikz.append(rf"\fill ({_num(p[0])},{_num(p[1])}) circle (2pt) node[{anchor}] {{${name}$}};")
        self.labels.append((p[0], p[1], name, anchor))

    def add(self, kind: str) -> None:
        style, dashed = self._style()
        rng = self.rng
        if kind in ("segment", "polygon"):
            n = 2 if kind == "segment" else rng.randint(3, 5)
            c, r = self.pt(0.5), rng.uniform(1.0, 3.0)
            start = rng.uniform(0, 2 * math.pi)
            pts = [(round(c[0] + r * math.cos(start + 2 * math.pi * i / n + rng.uniform(-0.4, 0.4)), 1),
                    round(c[1] + r * math.sin(start + 2 * math.pi * i / n + rng.uniform(-0.4, 0.4)), 1)) for i in range(n)]  # fmt: skip
            path = " -- ".join(f"({_num(x)},{_num(y)})" for x, y in pts) + (" -- cycle" if n > 2 else "")
            self.tikz.append(rf"\draw{style} {path};")
            self.ops.append(("poly", pts, n > 2, dashed))
            for p in pts:
                self.point(p)
        elif kind == "line":  # a line through two points, drawn across the whole frame
            a, b = self.pt(0.6), self.pt(0.6)
            if a == b:
                return
            e = self.cfg.extent
            d = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
            t = 2 * e / d
            p = (round(a[0] - t * (b[0] - a[0]), 1), round(a[1] - t * (b[1] - a[1]), 1))
            q = (round(b[0] + t * (b[0] - a[0]), 1), round(b[1] + t * (b[1] - a[1]), 1))
            self.tikz.append(rf"\draw{style} ({_num(p[0])},{_num(p[1])}) -- ({_num(q[0])},{_num(q[1])});")
            self.ops.append(("poly", [p, q], False, dashed))
        elif kind == "circle":
            c, r = self.pt(0.5), round(rng.uniform(0.8, 3.0), 1)
            self.tikz.append(rf"\draw{style} ({_num(c[0])},{_num(c[1])}) circle ({_num(r)});")
            self.ops.append(("ellipse", (c, r, r), None, dashed))
            self.point(c)
        elif kind == "ellipse":
            c = self.pt(0.5)
            a, b = round(rng.uniform(1.0, 3.5), 1), round(rng.uniform(0.6, 2.5), 1)
            self.tikz.append(rf"\draw{style} ({_num(c[0])},{_num(c[1])}) ellipse ({_num(a)} and {_num(b)});")
            self.ops.append(("ellipse", (c, a, b), None, dashed))
        elif kind == "parabola":  # y = k (x - h)^2 + v over [h - w, h + w]
            h, v = self.pt(0.4)
            k, w = round(rng.choice([-1, 1]) * rng.uniform(0.2, 1.0), 1) or 0.5, round(rng.uniform(1.0, 2.5), 1)
            self.tikz.append(rf"\draw{style}[domain={_num(h - w)}:{_num(h + w)}] plot (\x, {{{_num(k)}*(\x-({_num(h)}))^2+({_num(v)})}});")  # fmt: skip
            xs = [h - w + 2 * w * i / 60 for i in range(61)]
            self.ops.append(("poly", [(x, k * (x - h) ** 2 + v) for x in xs], False, dashed))


def render_geometry(rng: random.Random, cfg: GeometryConfig) -> Sample:
    fig = Figure(rng, cfg)
    kinds = list(cfg.weights)
    for _ in range(rng.randint(*cfg.shapes)):
        fig.add(rng.choices(kinds, [cfg.weights[k] for k in kinds])[0])
    scale = rng.randint(*cfg.px_per_cm)
    e = cfg.extent + 1.0  # room for labels and curves that leave the box a little
    size = round(2 * e * scale)
    big = Image.new("L", (size * SS, size * SS), 0)  # ink coverage, supersampled
    draw = ImageDraw.Draw(big)
    lw = max(1, round(rng.uniform(*cfg.line_width) * SS))

    def px(p: tuple[float, float]) -> tuple[float, float]:
        return ((p[0] + e) * scale * SS, (e - p[1]) * scale * SS)  # TikZ y points up

    for kind, args, closed, dashed in fig.ops:
        if kind == "poly":
            pts = [px(p) for p in args] + ([px(args[0])] if closed else [])
            for a, b in zip(pts, pts[1:]):
                if dashed:  # TikZ's dash: 3pt on, 3pt off; here in proportion to the line width
                    _dash(draw, a, b, lw)
                else:
                    draw.line((a, b), fill=255, width=lw, joint="curve")
        else:
            (cx, cy), a, b = args
            x0, y0 = px((cx - a, cy + b))
            x1, y1 = px((cx + a, cy - b))
            if dashed:
                for start in range(0, 360, 20):
                    draw.arc((x0, y0, x1, y1), start, start + 10, fill=255, width=lw)
            else:
                draw.ellipse((x0, y0, x1, y1), outline=255, width=lw)
    font = fonts.font(fonts.pick(rng, "en", bold=False, italic=True), rng.randint(*cfg.label_size) * SS)
    offsets = {"above": (0, -1), "below": (0, 1), "left": (-1, 0), "right": (1, 0), "above right": (1, -1), "below left": (-1, 1)}  # fmt: skip
    for x, y, name, anchor in fig.labels:
        cx, cy = px((x, y))
        draw.ellipse((cx - 3 * SS, cy - 3 * SS, cx + 3 * SS, cy + 3 * SS), fill=255)
        dx, dy = offsets[anchor]
        off = 0.8 * font.size  # TikZ puts the node's edge, not its centre, next to the point
        draw.text((cx + dx * off, cy + dy * off), name, font=font, fill=255, anchor="mm")
    coverage = big.resize((size, size), Image.BOX)
    canvas = effects.paper(rng, (size, size), cfg.paper)
    canvas.paste((0, 0, 0), (0, 0), coverage)
    image, _ = effects.degrade(canvas, rng, cfg.degrade)
    clip = rf"\clip ({_num(-e)},{_num(-e)}) rectangle ({_num(e)},{_num(e)});"  # the frame of the picture
    target = "\n".join([r"\begin{tikzpicture}", clip] + fig.tikz + [r"\end{tikzpicture}"])
    return Sample([image], target, task="format", lang="en", source="render/geometry", extra={"px_per_cm": scale})


def _dash(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], lw: int) -> None:
    length = math.dist(a, b)
    step = 4 * lw
    for i in range(int(length // step) + 1):
        t0, t1 = i * step / length if length else 0, min(1.0, (i * step + step / 2) / length) if length else 0
        draw.line(((a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0), (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)), fill=255, width=lw)  # fmt: skip
