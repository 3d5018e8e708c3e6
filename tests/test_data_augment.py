"""Augmentation presets: document-safe (no flips or crops, nothing cut off), deterministic per seed."""

import albumentations as A
import numpy as np
import pytest

from got.data.augment import PRESETS, build_augment


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
