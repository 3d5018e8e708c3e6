"""Batched decoding with a KV cache for GOTModel: greedy, or sampled with temperature and top-p (`Sampling`).

Prompts of different lengths (one view, multi-crop views, several pages) are left-padded into one batch;
position_ids count only real tokens, so a padded prompt decodes exactly as it would alone.

Speed (bench/generate.py measures it against transformers' generate):
- the KV cache, the token history and the attention mask are allocated once and written in place; transformers'
  DynamicCache concatenates, copying the whole cache at every step;
- the n-gram ban is a vectorised match of the last n-1 tokens against the history, on the device; transformers'
  processor rebuilds every n-gram of every row in Python at every step;
- the host only checks whether every row is done every SYNC_EVERY steps; `decode_steps` yields each step's tokens
  on the device, so a caller that streams text pays the one sync per step it asks for, and `generate` none;
- Qwen2/Llama decoders take their decode steps through `got.model.decode.FusedDecodeStep` (transformers' modules
  cost more Python than arithmetic at small widths; same hidden states), other decoders (OPT) through
  transformers; the prompt always goes through transformers;
- on CPU, from 8 rows, the decode step's large matmuls, the head's included, run as weight @ hidden.T
  (`rows_linear`), the orientation in which MKL reads the weights fastest: a decode step is bound by those reads;
- greedy decoding on CPU picks each token through `ScreenedHead` (a large fp32 head read in bf16, the few tokens
  that could be the maximum then in fp32): the same argmax for half the head's reads.
"""

from dataclasses import dataclass
from typing import Iterator

import torch
from transformers.cache_utils import Cache, DynamicLayer

from got.model.decode import ScreenedHead, fused_step, plain_head, rows_linear
from got.model.got import GOTModel

SYNC_EVERY = 8  # a finished row keeps emitting pad until the next check: at most SYNC_EVERY - 1 wasted steps


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys and values are views of a buffer allocated once at full length."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.device, self.is_initialized = key_states.device, True
            self.key_buffer = key_states.new_empty(*key_states.shape[:2], self.capacity, key_states.shape[3])
            self.value_buffer = value_states.new_empty(*value_states.shape[:2], self.capacity, value_states.shape[3])
        end = self.length + key_states.shape[-2]
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
        return self.keys, self.values


def repeat_ban(history: torch.Tensor, real: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """(B, vocab) bool: the tokens that would complete an n-gram already in their row (transformers'
    no_repeat_ngram rule).

    history: (B, L) tokens so far; real: (B, L) bool, False on left padding, whose n-grams do not count.
    """
    windows, real = history.unfold(1, n, 1), real.unfold(1, n, 1).all(-1)  # (B, L-n+1, n), (B, L-n+1)
    seen = (windows[:, :, :-1] == history[:, None, history.shape[1] - n + 1 :]).all(-1) & real
    banned = torch.where(seen, windows[:, :, -1], vocab)  # the extra column `vocab` collects non-matches
    ban = torch.zeros(history.shape[0], vocab + 1, dtype=torch.bool, device=history.device).scatter_(1, banned, True)
    return ban[:, :vocab]


def project(lm_head: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """Logits (B, vocab) of the last hidden states: a plain Linear head through `rows_linear` (the orientation
    that reads its weight fastest), any other head, or one with hooks, called as a module."""
    return rows_linear(hidden, lm_head.weight) if plain_head(lm_head) else lm_head(hidden)


@dataclass(frozen=True)
class Sampling:
    """Sampling instead of greedy decoding: softmax(logits / temperature), cut to the smallest set of tokens whose
    probability reaches top_p (nucleus sampling), drawn with `generator` (seed it per rank for reproducible runs)."""

    temperature: float = 1.0
    top_p: float = 1.0
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (greedy decoding is sampling=None), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """The distribution drawn from, per row of fp32 logits (B, vocab), unnormalised after the top-p cut."""
        probs = torch.softmax(logits / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # keep a token while the mass before it is below top_p: the first token is always kept
            drop = sorted_probs.cumsum(-1) - sorted_probs >= self.top_p
            probs = probs.scatter(-1, order, sorted_probs.masked_fill(drop, 0.0))
        return probs

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """One token per row; banned tokens (-inf logits) are never drawn."""
        return torch.multinomial(self.probs(logits), 1, generator=self.generator)[:, 0]


@torch.inference_mode()
def decode_steps(
    model: GOTModel,
    prompts: list[list[int]],
    images: list[torch.Tensor | None],
    *,
    max_new_tokens: int = 512,
    no_repeat_ngram_size: int = 0,
    sampling: Sampling | None = None,
) -> Iterator[torch.Tensor]:
    """Each decode step's tokens (B,), left on the device, until every row has emitted `<|im_end|>` (checked every
    SYNC_EVERY steps; a finished row emits pad) or max_new_tokens. Greedy unless `sampling` is given.

    prompts: token ids per sample; images: uint8 views (V_i, 3, S, S) per sample, or None for none.
    """
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} prompts but {len(images)} image entries")
    if not prompts or max_new_tokens <= 0:
        return
    cfg = model.cfg
    device = model.device
    batch, width = len(prompts), max(len(p) for p in prompts)
    total = width + max_new_tokens
    tokens = torch.full((batch, total), cfg.pad_token_id, dtype=torch.long, device=device)
    mask = torch.ones((batch, total), dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        tokens[i, width - len(p) : width] = torch.tensor(p, dtype=torch.long)
        mask[i, : width - len(p)] = 0
    position_ids = (mask[:, :width].cumsum(-1) - 1).clamp(min=0)
    views = [v for v in images if v is not None]
    embeds = model.embed(tokens[:, :width], torch.cat(views).to(device) if views else None)

    base, embed_tokens = model.decoder.base_model, model.decoder.get_input_embeddings()
    layers = model.decoder.config.get_text_config(decoder=True).num_hidden_layers
    cache = Cache(layers=[GrowingLayer(total) for _ in range(layers)])
    fused = fused_step(model.decoder, cache.layers, int(position_ids.max()) + max_new_tokens + 1, batch)
    pad_mask = mask.bool()[:, None, None, :] if bool((mask[:, :width] == 0).any()) else None
    vocab = model.lm_head.weight.shape[0]
    screen = ScreenedHead.of(model.lm_head) if sampling is None else None
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    length, token = width, None  # token: the last step's, fed to the next
    for step in range(max_new_tokens):
        if step == 0:  # the prompt, through transformers: it fills the cache
            out = base(
                inputs_embeds=embeds,
                attention_mask=mask[:, :width],
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
            )
            hidden = out.last_hidden_state[:, -1]
        elif fused is not None:
            hidden = fused(token, position_ids[:, -1], length - 1, None if pad_mask is None else pad_mask[..., :length])
        else:
            out = base(
                inputs_embeds=embed_tokens(token[:, None]),
                attention_mask=mask[:, :length],
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
            )
            hidden = out.last_hidden_state[:, -1]
        ban = None
        if 0 < no_repeat_ngram_size <= length:
            ban = repeat_ban(tokens[:, :length], mask[:, :length].bool(), no_repeat_ngram_size, vocab)
        if screen is not None:
            token = screen.argmax(hidden, ban)
        else:
            logits = project(model.lm_head, hidden).float()
            logits = logits if ban is None else logits.masked_fill(ban, float("-inf"))
            token = logits.argmax(-1) if sampling is None else sampling(logits)
        token = token.masked_fill(done, cfg.pad_token_id)
        tokens[:, length] = token
        length += 1
        done |= token == cfg.eos_token_id
        yield token
        if (step + 1) % SYNC_EVERY == 0 and bool(done.all()):
            break
        position_ids = position_ids[:, -1:] + 1


def generate(
    model: GOTModel,
    prompts: list[list[int]],
    images: list[torch.Tensor | None],
    *,
    max_new_tokens: int = 512,
    no_repeat_ngram_size: int = 0,
    sampling: Sampling | None = None,
) -> list[list[int]]:
    """The continuation of each prompt until `<|im_end|>` (not included) or max_new_tokens (see decode_steps)."""
    steps = list(
        decode_steps(
            model,
            prompts,
            images,
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
            sampling=sampling,
        )
    )
    if not steps:
        return [[] for _ in prompts]
    eos = model.cfg.eos_token_id
    generated = torch.stack(steps, 1).tolist()
    return [seq[: seq.index(eos)] if eos in seq else seq for seq in generated]
