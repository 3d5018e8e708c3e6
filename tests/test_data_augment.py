"""Augmentation presets: document-safe (no flips or crops, nothing cut off), deterministic per seed."""

import math

import albumentations as A
import numpy as np
import pytest

from got.data.augment import MAX_SIDE, PRESETS, build_augment


def transforms(compose) -> list:
    """Every transform in a Compose, OneOf included."""
    out = []
    for t in compose.transforms:
        out += transforms(t) if hasattr(t, "transforms") else [t]
    return out


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_are_document_safe(preset):
    augment = build_augment(preset)
    names = [type(t).__name__ for c in (augment.geometric, augment.photometric) for t in transforms(c)]
    assert not [n for n in names if "Flip" in n or "Crop" in n or "Transpose" in n or "Rotate90" in n]
    assert all(t.fit_output for t in transforms(augment.geometric) if isinstance(t, (A.Affine, A.Perspective)))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_text_at_the_edges_survives_and_seeds_repeat(preset):
    page = np.full((96, 128, 3), 255, np.uint8)
    page[:4], page[-4:], page[:, :4], page[:, -4:] = 0, 0, 0, 0  # "text" touching every edge
    augment = build_augment(preset)
    assert any(augment(page, seed).shape != page.shape for seed in range(12))  # the geometric part ran
    for seed in range(12):
        out = augment(page, seed)
        assert out.shape[0] >= 96 and out.shape[1] >= 128  # the canvas only grows
        assert np.array_equal(out, augment(page, seed))
        dark = (out.mean(axis=2) < 128).sum()
        assert dark >= 0.9 * (page.mean(axis=2) < 128).sum()  # nothing cut off
    assert all(augment(page, seed, geometric=False).shape == page.shape for seed in range(12))  # box prompts
    assert build_augment("none") is None


# Shapes that broke albumentations 2.0 before the side range: 1-pixel sides (ToGray squeezed them to 2-D,
# Perspective divided by a warped width of 0) and a side over JPEG's 65,500 (ImageCompression raised).
THIN = [(300, 1), (1, 300), (1, 1), (5, 1), (1, 5), (7, 7), (8, 70_000)]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_shape_comes_out_as_an_rgb_image(preset):
    augment = build_augment(preset)
    for height, width in THIN + [(8, 8), (9, 300), (300, 9), (64, 48)]:
        for seed in range(40):  # seed 31 draws ToGray on (300, 1); seeds 1 and 9 the perspective on (1, 5), (5, 1)
            pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
            out = augment(pixels, seed)
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and min(out.shape[:2]) >= 1
    pixels = np.zeros((1, 300, 3), np.uint8)
    assert augment(pixels, 31) is pixels  # outside MIN_SIDE..MAX_SIDE: passed through


def test_a_long_strip_stays_in_bounded_memory():
    # Under a 3° turn with fit_output, an 8 x 500,000 strip asked for a 4 GB canvas; at MAX_SIDE the turn adds at
    # most the long side x tan(6°) (rotation plus shear) rows.
    augment = build_augment("strong")
    assert MAX_SIDE == 16384
    strip = np.full((8, 16384, 3), 255, np.uint8)
    heights = [augment(strip, seed).shape[0] for seed in range(8)]
    assert max(heights) > 8 and max(heights) <= 8 + 16384 * math.tan(math.radians(6)) + 2
    assert augment(np.full((8, 16385, 3), 255, np.uint8), 0).shape == (8, 16385, 3)  # longer: not augmented
