"""Stage 4: reinforcement learning with verifiable rewards, by GRPO (Group Relative Policy Optimization).

One optimizer step on each rank:
1. rollouts: prompts_per_step samples of the data mixture, G sampled answers each (temperature, top-p, KV-cached
   decoding, seeded per (seed, rank, step) so a resumed run draws the same answers);
2. rewards: got.train.rewards scores every answer against its sample (similarity, format validity, stopping,
   repetition, ...), weighted into one total;
3. advantages: each answer's total minus its group's mean, over the group's standard deviation (a group whose
   answers all score the same teaches nothing and gets advantage 0);
4. the policy loss on the answer tokens only: the clipped ratio objective of PPO with the group advantages, minus
   beta times the k3 estimate of the KL divergence to the frozen starting model, averaged over all answer tokens of
   the step (token-level, so long answers are not down-weighted). `epochs` > 1 reuses the rollouts for several
   updates, where the ratio to the rollout policy and its clip take effect.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.distributed as dist

from got.data.packing import Encoded, collate_packed
from got.data.pipeline import DataConfig, Slot, mixture_stream, start_position
from got.data.sample import Sample, query_for
from got.data.shards import BadSample, count_skip, decode_images, expand_urls, parse_sample, to_sample
from got.eval.metrics import cut_loop
from got.model.generate import Sampling, decode_steps
from got.model.got import GOTModel
from got.model.loss import IGNORE_INDEX, token_logprobs
from got.prompts import encode_prompt
from got.tokenizer import GOTTokenizer
from got.train.checkpoint import generation_model
from got.train.rewards import RewardConfig, Rollout, score


@dataclass
class RLConfig:
    group_size: int = 8  # G: sampled answers per prompt
    prompts_per_step: int = 2  # prompts per rank per optimizer step
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    clip_eps: float = 0.2  # PPO's clip of the policy ratio
    beta: float = 0.04  # weight of the KL penalty to the starting model; 0 skips the reference model and its memory
    epochs: int = 1  # policy updates per batch of rollouts
    rewards: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(
                f"rl.group_size must be >= 2 (advantages compare answers within a group), got {self.group_size}"
            )
        if min(self.prompts_per_step, self.max_new_tokens, self.epochs) < 1 or self.beta < 0 or self.clip_eps <= 0:
            raise ValueError("rl.prompts_per_step, max_new_tokens and epochs must be >= 1, beta >= 0, clip_eps > 0")
        if isinstance(self.rewards, dict):
            self.rewards = RewardConfig(**self.rewards)
        Sampling(self.temperature, self.top_p)  # bad sampling settings fail here


# --- prompts -----------------------------------------------------------------------------------------------------


class PromptStream:
    """Samples of the data mixture for rollouts: this rank's share, deterministic per seed, resumable."""

    def __init__(self, cfg: DataConfig, rank: int, world_size: int):
        self.cfg, self.slot = cfg, Slot(rank, world_size, 0)
        self.urls = [expand_urls(s.urls) for s in cfg.sets]
        self.position, self.counts = start_position(len(self.urls)), Counter()
        self._stream: Iterator | None = None

    def next(self) -> Sample:
        if self._stream is None:
            self._stream = mixture_stream(self.urls, self.cfg, self.slot, self.position, self.counts)
        while True:
            position, _, _, raw = next(self._stream)
            self.position = position
            try:
                meta, blobs = parse_sample(raw)
                return to_sample(meta, decode_images(blobs))
            except BadSample as e:
                count_skip(self.counts, e.reason, f"{raw['__key__']} in {raw['__url__']}", e.detail)

    def state_dict(self) -> dict:
        return {"position": self.position, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.position, self.counts, self._stream = state["position"], Counter(state["counts"]), None


# --- rollouts, rewards, advantages -------------------------------------------------------------------------------


@dataclass
class Group:
    """One prompt's G rollouts: what the loss needs (tokens, views) and what the logs report (rewards)."""

    prompt: list[int]
    views: torch.Tensor
    answers: list[list[int]]  # each with its final <|im_end|> when it stopped
    rewards: list[dict[str, float]]
    advantages: list[float]
    stopped: list[bool]  # ended with <|im_end|> within max_new_tokens
    looping: list[bool]  # ran out of tokens in a loop (the looping metric's detector)


def advantages(totals: list[float], eps: float = 1e-6) -> list[float]:
    """GRPO's group-relative advantages: (r - mean) / (std + eps), std the population standard deviation."""
    t = torch.tensor(totals, dtype=torch.float64)
    std = t.std(unbiased=False)
    if std < eps:
        return [0.0] * len(totals)
    return ((t - t.mean()) / (std + eps)).tolist()


@torch.no_grad()
def rollout(
    model: GOTModel, tokenizer: GOTTokenizer, sample: Sample, cfg: RLConfig, generator: torch.Generator
) -> Group:
    """G sampled answers to one sample's prompt, scored and given their advantages."""
    crop = sample.crop and len(sample.images) == 1
    views = model.cfg.views.of_images(sample.images, crop)
    prompt = encode_prompt(tokenizer, query_for(sample.meta(), len(sample.images)), len(views), model.cfg.views.tokens)
    sampling = Sampling(cfg.temperature, cfg.top_p, generator)
    steps = list(
        decode_steps(
            model,
            [prompt] * cfg.group_size,
            [views] * cfg.group_size,
            max_new_tokens=cfg.max_new_tokens,
            sampling=sampling,
        )
    )
    eos = model.cfg.eos_token_id
    answers, rewards, stops, loops = [], [], [], []
    for row in torch.stack(steps, 1).tolist():
        stopped = eos in row
        answer = row[: row.index(eos) + 1] if stopped else row
        text = tokenizer.decode(answer).strip()
        answers.append(answer)
        rewards.append(score(sample, Rollout(text, stopped), cfg.rewards))
        stops.append(stopped)
        loops.append(not stopped and cut_loop(text)[1])
    return Group(prompt, views, answers, rewards, advantages([r["total"] for r in rewards]), stops, loops)


# --- the loss ----------------------------------------------------------------------------------------------------


def packed(groups: list[Group]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every rollout as one packed training row (prompt + answer, labels on the answer), and each labelled
    token's advantage, in the order the labels are read."""
    rows, token_advantages = [], []
    for group in groups:
        for answer, advantage in zip(group.answers, group.advantages):
            ids = group.prompt + answer
            labels = [IGNORE_INDEX] * len(group.prompt) + answer
            rows.append([Encoded(ids, labels, list(group.views))])
            token_advantages += [advantage] * len(answer)
    return collate_packed(rows, pad_id=0), torch.tensor(token_advantages)


def answer_logprobs(model: GOTModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Log-probabilities of the labelled (answer) tokens under the model, in label order."""
    hidden = model.hidden_states(batch["input_ids"], batch["images"], batch.get("position_ids"))
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    return token_logprobs(hidden[:, :-1][keep], model.lm_head.weight, labels[keep], model.compute.loss_chunk_tokens)


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    token_advantages: torch.Tensor,
    clip_eps: float,
    beta: float,
) -> tuple[torch.Tensor, dict]:
    """The clipped surrogate with a k3 KL penalty, averaged over answer tokens (to be minimised)."""
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.minimum(ratio * token_advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * token_advantages)
    kl = torch.zeros_like(logprobs)
    if ref_logprobs is not None:
        delta = ref_logprobs - logprobs
        kl = torch.exp(delta) - delta - 1  # k3: unbiased, always >= 0
    loss = -(surrogate - beta * kl).mean()
    clipped = ((ratio - 1).abs() > clip_eps).float().mean()
    return loss, {"kl": float(kl.detach().mean()), "clipped": float(clipped)}


def reference_model(model: GOTModel, beta: float) -> GOTModel | None:
    """The frozen starting model for the KL penalty (none at beta 0: no second copy of the weights)."""
    if beta == 0:
        return None
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


def rl_step(
    engine,
    reference: GOTModel | None,
    tokenizer: GOTTokenizer,
    prompts: PromptStream,
    cfg: RLConfig,
    seed: int,
    step: int,
    device: torch.device,
) -> dict[str, float]:
    """One optimizer step of GRPO on this rank (collective); returns its metrics, averaged over ranks."""
    model = engine.module
    generator = torch.Generator(device=device).manual_seed(hash((seed, dist.get_rank(), step)) % 2**63)
    model.eval()
    policy = generation_model(engine, everywhere=True)  # under ZeRO-3, a plain copy: ranks decode unevenly
    groups = [rollout(policy, tokenizer, prompts.next(), cfg, generator) for _ in range(cfg.prompts_per_step)]
    del policy
    model.train()
    batch, token_adv = packed(groups)
    batch = {k: v.to(device) for k, v in batch.items()}
    token_adv = token_adv.to(device)
    with torch.no_grad():
        old = answer_logprobs(model, batch)
        ref = answer_logprobs(reference, batch) if reference is not None else None
    stats = Counter()
    for _ in range(cfg.epochs):
        loss, extra = grpo_loss(answer_logprobs(model, batch), old, ref, token_adv, cfg.clip_eps, cfg.beta)
        engine.backward(loss)
        engine.step()  # one update per call here: the engine's gradient accumulation is 1 in stage 4
        stats.update(loss=float(loss.detach()), **extra)
    return reduced_metrics(groups, list(cfg.rewards.weights), {k: v / cfg.epochs for k, v in stats.items()}, device)


def reduced_metrics(
    groups: list[Group], names: list[str], stats: dict[str, float], device: torch.device
) -> dict[str, float]:
    """Per-reward means (over the answers a reward applies to, on all ranks), the within-group reward spread, the
    stop and looping rates, the answer length and the loss terms. Every rank reduces the same keys."""
    rewards = [r for g in groups for r in g.rewards]
    sums = {}
    for name in [*names, "total"]:
        values = [r[name] for r in rewards if name in r]
        sums[f"reward/{name}"] = (sum(values), len(values))
    spreads = [torch.tensor([r["total"] for r in g.rewards]).std(unbiased=False).item() for g in groups]
    sums["reward/spread"] = (sum(spreads), len(spreads))
    for key, per_answer in (
        ("stopped", lambda g: g.stopped),
        ("looping", lambda g: g.looping),
        ("answer_tokens", lambda g: [len(a) for a in g.answers]),
    ):
        values = [float(v) for g in groups for v in per_answer(g)]
        sums[key] = (sum(values), len(values))
    sums.update({k: (v, 1) for k, v in stats.items()})
    keys = sorted(sums)
    totals = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return {k: (total / count if count else 0.0) for k, (total, count) in zip(keys, totals.tolist())}
