"""Scene-text-like images: a few short lines (signs, labels, names, prices) on photo-like backgrounds, with outline or
shadow, perspective, lighting, blur, noise and colour. Target: the characters of each line, top to bottom.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageStat

from got.data.sample import Sample
from got.render import effects, engines, fonts, text
from got.render.effects import Box

ALIGN_X = {"la": 0.12, "ma": 0.5, "ra": 0.88}  # where lines anchored left, centred or right sit, fraction of the width


@dataclass
class SceneConfig:
    langs: tuple[str, ...] = ("en", "zh")
    width: tuple[int, int] = (480, 1024)
    aspect: tuple[float, float] = (0.5, 1.4)  # height / width
    lines: tuple[int, int] = (1, 4)
    words: tuple[int, int] = (1, 4)  # per line (Chinese: 2-3x as many characters)
    phrase_p: float = 0.6  # a line of prose (else a company, address, phone number, city, name or price)
    price: tuple[float, float] = (1.0, 999.0)
    font_size: tuple[float, float] = (0.05, 0.14)  # fraction of the width
    colour_jitter: int = 60  # each channel of the text's black or white moves by up to this
    outline_p: float = 0.3
    outline: tuple[int, int] = (1, 4)  # px
    shadow_p: float = 0.3
    top: tuple[float, float] = (0.1, 0.3)  # the first line's top, fraction of the height
    line_spacing: tuple[float, float] = (1.2, 1.6)  # baseline to baseline, in font sizes
    rotate: float = 12.0  # degrees of the text layer
    warp: float = 0.08  # perspective: corner shift, fraction of the side
    soft_p: float = 0.3  # soft text edges, as seen through a lens
    soft: tuple[float, float] = (0.3, 1.0)  # their blur radius, px
    photo: effects.PhotoConfig = field(default_factory=effects.PhotoConfig)
    degrade: effects.DegradeConfig = field(
        default_factory=lambda: effects.DegradeConfig(p=0.9, rotate=0.0, warp=0.0, blur=(0.3, 2.0), noise=(2, 14))
    )
    text: text.TextConfig = text.TextConfig()
    retries: int = 5  # layouts that do not fit in the frame are redrawn smaller


def _line(rng: random.Random, lang: str, cfg: SceneConfig) -> str:
    lo, hi = cfg.words if lang == "en" else (2 * cfg.words[0], 3 * cfg.words[1])
    if rng.random() < cfg.phrase_p:
        return text.phrase(rng, lang, lo, hi, cfg.text)
    fake = text.fake(rng, lang)
    made = rng.choice(
        [
            fake.company,
            fake.street_address,
            fake.phone_number,
            fake.city,
            fake.name,
            lambda: f"{rng.choice('$€£¥')}{rng.uniform(*cfg.price):.2f}",
        ]
    )()
    return text.drawable(made, lang, cfg.text)


@dataclass
class Attempt:
    """One layout of the lines: the first line's top (fraction of the height), each line's spacing and the tilt."""

    top: float
    spacings: list[float]
    tilt: effects.Tilt


def _attempt(rng: random.Random, cfg: SceneConfig, lines: int) -> Attempt:
    spacings = [rng.uniform(*cfg.line_spacing) for _ in range(lines)]
    return Attempt(rng.uniform(*cfg.top), spacings, effects.sample_tilt(rng, cfg.rotate, cfg.warp))


@dataclass
class SceneContent:
    lang: str
    size: tuple[int, int]
    lines: list[str]  # the target, top to bottom
    background: effects.Photo
    face: fonts.Face
    jitter: tuple[int, int, int]  # added to black or white, whichever stands out from the background
    outline: int  # px, 0 for none
    shadow: bool
    align: str  # PIL anchor: la | ma | ra
    font_size: float  # px
    attempts: list[Attempt]  # tried in turn, each with the font 0.75x smaller, until one fits the frame
    soft: float | None  # blur radius of the text's edges
    degradation: effects.Degradation | None


def sample_scene(rng: random.Random, cfg: SceneConfig) -> SceneContent:
    lang = rng.choice(cfg.langs)
    w = rng.randint(*cfg.width)
    size = (w, round(w * rng.uniform(*cfg.aspect)))
    lines = [ln for ln in (_line(rng, lang, cfg).strip() for _ in range(rng.randint(*cfg.lines))) if ln]
    if not lines:
        raise engines.RenderError("no scene text drawn")
    background = effects.sample_photo(rng, cfg.photo)
    face = fonts.pick(rng, lang, bold=None, italic=None, cfg=cfg.text.fonts)
    jitter = tuple(rng.randint(-cfg.colour_jitter, cfg.colour_jitter) for _ in range(3))
    outline = rng.randint(*cfg.outline) if rng.random() < cfg.outline_p else 0
    shadow, align, font_size = rng.random() < cfg.shadow_p, rng.choice(list(ALIGN_X)), w * rng.uniform(*cfg.font_size)
    attempts = [_attempt(rng, cfg, len(lines)) for _ in range(cfg.retries)]
    soft = rng.uniform(*cfg.soft) if rng.random() < cfg.soft_p else None
    return SceneContent(
        lang,
        size,
        lines,
        background,
        face,
        jitter,
        outline,
        shadow,
        align,
        font_size,
        attempts,
        soft,
        effects.sample_degradation(rng, cfg.degrade),
    )


def _text_layer(c: SceneContent, colour, font_size: float, a: Attempt) -> Image.Image:
    font, layer = fonts.font(c.face, font_size), Image.new("RGBA", c.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    x, y = ALIGN_X[c.align] * c.size[0], c.size[1] * a.top
    other = tuple(255 - v for v in colour)
    for ln, spacing in zip(c.lines, a.spacings):
        if c.shadow:
            draw.text((x + 3, y + 3), ln, font=font, fill=(0, 0, 0, 140), anchor=c.align)
        draw.text(
            (x, y),
            ln,
            font=font,
            fill=colour + (255,),
            anchor=c.align,
            stroke_width=c.outline,
            stroke_fill=other + (255,),
        )
        y += font_size * spacing
    return layer


def _fit(c: SceneContent, colour) -> tuple[Image.Image, Box, np.ndarray, list[int]]:
    """The first attempt whose tilted text stays 2 px inside the frame: (layer, text box, homography, its place)."""
    font_size = c.font_size
    for a in c.attempts:
        layer = _text_layer(c, colour, font_size, a)
        src = layer.getchannel("A").getbbox()
        H = a.tilt.matrix(c.size)
        dst = [round(v) for v in effects.map_box(src, H, (10**6, 10**6))] if src else None
        if dst and dst[0] >= 2 and dst[1] >= 2 and dst[2] <= c.size[0] - 2 and dst[3] <= c.size[1] - 2:
            return layer, src, H, dst
        font_size *= 0.75
    raise engines.RenderError("scene text does not fit the frame")


def draw_scene(c: SceneContent) -> Sample:
    background = effects.draw_photo(c.size, c.background)
    base = (0, 0, 0) if ImageStat.Stat(background.convert("L")).mean[0] > 128 else (255, 255, 255)
    colour = tuple(min(255, max(0, v + d)) for v, d in zip(base, c.jitter))
    layer, src, H, dst = _fit(c, colour)
    # warp only the text's own rectangle: H moved to the crop's and the destination's origins
    local = effects.translation(-dst[0], -dst[1]) @ H @ effects.translation(src[0], src[1])
    text_img = effects.apply_homography(layer.crop(src), local, (0, 0, 0, 0), (dst[2] - dst[0], dst[3] - dst[1]))
    if c.soft is not None:
        text_img = text_img.filter(ImageFilter.GaussianBlur(c.soft))
    background.paste(text_img, dst[:2], text_img)
    image, _ = effects.degrade(background, c.degradation)
    return Sample(
        [image], "\n".join(c.lines), task="ocr", lang=c.lang, source="render/scene", extra={"font": c.face.name}
    )


def render_scene(rng: random.Random, cfg: SceneConfig) -> Sample:
    return draw_scene(sample_scene(rng, cfg))
