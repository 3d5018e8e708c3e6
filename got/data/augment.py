"""Document-safe augmentation presets built on albumentations.

Safe for OCR targets: no flips, no crops. The geometric part (a slight rotation, shear or perspective) uses
fit_output, so the canvas grows instead of cutting text off the page; it is skipped for box-prompted samples,
whose 0-1000 box would no longer match. The photometric part imitates scans and photos: contrast, blur, noise,
JPEG artefacts, low resolution.

Only images with sides in MIN_SIDE..MAX_SIDE are augmented; others pass through unchanged, so that every valid
image gets through, in bounded memory:
- Under 8 pixels (a rule, a one-pixel strip) there is nothing to turn or blur, and albumentations 2.0 breaks on
  1-pixel sides: ToGray's np.squeeze drops the singleton axis, Perspective's fit_output rounds the warped width
  to 0 and divides by it.
- A turn of a few degrees widens the canvas by the long side times its tangent, so a long strip needs a canvas
  many times its own size (an 8x500,000 strip asks for 4 GB under `light`); and ImageCompression cannot encode a
  side over 65,500 pixels. At 16,384 pixels a turn adds at most ~2,000 rows (32 MP); pages, multi-crop images
  (12 tiles of 1024) and 1200-dpi A4 scans are all under it.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A  # got/data/__init__.py sets NO_ALBUMENTATIONS_UPDATE before this import
import numpy as np

WHITE = 255  # fill for the canvas a rotation uncovers: documents are mostly on white
MIN_SIDE, MAX_SIDE = 8, 16384  # pixels; images with a side outside this range are not augmented


def light() -> tuple[list, list]:
    geometric = [
        A.Affine(rotate=(-1.5, 1.5), shear=(-1, 1), fit_output=True, fill=WHITE, p=0.3),
    ]
    photometric = [
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.3),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3)), A.MotionBlur(blur_limit=(3, 5))], p=0.1),
        A.GaussNoise(std_range=(0.01, 0.03), noise_scale_factor=0.5, p=0.1),
        A.ImageCompression(quality_range=(60, 95), p=0.2),
    ]
    return geometric, photometric


def strong() -> tuple[list, list]:
    geometric = [
        A.OneOf(
            [
                A.Affine(rotate=(-3, 3), shear=(-3, 3), fit_output=True, fill=WHITE),
                A.Perspective(scale=(0.01, 0.04), fit_output=True, fill=WHITE),
            ],
            p=0.5,
        ),
    ]
    photometric = [
        A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.25),
        A.GaussNoise(std_range=(0.02, 0.06), noise_scale_factor=0.5, p=0.25),
        A.Downscale(scale_range=(0.5, 0.9), p=0.15),
        A.ImageCompression(quality_range=(30, 90), p=0.3),
        A.ToGray(p=0.1),
    ]
    return geometric, photometric


PRESETS = {"light": light, "strong": strong}


@dataclass(frozen=True)
class Augment:
    geometric: A.Compose
    photometric: A.Compose

    def __call__(self, pixels: np.ndarray, seed: int, geometric: bool = True) -> np.ndarray:
        """The augmented uint8 (H, W, 3) image (its size may grow); the same seed gives the same result."""
        if not MIN_SIDE <= min(pixels.shape[:2]) <= max(pixels.shape[:2]) <= MAX_SIDE:
            return pixels
        for compose in (self.geometric, self.photometric) if geometric else (self.photometric,):
            compose.set_random_seed(seed)
            pixels = compose(image=pixels)["image"]
        return pixels


def build_augment(preset: str) -> Augment | None:
    """The named preset ("none", "light", "strong"); None for "none"."""
    if preset == "none":
        return None
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}, expected 'none' or one of {sorted(PRESETS)}")
    geometric, photometric = PRESETS[preset]()
    return Augment(A.Compose(geometric), A.Compose(photometric))
