"""Charts: bar (vertical and horizontal), line and pie charts drawn by matplotlib, every value printed on the chart.
Target: a OneChart-style python dict, `{'title': ..., 'source': None, 'x_title': ..., 'y_title': ..., 'values':
{category: value}}`, with `values` nested as `{series: {category: value}}` when there are several series.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import matplotlib
import matplotlib.style

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from got.data.sample import Sample  # noqa: E402
from got.render import effects, fonts, text  # noqa: E402

MONTHS = {"en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), "zh": [f"{i}月" for i in range(1, 13)]}


@dataclass
class ChartConfig:
    langs: tuple[str, ...] = ("en", "zh")
    kinds: dict[str, float] = field(default_factory=lambda: {"bar": 1.0, "barh": 0.4, "line": 0.8, "pie": 0.5})
    categories: tuple[int, int] = (3, 8)
    series: tuple[int, int] = (1, 3)  # pie charts have one
    title_p: float = 0.8
    axis_titles_p: float = 0.6
    figsize: tuple[float, float] = (4.0, 8.0)  # width, inches at 100 dpi
    aspect: tuple[float, float] = (0.55, 0.9)
    # matplotlib reads only face 0 of a collection, and draws nothing with AR PL UMing
    exclude_fonts: tuple[str, ...] = ("uming",)
    styles: tuple[str, ...] = ("default", "ggplot", "seaborn-v0_8-whitegrid", "bmh", "classic", "fast")
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(p=0.5, rotate=0.8, warp=0.008))  # fmt: skip
    text: text.TextConfig = text.TextConfig()


def _number(rng: random.Random, scale: float, decimals: int) -> float | int:
    v = rng.uniform(0.05, 1.0) * scale
    return int(round(v)) if decimals == 0 else round(v, decimals)


def _fmt(v: float | int, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def render_chart(rng: random.Random, cfg: ChartConfig) -> Sample:
    lang = rng.choice(cfg.langs)
    kind = rng.choices(list(cfg.kinds), list(cfg.kinds.values()))[0]
    n_cat = rng.randint(*cfg.categories)
    n_series = 1 if kind == "pie" else rng.randint(*cfg.series)
    words = (1, 2) if lang == "en" else (2, 4)
    axis = rng.random()
    if axis < 0.3:
        start = rng.randint(1990, 2020)
        cats = [str(start + i) for i in range(n_cat)]
    elif axis < 0.5 and n_cat <= 12:
        cats = MONTHS[lang][:n_cat]
    else:
        cats = list(dict.fromkeys(text.phrase(rng, lang, *words, cfg=cfg.text) for _ in range(n_cat)))
    series = list(dict.fromkeys(text.phrase(rng, lang, *words, cfg=cfg.text) for _ in range(n_series)))
    scale, decimals = 10 ** rng.randint(1, 4), rng.choice([0, 0, 1, 2])
    data = {s: {c: _number(rng, scale, decimals) for c in cats} for s in series}
    title = text.phrase(rng, lang, 2, 6 if lang == "en" else 10, cfg.text) if rng.random() < cfg.title_p else None
    with_axes = kind != "pie" and rng.random() < cfg.axis_titles_p
    x_title = text.phrase(rng, lang, *words, cfg=cfg.text) if with_axes else None
    y_title = text.phrase(rng, lang, *words, cfg=cfg.text) if with_axes else None

    usable = [f for f in fonts.faces(lang, cfg.text.fonts) if f.index == 0 and not any(x in f.path for x in cfg.exclude_fonts)]  # fmt: skip
    face = rng.choice(usable)
    fp = FontProperties(fname=face.path, size=rng.uniform(8, 12))
    w = rng.uniform(*cfg.figsize)
    with matplotlib.style.context(rng.choice(cfg.styles)):
        fig = Figure(figsize=(w, w * rng.uniform(*cfg.aspect)), dpi=100)
        ax = fig.add_subplot()
        if kind == "pie":
            values = list(data[series[0]].values())
            total = sum(values)
            ax.pie(values, labels=cats, autopct=lambda p: _fmt(p * total / 100, decimals), startangle=rng.uniform(0, 360),
                   textprops={"fontproperties": fp})  # fmt: skip
        else:
            width = 0.8 / len(series)
            for i, s in enumerate(series):
                ys = list(data[s].values())
                xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(cats))]
                if kind == "line":
                    ax.plot(range(len(cats)), ys, marker=rng.choice("os^D"), label=s)
                    for x, y in zip(range(len(cats)), ys):
                        ax.annotate(_fmt(y, decimals), (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontproperties=fp, fontsize=8)  # fmt: skip
                else:
                    bars = (ax.bar if kind == "bar" else ax.barh)(xs, ys, width, label=s)
                    ax.bar_label(bars, labels=[_fmt(y, decimals) for y in ys], fontproperties=fp, fontsize=8)
            ticks = ax.set_xticks if kind != "barh" else ax.set_yticks
            ticks(range(len(cats)), cats, fontproperties=fp)
            (ax.yaxis if kind != "barh" else ax.xaxis).set_major_locator(MaxNLocator(5))  # at most 6 value ticks
            (ax.set_ymargin if kind != "barh" else ax.set_xmargin)(0.15)  # room for the printed values in the axes
            if with_axes:
                (ax.set_xlabel if kind != "barh" else ax.set_ylabel)(x_title, fontproperties=fp)
                (ax.set_ylabel if kind != "barh" else ax.set_xlabel)(y_title, fontproperties=fp)
        # margins from the longest labels (tight_layout would double the cost of a chart)
        fig_w, fig_h = fig.get_size_inches() * fig.dpi
        em = fp.get_size_in_points() * fig.dpi / 72
        char = 1.0 if lang == "zh" else 0.6  # advance of a character, in em
        widest = max(len(c) * char for c in cats) * em
        left = (widest if kind == "barh" else 5 * em) + (2 * em if with_axes else 0) + em
        bottom = (em if kind == "barh" else 2 * em) + (2 * em if with_axes else 0) + em
        legend_h = 0.0
        if len(series) > 1:
            # above the plot, where it covers no bar, point or printed value (and matplotlib's "best" placement,
            # which tests every position against every artist, cost a quarter of a chart)
            entries = [len(s) * char * em + 3 * em for s in series]
            ncol = len(series) if sum(entries) < 0.9 * fig_w else 1
            legend_h = (len(series) // ncol) * 1.6 * em + 0.8 * em
            ax.legend(prop=fp, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, borderaxespad=0.3)
        top = (2.5 * em if title else em) + legend_h
        if kind != "pie":
            fig.subplots_adjust(left=min(0.45, left / fig_w), bottom=min(0.4, bottom / fig_h), right=0.97,
                                top=1 - min(0.45, top / fig_h))  # fmt: skip
        # an explicit title position spares matplotlib a pass over the tick labels' extents to place it
        axes_h = fig_h * (fig.subplotpars.top - fig.subplotpars.bottom)
        ax.set_title(title or "", fontproperties=fp, y=1.0 + legend_h / axes_h)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    image, _ = effects.degrade(image, rng, cfg.degrade)
    values = data[series[0]] if len(series) == 1 else data
    target = {"title": title, "source": None, "x_title": x_title, "y_title": y_title, "values": values}
    return Sample([image], repr(target), task="format", lang=lang, source="render/chart", extra={"kind": kind, "font": face.name})
