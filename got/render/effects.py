"""Backgrounds and degradation shared by the renderers: paper textures, photo-like scenes, and the camera and scanner
effects (rotation, perspective warp, lighting, blur, noise, JPEG). Geometric effects map boxes along with the pixels,
so a region's box stays true after the page is tilted.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

Box = tuple[float, float, float, float]


def np_rng(rng: random.Random) -> np.random.Generator:
    """A numpy generator that follows the sample's seed."""
    return np.random.default_rng(rng.getrandbits(64))


def _smooth_noise(g: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean low-frequency noise in [-1, 1] on a coarse grid of `cells` columns (upsample it to use it)."""
    w, h = size
    return g.uniform(-1, 1, (max(2, cells * h // max(w, 1)), cells)).astype(np.float32)


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    # one fixed tile of gaussian noise, cut at random offsets: per-pixel noise at the cost of a copy
    return np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)


@lru_cache(maxsize=64)
def _grain_tile(sigma: float) -> np.ndarray:
    return np.clip(128 + sigma * _noise_tile(), 0, 255).astype(np.uint8)


def grain(rng: random.Random, size: tuple[int, int], sigma: float) -> Image.Image:
    """An 'L' image of 128 + sigma * gaussian noise (add it with ImageChops.add(..., offset=-128)); sigma is
    rounded to a quarter grey level, so that the 8-bit tiles can be kept."""
    tile = _grain_tile(round(sigma * 4) / 4)
    w, h = size
    dy, dx = rng.randrange(512), rng.randrange(512)
    reps = ((h + dy) // 512 + 1, (w + dx) // 512 + 1)
    return Image.fromarray(np.ascontiguousarray(np.tile(tile, reps)[dy : dy + h, dx : dx + w]), "L")


def add_grain(img: Image.Image, rng: random.Random, sigma: float) -> Image.Image:
    g = grain(rng, img.size, sigma)
    return ImageChops.add(img, Image.merge("RGB", (g, g, g)), 1.0, -128)


@dataclass
class PaperConfig:
    plain_p: float = 0.35  # chance of a flat white page
    brightness: tuple[int, int] = (222, 255)
    warmth: tuple[float, float] = (-4.0, 14.0)  # >0 drifts to cream, <0 to cold grey
    blotch: tuple[float, float] = (0.0, 12.0)  # amplitude of low-frequency unevenness (grey levels)
    grain: tuple[float, float] = (0.0, 5.0)  # amplitude of per-pixel fibre noise


def paper(rng: random.Random, size: tuple[int, int], cfg: PaperConfig) -> Image.Image:
    if rng.random() < cfg.plain_p:
        return Image.new("RGB", size, (255, 255, 255))
    g = np_rng(rng)
    coarse = rng.uniform(*cfg.brightness) + rng.uniform(*cfg.blotch) * _smooth_noise(g, size, rng.randint(3, 12))
    lum = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "L").resize(size, Image.BICUBIC)
    amount = rng.uniform(*cfg.grain)
    if amount > 0.5:
        lum = ImageChops.add(lum, grain(rng, size, amount), 1.0, -128)
    warm = rng.uniform(*cfg.warmth)
    shifted = [lum.point([min(255, max(0, round(v + d))) for v in range(256)]) for d in (warm * 0.3, 0.0, -warm)]
    return Image.merge("RGB", shifted)


def photo(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A photo-like background: a smooth colour field, blurred clutter shapes and a repeating texture."""
    g = np_rng(rng)
    w, h = size
    small = (max(1, w // 4), max(1, h // 4))  # everything smooth is drawn at quarter size, then upsampled
    cells = rng.randint(2, 8)
    field = g.uniform(0, 255, (max(2, cells * h // w), cells, 3)).astype(np.uint8)
    img = Image.fromarray(field, "RGB").resize(small, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 12)):  # clutter: things in the scene behind the text
        x, y = rng.uniform(-0.2, 1) * small[0], rng.uniform(-0.2, 1) * small[1]
        bw, bh = rng.uniform(0.05, 0.6) * small[0], rng.uniform(0.05, 0.6) * small[1]
        colour = tuple(rng.randrange(256) for _ in range(3))
        shape = rng.choice((draw.rectangle, draw.ellipse))
        shape((x, y, x + bw, y + bh), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3))).resize(size, Image.BICUBIC)
    if rng.random() < 0.5:  # wood, fabric or brick-like periodic texture, computed at half resolution
        yy, xx = np.mgrid[0 : h // 2, 0 : w // 2].astype(np.float32)
        angle, period = rng.uniform(0, np.pi), rng.uniform(2, 20)
        wave = 128 + rng.uniform(5, 30) * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        wave = Image.fromarray(wave.astype(np.uint8), "L").resize(size, Image.BILINEAR)
        img = ImageChops.add(img, Image.merge("RGB", (wave, wave, wave)), 1.0, -128)
    return add_grain(img, rng, rng.uniform(0, 10))


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking 4 points src to dst."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows, float), np.array(rhs, float)), 1.0).reshape(3, 3)


def random_homography(rng: random.Random, size: tuple[int, int], rotate: float, warp: float) -> np.ndarray:
    """Rotation by up to `rotate` degrees about the centre, then each corner moved by up to `warp` of the side."""
    w, h = size
    a = np.deg2rad(rng.uniform(-rotate, rotate))
    cx, cy = w / 2, h / 2
    rot = np.array([[np.cos(a), -np.sin(a), cx - cx * np.cos(a) + cy * np.sin(a)],
                    [np.sin(a), np.cos(a), cy - cx * np.sin(a) - cy * np.cos(a)], [0, 0, 1]])  # fmt: skip
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    moved = corners + np.array([[rng.uniform(-warp, warp) * w, rng.uniform(-warp, warp) * h] for _ in range(4)])
    return homography(corners, moved) @ rot


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], float)


def apply_homography(img: Image.Image, H: np.ndarray, fill, size: tuple[int, int] | None = None) -> Image.Image:
    """img warped by H (source -> output pixel coordinates) onto an output of `size` (default: img's)."""
    inv = np.linalg.inv(H)
    inv /= inv[2, 2]
    return img.transform(size or img.size, Image.PERSPECTIVE, tuple(inv.flatten()[:8]), Image.BILINEAR, fillcolor=fill)


def map_box(box: Box, H: np.ndarray, size: tuple[int, int]) -> Box:
    """The axis-aligned bounding box of a box's corners after H, clipped to the image."""
    x1, y1, x2, y2 = box
    pts = np.array([[x1, y1, 1], [x2, y1, 1], [x2, y2, 1], [x1, y2, 1]], float) @ H.T
    xs, ys = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
    w, h = size
    return (max(0.0, xs.min()), max(0.0, ys.min()), min(float(w), xs.max()), min(float(h), ys.max()))


@lru_cache(maxsize=4)
def _gradient(angle: int) -> Image.Image:
    return Image.linear_gradient("L").rotate(angle)


def blur(img: Image.Image, sigma: float) -> Image.Image:
    """A blur with the variance of a gaussian of this sigma: one box-filter pass (fractional radius r, variance
    r(r+1)/3), 2.5x cheaper than ImageFilter.GaussianBlur's three passes and the same to the eye at sigma <= 2."""
    r = (-1 + (1 + 12 * sigma * sigma) ** 0.5) / 2
    return img.filter(ImageFilter.BoxBlur(r))


@dataclass
class DegradeConfig:
    p: float = 0.7  # chance that a sample is degraded at all; 0 turns degradation off
    each_p: float = 0.5  # chance of each effect on a degraded sample
    rotate: float = 1.5  # max tilt, degrees
    warp: float = 0.015  # max corner shift, fraction of the side
    shadow: tuple[float, float] = (0.05, 0.35)  # darkening at the dark end of a lighting gradient
    blur: tuple[float, float] = (0.3, 1.2)  # gaussian radius, px
    noise: tuple[float, float] = (2.0, 10.0)  # gaussian sigma, grey levels
    jpeg: tuple[int, int] = (30, 90)  # quality


def degrade(img: Image.Image, rng: random.Random, cfg: DegradeConfig, boxes: list[Box] = ()) -> tuple[Image.Image, list[Box]]:  # fmt: skip
    """Apply a random subset of the effects; returns the image and the boxes mapped through the geometry."""
    boxes = list(boxes)
    if rng.random() >= cfg.p:
        return img, boxes
    on = [rng.random() < cfg.each_p for _ in range(5)]
    if on[0] and (cfg.rotate or cfg.warp):
        H = random_homography(rng, img.size, cfg.rotate, cfg.warp)
        img = apply_homography(img, H, img.getpixel((0, 0)))
        boxes = [map_box(b, H, img.size) for b in boxes]
    if on[1]:  # uneven lighting: a linear ramp from 1 down to 1 - shadow, in a random direction
        ramp = _gradient(rng.choice((0, 90, 180, 270)))
        dark = rng.uniform(*cfg.shadow)
        ramp = ramp.point(lambda v: round(255 * (1 - dark * v / 255))).resize(img.size, Image.BILINEAR)  # LUT on 256x256
        img = ImageChops.multiply(img, Image.merge("RGB", (ramp, ramp, ramp)))
    if on[2]:
        img = add_grain(img, rng, rng.uniform(*cfg.noise))
    if on[3]:
        img = blur(img, rng.uniform(*cfg.blur))
    if on[4]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(*cfg.jpeg))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img, boxes
