"""`sdpa_varlen`: decoder attention that runs SDPA once per packed sample instead of once per packed row.

transformers' `sdpa` turns packed position_ids into a block-diagonal (L, L) mask, and SDPA then computes every
block of it, the masked ones included, and cannot take its causal fast path: a row of k similar samples does about
k× the attention work it needs, and building the mask costs (L, L) memory on top. On CPU that product dominates a
packed training step of a small decoder (docs/performance.md). Here each sample attends causally within itself;
anything else (a padding mask, a KV cache, one sample per row) goes to transformers' own SDPA path, so results
are those of `sdpa` everywhere. Select it with the model config's `attn_implementation: sdpa_varlen`.
"""

import weakref

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "sdpa_varlen"


def sample_bounds(position_ids: torch.Tensor) -> list[list[int]]:
    """(B, L) packed position_ids -> per row, the start of every sample and L (positions restart at 0)."""
    starts = (position_ids == 0).clone()
    starts[:, 0] = True
    length = position_ids.shape[1]
    return [row.nonzero().flatten().tolist() + [length] for row in starts]


_last_bounds: tuple = (lambda: None, -1, [])  # (weakref to position_ids, its version, its bounds)


def forward_bounds(position_ids: torch.Tensor, batch: int) -> list[list[int]]:
    """sample_bounds once per forward: every layer gets the same position_ids tensor, and finding the bounds costs
    a host sync (a GPU stall per layer otherwise). Keyed on the tensor's identity and in-place version; inference
    tensors keep no version, so they (a generation prefill) are looked at in every layer."""
    global _last_bounds
    if position_ids.is_inference():
        return sample_bounds(position_ids.expand(batch, -1))
    ref, version, bounds = _last_bounds
    if ref() is not position_ids or version != position_ids._version or len(bounds) != batch:
        bounds = sample_bounds(position_ids.expand(batch, -1))
        _last_bounds = (weakref.ref(position_ids), position_ids._version, bounds)
    return bounds


def sdpa_varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query (B, H, L, D), key/value (B, H_kv, L, D) -> ((B, L, H, D), None), as transformers' attention functions."""
    position_ids = kwargs.get("position_ids")
    packed = attention_mask is None and position_ids is not None and query.shape[2] == key.shape[2] > 1
    bounds = forward_bounds(position_ids, query.shape[0]) if packed else []
    if not packed or all(len(b) == 2 for b in bounds):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    gqa = query.shape[1] != key.shape[1]
    rows = []
    for b, row in enumerate(bounds):
        rows.append(
            torch.cat(
                [
                    F.scaled_dot_product_attention(
                        query[b : b + 1, :, s:e],
                        key[b : b + 1, :, s:e],
                        value[b : b + 1, :, s:e],
                        dropout_p=dropout,
                        scale=scaling,
                        is_causal=True,
                        enable_gqa=gqa,
                    )
                    for s, e in zip(row[:-1], row[1:])
                ],
                dim=2,
            )
        )
    return torch.cat(rows).transpose(1, 2).contiguous(), None


def sdpa_varlen_mask(**kwargs) -> torch.Tensor | None:
    """No (L, L) mask for a packed or plain causal row without a cache (the attention finds the samples in
    position_ids); anything else gets sdpa's own mask, for the calls that go to transformers' SDPA path."""
    if kwargs.get("attention_mask") is None and kwargs["q_length"] == kwargs["kv_length"]:
        return None
    return sdpa_mask(**kwargs)


AttentionInterface.register(NAME, sdpa_varlen_attention)
AttentionMaskInterface.register(NAME, sdpa_varlen_mask)
