"""Views: the grid choice against DESIGN §4's rule, the tiles' order, the bicubic resize against PIL's."""

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from got.model.views import candidate_grids, choose_grid, num_views, resize, tile


def rule(width: int, height: int, max_tiles: int, size: int) -> tuple[int, int]:
    """DESIGN §4 written out on its own: the closest ratio; on a tie, the larger grid only when
    W·H > 0.5·size²·c·r (ties among grids of one tile count go to the one with more columns)."""
    grids = [(c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles + 1) if c * r <= max_tiles]
    best_diff = min(abs(width / height - c / r) for c, r in grids)
    tied = [g for g in grids if abs(width / height - g[0] / g[1]) == best_diff]
    tied.sort(key=lambda g: (g[0] * g[1], g[0]))
    choice = tied[0]
    for grid in tied[1:]:
        if width * height > 0.5 * size * size * grid[0] * grid[1]:
            choice = grid
    return choice


@pytest.mark.parametrize("max_tiles", [6, 12])
def test_grid_matches_the_rule(max_tiles):
    sides = [64, 100, 300, 512, 777, 1000, 1024, 1500, 2048, 2500, 3072, 4096, 6000]
    for width, height in itertools.product(sides, sides):
        assert choose_grid(width, height, 1, max_tiles, 1024) == rule(width, height, max_tiles, 1024), (width, height)


@pytest.mark.parametrize(
    "size, grid",
    [
        ((1024, 1024), (1, 1)),  # ratio 1 ties (1,1), (2,2): 1024² is not over half of 4·1024²
        ((2048, 2048), (2, 2)),  # 4·1024² > 0.5·4·1024², but not > 0.5·9·1024²
        ((2048, 1024), (2, 1)),
        ((1000, 3000), (1, 3)),
        ((1240, 1754), (2, 3)),  # A4 at 150 dpi: 0.707 is closest to 2/3
        ((6000, 1000), (6, 1)),
    ],
)
def test_grid_examples(size, grid):
    assert choose_grid(*size, 1, 6, 1024) == grid


def test_candidates_respect_bounds():
    grids = candidate_grids(2, 6)
    assert (1, 1) not in grids and (3, 2) in grids and (7, 1) not in grids
    assert [g[0] * g[1] for g in grids] == sorted(g[0] * g[1] for g in grids)
    with pytest.raises(ValueError):
        candidate_grids(3, 2)


def test_tiles_are_row_major_with_the_thumbnail_last():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    image = torch.zeros(3, 200, 300, dtype=torch.uint8)
    for i, colour in enumerate(colours):  # a 3×2 grid of coloured cells
        row, col = divmod(i, 3)
        image[:, row * 100 : (row + 1) * 100, col * 100 : (col + 1) * 100] = torch.tensor(colour)[:, None, None]
    grid = choose_grid(300, 200, 1, 6, 32)
    assert grid == (3, 2) and num_views(grid) == 7
    views = torch.stack(tile(image, grid, 32))
    assert views.shape == (7, 3, 32, 32) and views.dtype == torch.uint8
    assert [tuple(v[:, 16, 16].tolist()) for v in views[:6]] == colours
    assert tuple(views[6][:, 5, 5].tolist()) == colours[0] and tuple(views[6][:, 27, 27].tolist()) == colours[5]
    assert num_views((1, 1)) == 1 and [v.shape for v in tile(image, (1, 1), 32)] == [(3, 32, 32)]


@pytest.mark.parametrize("size", [(40, 30), (200, 150), (97, 131)])
def test_resize_is_pils_bicubic(size):
    pixels = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    pixels[::7] = 0  # edges, where filters differ most
    ours = resize(torch.from_numpy(pixels).permute(2, 0, 1), size[1], size[0])
    pil = np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC))
    assert np.abs(ours.permute(1, 2, 0).numpy().astype(int) - pil).max() <= 1
