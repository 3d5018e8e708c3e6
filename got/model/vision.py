"""SAM ViT-B / ViTDet vision encoder, as used by GOT (`vision_tower_high`).

Module names mirror the official checkpoint (patch_embed.proj, blocks.N.attn.qkv, neck.0 ...) so that
weight conversion is a prefix rename. Shapes, for the released model: a 1024² image gives a 64×64 grid of
768-d tokens, kept channels-last (B, h, w, C) through the blocks; the neck returns (B, 256, 64, 64).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass
class VisionConfig:
    image_size: int = 1024
    patch_size: int = 16
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_dim: int = 3072
    window_size: int = 14
    global_layers: tuple[int, ...] = (2, 5, 8, 11)
    out_channels: int = 256
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        self.global_layers = tuple(self.global_layers)
        if self.width % self.heads:
            raise ValueError(f"vision.width {self.width} is not divisible by vision.heads {self.heads}")
        if self.image_size % self.patch_size:
            raise ValueError(f"vision.image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.grid % 4:
            # The projector's two stride-2 convs need a grid divisible by 4 to give grid²/16 tokens.
            raise ValueError(f"vision grid {self.grid} (image_size/patch_size) must be divisible by 4")
        bad = [i for i in self.global_layers if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f"vision.global_layers {bad} are outside 0..{self.depth - 1}")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def tokens_per_view(self) -> int:
        return (self.grid // 4) ** 2


def resize_rel_pos(rel_pos: torch.Tensor, size: int) -> torch.Tensor:
    """Relative-position table (2·size-1, head_dim) gathered as (size, size, head_dim), indexed [query, key].

    The table is linearly interpolated when the grid differs from the one it was trained on (SAM's rule).
    """
    length = 2 * size - 1
    if rel_pos.shape[0] != length:
        rel_pos = F.interpolate(rel_pos.T[None], size=length, mode="linear")[0].T
    coords = torch.arange(size, device=rel_pos.device)
    return rel_pos[coords[:, None] - coords[None, :] + size - 1]


class Attention(nn.Module):
    """Multi-head attention with SAM's decomposed relative-position bias, run through SDPA.

    The bias q·Rh[qh-kh] + q·Rw[qw-kw] is folded into an augmented dot product: each query gets its
    (h + w) bias terms appended, each key a one-hot of its row and column. SDPA then never materialises
    the (N, N) scores, which the eager softmax does (2.4 GiB per global layer at 1024²). v is zero-padded
    to the augmented width because CPU SDPA only runs its fused kernel when q, k and v share a head dim.
    """

    def __init__(self, dim: int, heads: int, rel_size: int):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_size - 1, self.head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_size - 1, self.head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, dim = x.shape
        n, d = h * w, self.head_dim
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4).unbind(0)  # (b, heads, n, d)

        rel_h = torch.einsum("bnhwc,hkc->bnhwk", q.reshape(b, self.heads, h, w, d), resize_rel_pos(self.rel_pos_h, h))
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", q.reshape(b, self.heads, h, w, d), resize_rel_pos(self.rel_pos_w, w))
        eye_h = torch.eye(h, dtype=q.dtype, device=q.device).repeat_interleave(w, dim=0)  # key n -> its row
        eye_w = torch.eye(w, dtype=q.dtype, device=q.device).repeat(h, 1)  # key n -> its column
        q_aug = torch.cat([q * d**-0.5, rel_h.reshape(b, self.heads, n, h), rel_w.reshape(b, self.heads, n, w)], -1)
        k_aug = torch.cat([k, eye_h.expand(b, self.heads, n, h), eye_w.expand(b, self.heads, n, w)], -1)
        out = F.scaled_dot_product_attention(q_aug, k_aug, F.pad(v, (0, h + w)), scale=1.0)[..., :d]
        return self.proj(out.transpose(1, 2).reshape(b, h, w, dim))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.gelu(self.lin1(x)))


def window_partition(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(b, h, w, c) -> (b·windows, size, size, c), zero-padding the grid to a multiple of size."""
    b, h, w, c = x.shape
    ph, pw = -h % size, -w % size
    x = F.pad(x, (0, 0, 0, pw, 0, ph))
    hp, wp = h + ph, w + pw
    x = x.reshape(b, hp // size, size, wp // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, c), (hp, wp)


def window_unpartition(x: torch.Tensor, size: int, padded: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    b = x.shape[0] // (hp * wp // size // size)
    x = x.reshape(b, hp // size, wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : hw[0], : hw[1]]


class Block(nn.Module):
    def __init__(self, cfg: VisionConfig, window_size: int):
        super().__init__()
        self.window_size = window_size  # 0 = global attention over the whole grid
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg.width, cfg.heads, window_size or cfg.grid)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg.width, cfg.mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        if self.window_size:
            hw = y.shape[1:3]
            y, padded = window_partition(y, self.window_size)
            y = window_unpartition(self.attn(y), self.window_size, padded, hw)
        else:
            y = self.attn(y)
        x = x + y
        return x + self.mlp(self.norm2(x))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) map."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # channels-last (B, h, w, C)


class VisionEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig, grad_checkpointing: bool = False):
        super().__init__()
        self.cfg, self.grad_checkpointing = cfg, grad_checkpointing
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid, cfg.grid, cfg.width))
        self.blocks = nn.ModuleList(
            Block(cfg, 0 if i in cfg.global_layers else cfg.window_size) for i in range(cfg.depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.width, cfg.out_channels, kernel_size=1, bias=False),
            LayerNorm2d(cfg.out_channels),
            nn.Conv2d(cfg.out_channels, cfg.out_channels, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(cfg.out_channels),
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # A real initialisation: transformers' GotOcr2 uses std 1e-10, which leaves a fresh encoder dead.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, LayerNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        pos = self.pos_embed
        if pos.shape[1:3] != (h, w):
            pos = F.interpolate(pos.permute(0, 3, 1, 2), size=(h, w), mode="bicubic", align_corners=False)
            pos = pos.permute(0, 2, 3, 1)
        return pos

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels -> (B, out_channels, H/patch, W/patch)."""
        x = self.patch_embed(pixel_values)
        x = x + self.position_embedding(x.shape[1], x.shape[2])
        for block in self.blocks:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))
