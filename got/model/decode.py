"""A decode step outside transformers' modules: the fused step of Qwen2/Llama-family decoders, and greedy's
argmax over a large vocabulary head through a bf16 screen (`ScreenedHead`, at the end).

transformers' decoder step is a tree of modules, decorators, mask builders and output dataclasses: at batch 8 on
the tiny config that Python costs more than the arithmetic. `FusedDecodeStep` reads the decoder's weights and runs
the same arithmetic in a flat loop: q/k/v in one matmul (weights concatenated once per `generate` call), RoPE from
a table built once (the same float ops as transformers' rotary embedding, so the same values), SDPA against the
preallocated KV buffers of `GrowingLayer`, RMSNorm and the gated MLP written as transformers writes them. Its
matmuls run in the orientation that reads the weights fastest on CPU (`rows_linear`; transposed copies for a
single row, `_proj`); that changes the sums only by float reassociation.
The prefill still runs through transformers (one call), and fills the same buffers.

Only plain configurations are taken (`fused_step` returns None otherwise, and generate keeps the transformers
path): model_type qwen2 or llama, SDPA attention, default RoPE, SiLU, no sliding window.
"""

import weakref
from typing import NamedTuple

import torch
import torch.nn.functional as F

FUSED_TYPES = frozenset({"qwen2", "llama"})


def fused_step(decoder, cache_layers: list, max_positions: int, rows: int) -> "FusedDecodeStep | None":
    """The fused step for this decoder at `rows` rows a step, or None where its configuration is not one we
    reproduce exactly."""
    cfg = decoder.config
    if cfg.model_type not in FUSED_TYPES or cfg._attn_implementation not in ("sdpa", "sdpa_varlen") or decoder.training:
        return None
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default" or cfg.hidden_act != "silu":
        return None
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
        return None
    return FusedDecodeStep(decoder, cache_layers, max_positions, rows)


class Proj(NamedTuple):
    """A projection of the step: weight (out, in), or (in, out) where `transposed`, and bias."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    transposed: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.transposed:
            return rows_linear(x, self.weight, self.bias)
        return x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)


class LayerWeights(NamedTuple):
    norm1: tuple[torch.Tensor, float]  # RMSNorm weight, eps
    qkv: Proj  # q, k, v projections concatenated
    o: Proj
    norm2: tuple[torch.Tensor, float]
    gate: Proj
    up: Proj
    down: Proj
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


# With one row on CPU, MKL reads a weight stored (in, out) faster, as x @ weight, than nn.Linear's (out, in):
# measured on the 0.5B decoder's layer weights, 1.2-1.28x a pass; from 2 rows it is slower. A single-row step
# (OCR of one page at a time) keeps transposed copies of its large weights, built once per `generate` call.
def _proj(weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> Proj:
    if rows == 1 and weight.device.type == "cpu" and weight.numel() >= WEIGHT_MAJOR_MIN_NUMEL:
        return Proj(weight.T.contiguous(), bias, True)
    return Proj(weight, bias)


class FusedDecodeStep:
    def __init__(self, decoder, cache_layers: list, max_positions: int, rows: int):
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
                    qkv=_proj(torch.cat([p.weight for p in projections]), qkv_bias, rows),
                    o=_proj(a.o_proj.weight, a.o_proj.bias, rows),
                    norm2=(layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon),
                    gate=_proj(m.gate_proj.weight, m.gate_proj.bias, rows),
                    up=_proj(m.up_proj.weight, m.up_proj.bias, rows),
                    down=_proj(m.down_proj.weight, m.down_proj.bias, rows),
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
            qkv = w.qkv(self.rms_norm(hidden, w.norm1))
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
            hidden = hidden + w.o(out.reshape(batch, heads * dim))
            x = self.rms_norm(hidden, w.norm2)
            hidden = hidden + w.down(w.act(w.gate(x)) * w.up(x))
        return self.rms_norm(hidden, self.norm)


# Greedy decoding needs only the argmax of the logits, and on CPU a decode step of a large-vocabulary model is
# bound by reading the head's weights (a third of the 0.5B decoder's bytes). `ScreenedHead` reads a bf16 copy
# (half the bytes), bounds how far each bf16 logit can lie from the fp32 one, and computes in fp32 only the
# tokens that could still be the maximum: the same argmax as the fp32 head, for about half its reads.
SCREEN_MIN_NUMEL = 1 << 24  # heads of 64 MB and up (OPT-125M's, Qwen's); smaller ones gain nothing
BF16_UNIT = 2.0**-8  # unit roundoff of bf16 (8 significant bits, round to nearest)
FP32_UNIT = 2.0**-24
SCREEN_MAX_SHARE = 8  # more candidates than vocab / 8 in a step: the full fp32 head is cheaper


def plain_head(lm_head: torch.nn.Module) -> bool:
    """A bias-free nn.Linear without hooks: its logits are hidden @ weight.T, so it may be computed another way."""
    plain = type(lm_head) is torch.nn.Linear and lm_head.bias is None
    return plain and not lm_head._forward_hooks and not lm_head._forward_pre_hooks


class ScreenedHead:
    """The fp32 head's greedy argmax through a bf16 screen, for a plain Linear head (V, d) on CPU.

    Error bound, per token i and row x, with S_i = sum_j |x_j w_ij| <= |x| |w_i| (Cauchy-Schwarz) and u = 2^-8:
    rounding x and w_i to bf16 moves the exact dot product by at most (2u + u^2) S_i; the kernel's fp32 sum of d
    products by gamma_d (1 + u)^2 S_i, gamma_d = d 2^-24 / (1 - d 2^-24); rounding that sum to the bf16 output
    b_i by u (1 + gamma_d)(1 + u)^3 / (1 - u) S_i; and the fp32 head's own sum lies within gamma_d S_i of the
    exact one. So |b_i - f_i| <= c |x| |w_i| =: E_i, and the bound is doubled as a margin for kernels that sum in
    another way than assumed. With m = argmax b, f_m >= b_m - E_m, and a token whose f_i can reach that has
    b_i >= b_m - c |x| (|w_m| + max_k |w_k|): every such token is computed in fp32 and the largest taken. Its
    argmax is the fp32 head's, up to the float reassociation any two fp32 kernels differ by.
    """

    def __init__(self, weight: torch.Tensor):
        d, u = weight.shape[1], BF16_UNIT
        gamma = d * FP32_UNIT / (1 - d * FP32_UNIT)
        per_norm = (2 * u + u * u) + gamma * ((1 + u) ** 2 + 1) + u * (1 + gamma) * (1 + u) ** 3 / (1 - u)
        self.coef = 2 * per_norm
        self.weight = weight
        self.low = weight.to(torch.bfloat16)
        self.row_norm = torch.linalg.vector_norm(weight, dim=1)
        self.max_norm = self.row_norm.max()

    @classmethod
    def of(cls, lm_head: torch.nn.Module) -> "ScreenedHead | None":
        """The screen for this head, or None where it does not apply: a head with a bias or hooks, not fp32, not on
        the CPU (GPU bf16 matmuls may reduce in bf16, outside the bound), or too small to gain. Kept between calls
        while the weight is unchanged (same storage, no in-place update since)."""
        if not plain_head(lm_head):
            return None
        weight = lm_head.weight
        if weight.device.type != "cpu" or weight.dtype != torch.float32 or weight.numel() < SCREEN_MIN_NUMEL:
            return None
        key = (weight.data_ptr(), weight._version)
        cached = _SCREENS.get(lm_head)
        if cached is None or cached[0] != key:
            cached = _SCREENS[lm_head] = (key, cls(weight.detach()))
        return cached[1]

    def argmax(self, hidden: torch.Tensor, ban: torch.Tensor | None = None) -> torch.Tensor:
        """argmax over the vocabulary of hidden @ weight.T (B, d) -> (B,), banned tokens (B, V) bool excluded."""
        screen = F.linear(hidden.to(torch.bfloat16), self.low).float()
        if ban is not None:
            screen.masked_fill_(ban, float("-inf"))
        top, best = screen.max(-1)
        reach = self.coef * torch.linalg.vector_norm(hidden, dim=1) * (self.row_norm[best] + self.max_norm)
        ids = (screen >= (top - reach)[:, None]).any(0).nonzero()[:, 0]
        if not 0 < ids.numel() * SCREEN_MAX_SHARE <= self.weight.shape[0]:  # none (NaN), or the full head is cheaper
            ids = None
        # any superset of the candidates holds the fp32 maximum, so rows share one set
        exact = rows_linear(hidden, self.weight) if ids is None else F.linear(hidden, self.weight[ids])
        if ban is not None:
            exact.masked_fill_(ban if ids is None else ban[:, ids], float("-inf"))
        best = exact.argmax(-1)
        return best if ids is None else ids[best]


_SCREENS: "weakref.WeakKeyDictionary[torch.nn.Module, tuple]" = weakref.WeakKeyDictionary()
