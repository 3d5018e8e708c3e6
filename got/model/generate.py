"""Batched greedy decoding with a KV cache for GOTModel.

Prompts of different lengths (one view, multi-crop views, several pages) are left-padded into one batch;
position_ids count only real tokens, so a padded prompt decodes exactly as it would alone.
"""

import torch
from transformers import DynamicCache
from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor

from got.model.got import GOTModel


@torch.no_grad()
def generate(
    model: GOTModel,
    prompts: list[list[int]],
    images: list[torch.Tensor | None],
    *,
    max_new_tokens: int = 512,
    no_repeat_ngram_size: int = 0,
) -> list[list[int]]:
    """Greedy continuation of each prompt until `<|im_end|>` (not included) or max_new_tokens.

    prompts: token ids per sample; images: uint8 views (V_i, 3, S, S) per sample, or None for none.
    """
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} prompts but {len(images)} image entries")
    if not prompts:
        return []
    cfg = model.cfg
    device = model.device
    batch, width = len(prompts), max(len(p) for p in prompts)
    input_ids = torch.full((batch, width), cfg.pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros((batch, width), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        input_ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    views = [v for v in images if v is not None]
    embeds = model.embed(input_ids, torch.cat(views).to(device) if views else None)

    base, embed_tokens = model.decoder.base_model, model.decoder.get_input_embeddings()
    cache = DynamicCache(config=model.decoder.config)
    ban_repeats = NoRepeatNGramLogitsProcessor(no_repeat_ngram_size) if no_repeat_ngram_size > 0 else None
    history = input_ids
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    steps = []
    for _ in range(max_new_tokens):
        out = base(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, cache=cache, use_cache=True)
        logits = model.lm_head(out.last_hidden_state[:, -1]).float()
        if ban_repeats is not None:
            logits = ban_repeats(history, logits)
        token = logits.argmax(-1).masked_fill(done, cfg.pad_token_id)
        steps.append(token)
        done |= token == cfg.eos_token_id
        if bool(done.all()):
            break
        history = torch.cat([history, token[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position_ids = position_ids[:, -1:] + 1
        embeds = embed_tokens(token[:, None])

    generated = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in prompts]
    return [seq[: seq.index(cfg.eos_token_id)] if cfg.eos_token_id in seq else seq for seq in generated]
