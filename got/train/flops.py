"""Training FLOPs from the model config, for MFU (documented in docs/performance.md).

Matmul FLOPs only (2 per multiply-add); a trained matmul costs 3× its forward (forward, input grad, weight
grad), a frozen one whose input still needs a gradient 2×, a frozen one with nothing trainable before it 1×.
"""

from got.model.got import GOTConfig


def vision_forward_flops(cfg: GOTConfig) -> float:
    """One view through the encoder and projector."""
    v = cfg.vision
    n, c = v.grid**2, v.width
    linear = 2 * n * (3 * c * c + c * c + 2 * c * v.mlp_dim)  # qkv, proj, mlp
    windows = n * v.window_size**2  # query-key pairs in window blocks (padding ignored)
    blocks = v.depth * linear
    blocks += len(v.global_layers) * 4 * n * n * c + (v.depth - len(v.global_layers)) * 4 * windows * c
    patch = 2 * n * c * 3 * v.patch_size**2
    neck = 2 * n * (c * v.out_channels + 9 * v.out_channels**2)
    g2, g4 = n // 4, n // 16
    projector = 2 * (
        g2 * 9 * v.out_channels * 2 * v.out_channels + g4 * 9 * 2 * v.out_channels * cfg.projector_channels
    )
    projector += 2 * g4 * cfg.projector_channels * cfg.decoder["hidden_size"]
    return patch + blocks + neck + projector


def decoder_forward_flops_per_token(cfg: GOTConfig, context: float) -> float:
    """One token through the decoder with `context` tokens of causal attention before it, plus the lm_head."""
    d = cfg.decoder
    h, layers = d["hidden_size"], d["num_hidden_layers"]
    ffn = d.get("intermediate_size") or d.get("ffn_dim")
    heads, kv = d["num_attention_heads"], d.get("num_key_value_heads", d["num_attention_heads"])
    mlp_mats = 3 if d["model_type"] in ("qwen2", "llama", "mistral", "qwen3") else 2  # gated MLPs have 3
    attn_proj = h * h * 2 + 2 * h * (h * kv // heads)
    per_layer = 2 * (attn_proj + mlp_mats * h * ffn) + 4 * context * h
    return layers * per_layer


def train_flops(
    cfg: GOTConfig, tokens: int, views: int, mean_context: float, labelled: int, train_vision: bool, train_decoder: bool
) -> float:
    """FLOPs of one optimizer step's worth of data (sum over micro-batches and ranks)."""
    vision = vision_forward_flops(cfg) * views * (3 if train_vision else 1)
    decoder = decoder_forward_flops_per_token(cfg, mean_context) * tokens * 3
    lm_head = 2 * cfg.decoder["hidden_size"] * cfg.decoder["vocab_size"] * labelled * (3 if train_decoder else 2)
    return vision + decoder + lm_head
