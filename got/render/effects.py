"""Backgrounds and degradation shared by the renderers: paper textures, photo-like scenes, and the camera and scanner
effects (rotation, perspective warp, lighting, blur, noise, JPEG). Geometric effects map boxes along with the pixels,
so a region's box stays true after the page is tilted.

Each look is sampled first (`sample_paper`, `sample_photo`, `sample_degradation`: small frozen dataclasses holding
every random choice, pixel noise as a seed or a tile offset) and then drawn or applied with no randomness.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

Box = tuple[float, float, float, float]


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


@dataclass(frozen=True)
class Grain:
    """Per-pixel gaussian noise of sigma grey levels, cut from the noise tile at (dx, dy)."""

    sigma: float
    dx: int
    dy: int


def sample_grain(rng: random.Random, sigma: float) -> Grain:
    return Grain(sigma, rng.randrange(512), rng.randrange(512))  # any offset into the 512x512 tile


def grain(size: tuple[int, int], g: Grain) -> Image.Image:
    """An 'L' image of 128 + sigma * gaussian noise (add it with ImageChops.add(..., offset=-128)); sigma is
    rounded to a quarter grey level, so that the 8-bit tiles can be kept."""
    tile = _grain_tile(round(g.sigma * 4) / 4)
    w, h = size
    reps = ((h + g.dy) // 512 + 1, (w + g.dx) // 512 + 1)
    return Image.fromarray(np.ascontiguousarray(np.tile(tile, reps)[g.dy : g.dy + h, g.dx : g.dx + w]), "L")


def add_grain(img: Image.Image, g: Grain) -> Image.Image:
    noise = grain(img.size, g)
    return ImageChops.add(img, Image.merge("RGB", (noise, noise, noise)), 1.0, -128)


@dataclass
class PaperConfig:
    plain_p: float = 0.35  # chance of a flat white page
    brightness: tuple[int, int] = (222, 255)
    warmth: tuple[float, float] = (-4.0, 14.0)  # >0 drifts to cream, <0 to cold grey
    blotch: tuple[float, float] = (0.0, 12.0)  # amplitude of low-frequency unevenness (grey levels)
    blotch_cells: tuple[int, int] = (3, 12)  # columns of the blotches' grid: fewer cells, broader stains
    grain: tuple[float, float] = (0.0, 5.0)  # amplitude of per-pixel fibre noise


@dataclass(frozen=True)
class Paper:
    """A tinted sheet: brightness, blotches of the given amplitude on a grid of `cells` columns (the pattern drawn
    from `seed`), fibre grain (None below half a grey level, where it does not show) and warmth."""

    brightness: float
    blotch: float
    cells: int
    seed: int
    grain: Grain | None
    warmth: float


def sample_paper(rng: random.Random, cfg: PaperConfig) -> Paper | None:
    """The paper's look; None is a flat white page."""
    if rng.random() < cfg.plain_p:
        return None
    seed, brightness, blotch = rng.getrandbits(64), rng.uniform(*cfg.brightness), rng.uniform(*cfg.blotch)
    cells, amount = rng.randint(*cfg.blotch_cells), rng.uniform(*cfg.grain)
    fibre = sample_grain(rng, amount) if amount > 0.5 else None
    return Paper(brightness, blotch, cells, seed, fibre, rng.uniform(*cfg.warmth))


def draw_paper(size: tuple[int, int], p: Paper | None) -> Image.Image:
    if p is None:
        return Image.new("RGB", size, (255, 255, 255))
    coarse = p.brightness + p.blotch * _smooth_noise(np.random.default_rng(p.seed), size, p.cells)
    lum = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8), "L").resize(size, Image.BICUBIC)
    if p.grain is not None:
        lum = ImageChops.add(lum, grain(size, p.grain), 1.0, -128)
    shifted = [
        lum.point([min(255, max(0, round(v + d))) for v in range(256)]) for d in (p.warmth * 0.3, 0.0, -p.warmth)
    ]
    return Image.merge("RGB", shifted)


@dataclass
class PhotoConfig:
    cells: tuple[int, int] = (2, 8)  # columns of the smooth colour field's grid
    clutter: tuple[int, int] = (0, 12)  # blurred shapes: things in the scene behind the text
    clutter_at: tuple[float, float] = (-0.2, 1.0)  # a shape's top-left corner, fraction of the side
    clutter_size: tuple[float, float] = (0.05, 0.6)  # fraction of the side
    blur: tuple[float, float] = (0.5, 3.0)  # gaussian radius, px at quarter size
    texture_p: float = 0.5  # a wood, fabric or brick-like periodic texture
    texture_period: tuple[float, float] = (2.0, 20.0)  # px at half size
    texture_amplitude: tuple[float, float] = (5.0, 30.0)  # grey levels
    grain: tuple[float, float] = (0.0, 10.0)  # sigma, grey levels


@dataclass(frozen=True)
class Photo:
    """A photo-like background: a colour field on a grid of `cells` columns (drawn from `seed`), clutter shapes
    ((x, y, w, h) as fractions of the sides, colour, "rectangle" or "ellipse"), a blur, a texture (angle in radians,
    period, amplitude) or None, and grain."""

    cells: int
    seed: int
    clutter: tuple[tuple[Box, tuple[int, int, int], str], ...]
    blur: float
    texture: tuple[float, float, float] | None
    grain: Grain


def _clutter(rng: random.Random, cfg: PhotoConfig) -> tuple[Box, tuple[int, int, int], str]:
    at, size = cfg.clutter_at, cfg.clutter_size
    box = (rng.uniform(*at), rng.uniform(*at), rng.uniform(*size), rng.uniform(*size))
    return box, tuple(rng.randrange(256) for _ in range(3)), rng.choice(("rectangle", "ellipse"))  # any colour


def sample_photo(rng: random.Random, cfg: PhotoConfig) -> Photo:
    cells, seed = rng.randint(*cfg.cells), rng.getrandbits(64)
    clutter = tuple(_clutter(rng, cfg) for _ in range(rng.randint(*cfg.clutter)))
    blur = rng.uniform(*cfg.blur)
    texture = None
    if rng.random() < cfg.texture_p:  # any direction
        texture = (rng.uniform(0, np.pi), rng.uniform(*cfg.texture_period), rng.uniform(*cfg.texture_amplitude))
    return Photo(cells, seed, clutter, blur, texture, sample_grain(rng, rng.uniform(*cfg.grain)))


def draw_photo(size: tuple[int, int], p: Photo) -> Image.Image:
    w, h = size
    small = (max(1, w // 4), max(1, h // 4))  # everything smooth is drawn at quarter size, then upsampled
    field = np.random.default_rng(p.seed).uniform(0, 255, (max(2, p.cells * h // w), p.cells, 3)).astype(np.uint8)
    img = Image.fromarray(field, "RGB").resize(small, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for (x, y, bw, bh), colour, shape in p.clutter:
        x, y, bw, bh = x * small[0], y * small[1], bw * small[0], bh * small[1]
        getattr(draw, shape)((x, y, x + bw, y + bh), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(p.blur)).resize(size, Image.BICUBIC)
    if p.texture is not None:  # computed at half resolution
        angle, period, amplitude = p.texture
        yy, xx = np.mgrid[0 : h // 2, 0 : w // 2].astype(np.float32)
        wave = 128 + amplitude * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
        wave = Image.fromarray(wave.astype(np.uint8), "L").resize(size, Image.BILINEAR)
        img = ImageChops.add(img, Image.merge("RGB", (wave, wave, wave)), 1.0, -128)
    return add_grain(img, p.grain)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking 4 points src to dst."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows, float), np.array(rhs, float)), 1.0).reshape(3, 3)


@dataclass(frozen=True)
class Tilt:
    """A rotation by `angle` degrees about the centre, then each corner moved by `shifts` (fractions of the sides)."""

    angle: float
    shifts: tuple[tuple[float, float], ...]

    def matrix(self, size: tuple[int, int]) -> np.ndarray:
        """The homography of the tilt on an image of this size."""
        w, h = size
        a = np.deg2rad(self.angle)
        cx, cy = w / 2, h / 2
        rot = np.array(
            [
                [np.cos(a), -np.sin(a), cx - cx * np.cos(a) + cy * np.sin(a)],
                [np.sin(a), np.cos(a), cy - cx * np.sin(a) - cy * np.cos(a)],
                [0, 0, 1],
            ]
        )
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
        return homography(corners, corners + np.array(self.shifts) * (w, h)) @ rot


def sample_tilt(rng: random.Random, rotate: float, warp: float) -> Tilt:
    """Up to `rotate` degrees, and each corner moved by up to `warp` of the side."""
    angle = rng.uniform(-rotate, rotate)
    return Tilt(angle, tuple((rng.uniform(-warp, warp), rng.uniform(-warp, warp)) for _ in range(4)))


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


@dataclass(frozen=True)
class Degradation:
    """The effects one sample gets, in this order; None leaves an effect out. shadow: the direction of the lighting
    ramp (degrees) and its darkening; blur: sigma, px; jpeg: quality."""

    tilt: Tilt | None
    shadow: tuple[int, float] | None
    grain: Grain | None
    blur: float | None
    jpeg: int | None


def sample_degradation(rng: random.Random, cfg: DegradeConfig) -> Degradation | None:
    """A random subset of the effects; None when the sample is not degraded at all."""
    if rng.random() >= cfg.p:
        return None
    on = [rng.random() < cfg.each_p for _ in range(5)]
    tilt = sample_tilt(rng, cfg.rotate, cfg.warp) if on[0] and (cfg.rotate or cfg.warp) else None
    shadow = (rng.choice((0, 90, 180, 270)), rng.uniform(*cfg.shadow)) if on[1] else None  # from any side
    noise = sample_grain(rng, rng.uniform(*cfg.noise)) if on[2] else None
    sigma = rng.uniform(*cfg.blur) if on[3] else None
    return Degradation(tilt, shadow, noise, sigma, rng.randint(*cfg.jpeg) if on[4] else None)


def degrade(img: Image.Image, d: Degradation | None, boxes: list[Box] = ()) -> tuple[Image.Image, list[Box]]:
    """img with the effects applied, and the boxes mapped through its geometry."""
    boxes = list(boxes)
    if d is None:
        return img, boxes
    if d.tilt is not None:
        H = d.tilt.matrix(img.size)
        img = apply_homography(img, H, img.getpixel((0, 0)))
        boxes = [map_box(b, H, img.size) for b in boxes]
    if d.shadow is not None:  # uneven lighting: a linear ramp from 1 down to 1 - dark
        angle, dark = d.shadow
        ramp = _gradient(angle).point(lambda v: round(255 * (1 - dark * v / 255)))  # the LUT on 256x256
        ramp = ramp.resize(img.size, Image.BILINEAR)
        img = ImageChops.multiply(img, Image.merge("RGB", (ramp, ramp, ramp)))
    if d.grain is not None:
        img = add_grain(img, d.grain)
    if d.blur is not None:
        img = blur(img, d.blur)
    if d.jpeg is not None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=d.jpeg)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img, boxes
