"""How a model sees images (DESIGN §4), one object for the training loader, evaluation and the model API alike.

A view is a size² square of uint8 RGB pixels that the encoder turns into `tokens` image tokens. One image is
resized to one view (GOT squashes, it keeps no aspect ratio); the pages of a multi-page sample are a view each;
a multi-crop image is cut on the grid (min_tiles..max_tiles tiles) closest to its aspect ratio, its tiles
row-major, then a thumbnail. The model's config holds the tile range (`GOTConfig.crop_tiles`) and saves it with
the checkpoint; size and tokens follow from its encoder. The CLIP normalisation runs on the device, in
`normalize`, so loaders ship uint8.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (3, height, width), antialiased bicubic: PIL's BICUBIC to within one level, and
    faster. torch's uint8 kernel is quickest on an (H, W, 3) array's permuted view, and keeps that memory
    layout: the batch collator makes the one contiguous copy."""
    if image.shape[1:] == (height, width):
        return image
    return F.interpolate(image[None], size=(height, width), mode="bicubic", antialias=True)[0]


def candidate_grids(min_tiles: int, max_tiles: int) -> list[tuple[int, int]]:
    """Grids (cols, rows) with min_tiles <= cols·rows <= max_tiles, by tile count, then cols."""
    if not 1 <= min_tiles <= max_tiles:
        raise ValueError(f"need 1 <= min_tiles <= max_tiles, got {min_tiles}, {max_tiles}")
    sides = range(1, max_tiles + 1)
    grids = [(c, r) for c in sides for r in sides if min_tiles <= c * r <= max_tiles]
    return sorted(grids, key=lambda g: (g[0] * g[1], g[0]))


def choose_grid(width: int, height: int, min_tiles: int, max_tiles: int, tile_size: int) -> tuple[int, int]:
    """The grid whose cols/rows is closest to width/height. On a tie the larger grid wins only when the image
    has more than half its pixels (W·H > 0.5·tile_size²·cols·rows), so small images are not blown up."""
    aspect = width / height
    best, best_diff = None, float("inf")
    for cols, rows in candidate_grids(min_tiles, max_tiles):
        diff = abs(aspect - cols / rows)  # float arithmetic as in InternVL/GOT, so borderline ties agree
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile_size**2 * cols * rows:
            best = (cols, rows)
    return best


def num_views(grid: tuple[int, int]) -> int:
    """Tiles, plus the thumbnail that follows them when there is more than one."""
    tiles = grid[0] * grid[1]
    return tiles + (tiles > 1)


def tile(image: torch.Tensor, grid: tuple[int, int], size: int) -> list[torch.Tensor]:
    """uint8 (3, H, W) -> num_views (3, size, size) views: the image resized to (size·rows, size·cols) and cut
    row-major, then a size² thumbnail of the whole image when there is more than one tile."""
    cols, rows = grid
    if cols * rows == 1:
        return [resize(image, size, size)]
    big = resize(image, size * rows, size * cols)
    tiles = [big[:, r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(rows) for c in range(cols)]
    return tiles + [resize(image, size, size)]


def to_views(images: list[torch.Tensor], grid: tuple[int, int] | None, size: int) -> list[torch.Tensor]:
    """uint8 (3, H, W) images -> uint8 (3, S, S) views: the one image tiled on `grid` (tiles, then a thumbnail
    when there are several), or else each image (page) resized to the square. Training and evaluation both cut
    views here, so a model is evaluated on exactly what it was trained on."""
    if grid is not None:
        return tile(images[0], grid, size)
    return [resize(image, size, size) for image in images]


@dataclass(frozen=True)
class Views:
    size: int  # a view's side in pixels (the encoder's image_size)
    tokens: int  # image tokens per view
    min_tiles: int = 1
    max_tiles: int = 6  # the official chat_crop's 6; the paper and transformers use 12

    def __post_init__(self) -> None:
        if not 1 <= self.min_tiles <= self.max_tiles:
            raise ValueError(f"crop tiles need 1 <= min <= max, got ({self.min_tiles}, {self.max_tiles})")

    def grid(self, width: int, height: int) -> tuple[int, int]:
        """The multi-crop grid (cols, rows) for an image of this size."""
        return choose_grid(width, height, self.min_tiles, self.max_tiles, self.size)

    def cut(self, pixels: list[torch.Tensor], grid: tuple[int, int] | None) -> torch.Tensor:
        """uint8 (3, H, W) images -> uint8 views (V, 3, size, size): the one image cut on `grid`, or else each
        image resized to the square."""
        return torch.stack(to_views(pixels, grid, self.size))

    def of_images(self, images: list[Image.Image], crop: bool = False) -> torch.Tensor:
        """The views of PIL images: the one image tiled when crop, else each image (page) resized."""
        if crop and len(images) != 1:
            raise ValueError(f"multi-crop cuts one image into tiles, got {len(images)} images")
        pixels = [torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1) for image in images]
        return self.cut(pixels, self.grid(*images[0].size) if crop else None)


@functools.lru_cache(maxsize=8)
def clip_constants(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's mean and std as (1, 3, 1, 1) tensors, made once per dtype and device: building them from Python
    floats is a host-to-device copy, which on CUDA waits for every kernel queued before it."""
    mean = torch.tensor(CLIP_MEAN, dtype=dtype, device=device).view(1, 3, 1, 1)
    return mean, torch.tensor(CLIP_STD, dtype=dtype, device=device).view(1, 3, 1, 1)


def normalize(views: torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """uint8 views (V, 3, S, S) -> CLIP-normalised pixels of `dtype` on `device`."""
    mean, std = clip_constants(dtype, torch.device(device))
    return (views.to(device, dtype) / 255 - mean) / std
