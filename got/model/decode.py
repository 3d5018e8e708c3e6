"""One greedy decode step for Qwen2/Llama-family decoders, outside transformers' modules.

transformers' decoder step is a tree of modules, decorators, mask builders and output dataclasses: at batch 8 on
the tiny config that Python costs more than the arithmetic. `FusedDecodeStep` reads the decoder's weights and runs
the same arithmetic in a flat loop: q/k/v in one matmul (weights concatenated once per `generate` call), RoPE from
a table built once (the same float ops as transformers' rotary embedding, so the same values), SDPA against the
preallocated KV buffers of `GrowingLayer`, RMSNorm and the gated MLP written as transformers writes them. Its
matmuls go through `rows_linear`, in the orientation that reads the weights fastest; that changes the sums only
by float reassociation.
The prefill still runs through transformers (one call), and fills the same buffers.

Only plain configurations are taken (`fused_step` returns None otherwise, and generate keeps the transformers
path): model_type qwen2 or llama, SDPA attention, default RoPE, SiLU, no sliding window.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

FUSED_TYPES = frozenset({"qwen2", "llama"})


def fused_step(decoder, cache_layers: list, max_positions: int) -> "FusedDecodeStep | None":
    """The fused step for this decoder, or None where its configuration is not one we reproduce exactly."""
    cfg = decoder.config
    if cfg.model_type not in FUSED_TYPES or cfg._attn_implementation not in ("sdpa", "sdpa_varlen") or decoder.training:
        return None
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default" or cfg.hidden_act != "silu":
        return None
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
        return None
    return FusedDecodeStep(decoder, cache_layers, max_positions)


class LayerWeights(NamedTuple):
    norm1: tuple[torch.Tensor, float]  # RMSNorm weight, eps
    qkv: tuple[torch.Tensor, torch.Tensor | None]  # q, k, v projections concatenated: weight, bias
    o: tuple[torch.Tensor, torch.Tensor | None]
    norm2: tuple[torch.Tensor, float]
    gate: tuple[torch.Tensor, torch.Tensor | None]
    up: tuple[torch.Tensor, torch.Tensor | None]
    down: tuple[torch.Tensor, torch.Tensor | None]
    act: object


# MKL (CPU) reads a large weight faster as weight @ x.T than as x @ weight.T once a step has 8 rows or more; with
# 2-4 rows it picks a slower kernel in that orientation. Measured per decode step of the 0.5B decoder: 1.24x faster
# at 8 rows, 1.15x at 32, 1.6x slower at 2; small weights (the tiny configs) gain nothing and pay the extra copy.
WEIGHT_MAJOR_MIN_ROWS = 8
WEIGHT_MAJOR_MIN_NUMEL = 1 << 20


def rows_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias for the few rows x (B, in) of a decode step, which is bound by reading the weights.

    On CPU, with at least WEIGHT_MAJOR_MIN_ROWS rows and a large weight, it runs as weight @ x.T (MKL then streams
    the weight's rows) and transposes the small result back; the sums are the same up to float reassociation, as
    between batch sizes.
    """
    small = x.shape[0] < WEIGHT_MAJOR_MIN_ROWS or weight.numel() < WEIGHT_MAJOR_MIN_NUMEL
    if x.device.type != "cpu" or small:
        return F.linear(x, weight, bias)
    out = weight @ x.T if bias is None else torch.addmm(bias[:, None], weight, x.T)
    return out.T.contiguous()


def _wb(linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    return linear.weight, linear.bias


class FusedDecodeStep:
    def __init__(self, decoder, cache_layers: list, max_positions: int):
        base = decoder.base_model
        attn = base.layers[0].self_attn
        self.head_dim = attn.head_dim
        self.heads = decoder.config.num_attention_heads
        self.kv_heads = decoder.config.num_key_value_heads
        self.scaling = attn.scaling
        self.embed = base.embed_tokens.weight
        self.cache = cache_layers
        self.layers = []
        for layer in base.layers:
            a, m = layer.self_attn, layer.mlp
            projections = (a.q_proj, a.k_proj, a.v_proj)
            qkv_bias = torch.cat([p.bias for p in projections]) if a.q_proj.bias is not None else None
            self.layers.append(
                LayerWeights(
                    norm1=(layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon),
                    qkv=(torch.cat([p.weight for p in projections]), qkv_bias),
                    o=_wb(a.o_proj),
                    norm2=(layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon),
                    gate=_wb(m.gate_proj),
                    up=_wb(m.up_proj),
                    down=_wb(m.down_proj),
                    act=m.act_fn,
                )
            )
        self.norm = (base.norm.weight, base.norm.variance_epsilon)
        # transformers' rotary embedding, for every position at once: freqs = position · inv_freq, cat, cos/sin.
        rotary = base.rotary_emb
        positions = torch.arange(max_positions, device=self.embed.device).float()
        freqs = positions[:, None] * rotary.inv_freq.to(device=self.embed.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        dtype = self.embed.dtype
        self.cos = (emb.cos() * rotary.attention_scaling).to(dtype)
        self.sin = (emb.sin() * rotary.attention_scaling).to(dtype)

    @staticmethod
    def rms_norm(x: torch.Tensor, norm: tuple[torch.Tensor, float]) -> torch.Tensor:
        weight, eps = norm
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        return weight * h.to(x.dtype)

    def __call__(self, token: torch.Tensor, position: torch.Tensor, slot: int, pad_mask: torch.Tensor | None):
        """Final hidden state (B, d) of one new token per row.

        token, position: (B,); slot: the cache index this token is written at (the same for every row, prompts
        being left-padded); pad_mask: (B, 1, 1, slot + 1) bool, False on padding, or None where there is none.
        """
        batch, heads, kv_heads, dim = token.shape[0], self.heads, self.kv_heads, self.head_dim
        rep = heads // kv_heads
        cos, sin = self.cos[position][:, None], self.sin[position][:, None]  # (B, 1, D)
        hidden = F.embedding(token, self.embed)
        for w, layer in zip(self.layers, self.cache):
            qkv = rows_linear(self.rms_norm(hidden, w.norm1), *w.qkv)
            qk = qkv[:, : (heads + kv_heads) * dim].reshape(batch, heads + kv_heads, dim)
            rotated = torch.cat((-qk[..., dim // 2 :], qk[..., : dim // 2]), dim=-1)
            qk = qk * cos + rotated * sin
            layer.key_buffer[:, :, slot] = qk[:, heads:]
            layer.value_buffer[:, :, slot] = qkv[:, (heads + kv_heads) * dim :].reshape(batch, kv_heads, dim)
            keys, values = layer.key_buffer[:, :, : slot + 1], layer.value_buffer[:, :, : slot + 1]
            q = qk[:, :heads, None]  # (B, H, 1, D)
            extra = {}
            if rep > 1:  # as transformers' sdpa_attention_forward: GQA in SDPA without a mask, else packed queries
                if pad_mask is None:
                    extra["enable_gqa"] = True
                else:
                    q = q.reshape(batch, kv_heads, rep, dim)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=pad_mask, scale=self.scaling, **extra)
            hidden = hidden + rows_linear(out.reshape(batch, heads * dim), *w.o)
            x = self.rms_norm(hidden, w.norm2)
            hidden = hidden + rows_linear(w.act(rows_linear(x, *w.gate)) * rows_linear(x, *w.up), *w.down)
        return self.rms_norm(hidden, self.norm)
