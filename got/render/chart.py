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
MARKERS = "os^D"  # of a line chart's series


@dataclass
class ChartConfig:
    langs: tuple[str, ...] = ("en", "zh")
    kinds: dict[str, float] = field(default_factory=lambda: {"bar": 1.0, "barh": 0.4, "line": 0.8, "pie": 0.5})
    categories: tuple[int, int] = (3, 8)
    series: tuple[int, int] = (1, 3)  # pie charts have one
    # what the categories are; month names only up to 12 categories (phrases beyond)
    category_kinds: dict[str, float] = field(default_factory=lambda: {"years": 0.3, "months": 0.2, "phrases": 0.5})
    first_year: tuple[int, int] = (1990, 2020)  # year categories are consecutive from here
    # words of a category, series or axis title, and of a chart title (characters in Chinese)
    label_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (1, 2), "zh": (2, 4)})
    title_words: dict[str, tuple[int, int]] = field(default_factory=lambda: {"en": (2, 6), "zh": (2, 10)})
    magnitude: tuple[int, int] = (1, 4)  # a chart's values go up to 10**magnitude
    value: tuple[float, float] = (0.05, 1.0)  # each value, as a fraction of 10**magnitude
    decimals: tuple[int, ...] = (0, 0, 1, 2)  # picked uniformly: whole numbers half of the time
    title_p: float = 0.8
    axis_titles_p: float = 0.6
    font_size: tuple[float, float] = (8.0, 12.0)  # points
    figsize: tuple[float, float] = (4.0, 8.0)  # width, inches at 100 dpi
    aspect: tuple[float, float] = (0.55, 0.9)
    # matplotlib reads only face 0 of a collection, and draws nothing with AR PL UMing
    exclude_fonts: tuple[str, ...] = ("uming",)
    styles: tuple[str, ...] = ("default", "ggplot", "seaborn-v0_8-whitegrid", "bmh", "classic", "fast")
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(p=0.5, rotate=0.8, warp=0.008))
    text: text.TextConfig = text.TextConfig()


@dataclass
class ChartContent:
    """One chart with every random choice made: what it says (the target) and how it looks."""

    lang: str
    kind: str  # bar | barh | line | pie
    categories: list[str]
    data: dict[str, dict[str, float]]  # series -> category -> value (int when decimals is 0)
    decimals: int  # of the printed values
    title: str | None
    x_title: str | None
    y_title: str | None
    face: fonts.Face
    font_size: float  # points
    size: tuple[float, float]  # inches at 100 dpi
    style: str  # matplotlib's
    start_angle: float  # of a pie's first wedge, degrees
    markers: list[str]  # per series, of a line chart
    degradation: effects.Degradation | None

    @property
    def target(self) -> str:
        """The OneChart-style dict: values by category, nested by series when there are several."""
        values = next(iter(self.data.values())) if len(self.data) == 1 else self.data
        return repr(
            {"title": self.title, "source": None, "x_title": self.x_title, "y_title": self.y_title, "values": values}
        )


def _categories(rng: random.Random, cfg: ChartConfig, lang: str, n: int) -> list[str]:
    kind = rng.choices(list(cfg.category_kinds), list(cfg.category_kinds.values()))[0]
    if kind == "years":
        start = rng.randint(*cfg.first_year)
        return [str(start + i) for i in range(n)]
    if kind == "months" and n <= 12:
        return MONTHS[lang][:n]
    return list(dict.fromkeys(text.phrase(rng, lang, *cfg.label_words[lang], cfg=cfg.text) for _ in range(n)))


def _values(rng: random.Random, cfg: ChartConfig, series: list[str], cats: list[str], decimals: int) -> dict:
    scale = 10 ** rng.randint(*cfg.magnitude)
    return {s: {c: _round(rng.uniform(*cfg.value) * scale, decimals) for c in cats} for s in series}


def _round(v: float, decimals: int) -> float:
    return round(v) if decimals == 0 else round(v, decimals)


def _fmt(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}"


def sample_chart(rng: random.Random, cfg: ChartConfig) -> ChartContent:
    lang = rng.choice(cfg.langs)
    kind = rng.choices(list(cfg.kinds), list(cfg.kinds.values()))[0]
    n_cat = rng.randint(*cfg.categories)
    n_series = 1 if kind == "pie" else rng.randint(*cfg.series)
    cats = _categories(rng, cfg, lang, n_cat)
    label = cfg.label_words[lang]
    series = list(dict.fromkeys(text.phrase(rng, lang, *label, cfg=cfg.text) for _ in range(n_series)))
    decimals = rng.choice(cfg.decimals)
    data = _values(rng, cfg, series, cats, decimals)
    title = text.phrase(rng, lang, *cfg.title_words[lang], cfg=cfg.text) if rng.random() < cfg.title_p else None
    with_axes = kind != "pie" and rng.random() < cfg.axis_titles_p
    x_title, y_title = (text.phrase(rng, lang, *label, cfg=cfg.text) for _ in range(2)) if with_axes else (None, None)
    usable = [
        f for f in fonts.faces(lang, cfg.text.fonts) if f.index == 0 and not any(x in f.path for x in cfg.exclude_fonts)
    ]
    face, font_size, w = rng.choice(usable), rng.uniform(*cfg.font_size), rng.uniform(*cfg.figsize)
    size, style = (w, w * rng.uniform(*cfg.aspect)), rng.choice(cfg.styles)
    start_angle, markers = rng.uniform(0, 360), [rng.choice(MARKERS) for _ in series]  # a pie starts anywhere
    return ChartContent(
        lang,
        kind,
        cats,
        data,
        decimals,
        title,
        x_title,
        y_title,
        face,
        font_size,
        size,
        style,
        start_angle,
        markers,
        effects.sample_degradation(rng, cfg.degrade),
    )


def _plot(ax, c: ChartContent, fp: FontProperties) -> None:
    """The pie, bars or lines, every value printed."""
    if c.kind == "pie":
        values = list(next(iter(c.data.values())).values())
        total = sum(values)
        ax.pie(
            values,
            labels=c.categories,
            autopct=lambda p: _fmt(p * total / 100, c.decimals),
            startangle=c.start_angle,
            textprops={"fontproperties": fp},
        )
        return
    width = 0.8 / len(c.data)
    for i, (s, marker) in enumerate(zip(c.data, c.markers)):
        ys = list(c.data[s].values())
        if c.kind == "line":
            ax.plot(range(len(c.categories)), ys, marker=marker, label=s)
            for x, y in enumerate(ys):
                ax.annotate(
                    _fmt(y, c.decimals),
                    (x, y),
                    textcoords="offset points",
                    xytext=(0, 5),
                    ha="center",
                    fontproperties=fp,
                    fontsize=8,
                )
        else:
            xs = [j + (i - (len(c.data) - 1) / 2) * width for j in range(len(c.categories))]
            bars = (ax.bar if c.kind == "bar" else ax.barh)(xs, ys, width, label=s)
            ax.bar_label(bars, labels=[_fmt(y, c.decimals) for y in ys], fontproperties=fp, fontsize=8)
    horizontal = c.kind == "barh"
    (ax.set_yticks if horizontal else ax.set_xticks)(range(len(c.categories)), c.categories, fontproperties=fp)
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(5))  # at most 6 value ticks
    (ax.set_xmargin if horizontal else ax.set_ymargin)(0.15)  # room for the printed values in the axes
    if c.x_title is not None:
        (ax.set_ylabel if horizontal else ax.set_xlabel)(c.x_title, fontproperties=fp)
        (ax.set_xlabel if horizontal else ax.set_ylabel)(c.y_title, fontproperties=fp)


def _arrange(fig: Figure, ax, c: ChartContent, fp: FontProperties) -> None:
    """Margins from the longest labels (tight_layout would double the cost of a chart), legend and title."""
    fig_w, fig_h = fig.get_size_inches() * fig.dpi
    em = fp.get_size_in_points() * fig.dpi / 72
    char = 1.0 if c.lang == "zh" else 0.6  # advance of a character, in em
    axes_titles = 2 * em if c.x_title is not None else 0
    widest = max(len(cat) * char for cat in c.categories) * em
    left = (widest if c.kind == "barh" else 5 * em) + axes_titles + em
    bottom = (em if c.kind == "barh" else 2 * em) + axes_titles + em
    legend_h = 0.0
    if len(c.data) > 1:
        # above the plot, where it covers no bar, point or printed value (and matplotlib's "best" placement,
        # which tests every position against every artist, cost a quarter of a chart)
        entries = [len(s) * char * em + 3 * em for s in c.data]
        ncol = len(c.data) if sum(entries) < 0.9 * fig_w else 1
        legend_h = (len(c.data) // ncol) * 1.6 * em + 0.8 * em
        ax.legend(prop=fp, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, borderaxespad=0.3)
    top = (2.5 * em if c.title else em) + legend_h
    if c.kind != "pie":
        fig.subplots_adjust(
            left=min(0.45, left / fig_w), bottom=min(0.4, bottom / fig_h), right=0.97, top=1 - min(0.45, top / fig_h)
        )
    # an explicit title position spares matplotlib a pass over the tick labels' extents to place it
    axes_h = fig_h * (fig.subplotpars.top - fig.subplotpars.bottom)
    ax.set_title(c.title or "", fontproperties=fp, y=1.0 + legend_h / axes_h)


def draw_chart(c: ChartContent) -> Sample:
    fp = FontProperties(fname=c.face.path, size=c.font_size)
    with matplotlib.style.context(c.style):
        fig = Figure(figsize=c.size, dpi=100)
        ax = fig.add_subplot()
        _plot(ax, c, fp)
        _arrange(fig, ax, c, fp)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    image, _ = effects.degrade(image, c.degradation)
    return Sample(
        [image],
        c.target,
        task="format",
        lang=c.lang,
        source="render/chart",
        extra={"kind": c.kind, "font": c.face.name},
    )


def render_chart(rng: random.Random, cfg: ChartConfig) -> Sample:
    return draw_chart(sample_chart(rng, cfg))
