"""Scene-text-like images: a few short lines (signs, labels, names, prices) on photo-like backgrounds, with outline or
shadow, perspective, lighting, blur, noise and colour. Target: the characters of each line, top to bottom.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFilter, ImageStat

from got.data.sample import Sample
from got.render import effects, engines, fonts, text


@dataclass
class SceneConfig:
    langs: tuple[str, ...] = ("en", "zh")
    width: tuple[int, int] = (480, 1024)
    aspect: tuple[float, float] = (0.5, 1.4)  # height / width
    lines: tuple[int, int] = (1, 4)
    words: tuple[int, int] = (1, 4)  # per line (Chinese: 2-3x as many characters)
    font_size: tuple[float, float] = (0.05, 0.14)  # fraction of the width
    outline_p: float = 0.3
    shadow_p: float = 0.3
    rotate: float = 12.0  # degrees of the text layer
    warp: float = 0.08  # perspective: corner shift, fraction of the side
    degrade: effects.DegradeConfig = field(
        default_factory=lambda: effects.DegradeConfig(p=0.9, rotate=0.0, warp=0.0, blur=(0.3, 2.0), noise=(2, 14))
    )
    text: text.TextConfig = text.TextConfig()
    retries: int = 5  # layouts that do not fit in the frame are redrawn smaller


def _line(rng: random.Random, lang: str, cfg: SceneConfig) -> str:
    lo, hi = cfg.words if lang == "en" else (2 * cfg.words[0], 3 * cfg.words[1])
    kind = rng.random()
    if kind < 0.6:
        return text.phrase(rng, lang, lo, hi, cfg.text)
    fake = text.fake(rng, lang)
    made = rng.choice([fake.company, fake.street_address, fake.phone_number, fake.city, fake.name,
                       lambda: f"{rng.choice('$€£¥')}{rng.uniform(1, 999):.2f}"])()  # fmt: skip
    return text.drawable(made, lang, cfg.text)


def render_scene(rng: random.Random, cfg: SceneConfig) -> Sample:
    lang = rng.choice(cfg.langs)
    w = rng.randint(*cfg.width)
    size = (w, round(w * rng.uniform(*cfg.aspect)))
    lines = [ln for ln in (_line(rng, lang, cfg).strip() for _ in range(rng.randint(*cfg.lines))) if ln]
    if not lines:
        raise engines.RenderError("no scene text drawn")
    background = effects.photo(rng, size)
    face = fonts.pick(rng, lang, bold=None, italic=None, cfg=cfg.text.fonts)
    colour = (0, 0, 0) if ImageStat.Stat(background.convert("L")).mean[0] > 128 else (255, 255, 255)
    colour = tuple(min(255, max(0, c + rng.randint(-60, 60))) for c in colour)
    other = tuple(255 - c for c in colour)
    outline = rng.randint(1, 4) if rng.random() < cfg.outline_p else 0
    shadow = rng.random() < cfg.shadow_p
    align = rng.choice(("la", "ma", "ra"))
    font_size = w * rng.uniform(*cfg.font_size)
    for _ in range(cfg.retries):
        font = fonts.font(face, font_size)
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        x = {"la": 0.12, "ma": 0.5, "ra": 0.88}[align] * size[0]
        y = size[1] * rng.uniform(0.1, 0.3)
        for ln in lines:
            if shadow:
                draw.text((x + 3, y + 3), ln, font=font, fill=(0, 0, 0, 140), anchor=align)
            draw.text((x, y), ln, font=font, fill=colour + (255,), anchor=align, stroke_width=outline,
                      stroke_fill=other + (255,))  # fmt: skip
            y += font_size * rng.uniform(1.2, 1.6)
        src = layer.getchannel("A").getbbox()
        H = effects.random_homography(rng, size, cfg.rotate, cfg.warp)
        dst = [round(v) for v in effects.map_box(src, H, (10**6, 10**6))] if src else None
        if dst and dst[0] >= 2 and dst[1] >= 2 and dst[2] <= size[0] - 2 and dst[3] <= size[1] - 2:
            break
        font_size *= 0.75
    else:
        raise engines.RenderError("scene text does not fit the frame")
    # warp only the text's own rectangle: H moved to the crop's and the destination's origins
    local = effects.translation(-dst[0], -dst[1]) @ H @ effects.translation(src[0], src[1])
    text_img = layer.crop(src)
    text_img = effects.apply_homography(text_img, local, (0, 0, 0, 0), (dst[2] - dst[0], dst[3] - dst[1]))
    if rng.random() < 0.3:  # soft edges as seen through a lens
        text_img = text_img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    background.paste(text_img, dst[:2], text_img)
    image, _ = effects.degrade(background, rng, cfg.degrade)
    return Sample([image], "\n".join(lines), task="ocr", lang=lang, source="render/scene", extra={"font": face.name})
