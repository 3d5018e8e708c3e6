"""Sampled decoding (temperature, top-p) for RL rollouts: the distribution is transformers' own, draws follow it,
and a seeded generator makes a batch of rollouts reproducible."""

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from got.model.generate import Sampling, decode_steps, generate

from test_model import make_model, sample


@pytest.mark.parametrize("temperature, top_p", [(1.0, 0.9), (0.7, 0.5), (2.0, 1.0), (1.3, 0.05)])
def test_distribution_is_transformers_temperature_then_top_p(temperature, top_p):
    logits = torch.randn(4, 300, generator=torch.Generator().manual_seed(0)) * 3
    logits[0, 5] = float("-inf")  # a token the n-gram ban removed
    ours = Sampling(temperature, top_p).probs(logits)
    warped = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_p < 1:
        warped = TopPLogitsWarper(top_p)(None, warped)
    theirs = torch.softmax(warped, -1)
    torch.testing.assert_close(ours / ours.sum(-1, keepdim=True), theirs, rtol=0, atol=1e-6)
    assert torch.equal(ours > 0, theirs > 0)


def test_draws_follow_the_cut_distribution():
    """probs 0.5, 0.3, 0.15, 0.05 with top_p 0.7: the mass before the third token is 0.8, so only the first two
    stay, renormalised to 0.625 and 0.375 (hand-computed)."""
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log().expand(20000, 4)
    draws = Sampling(1.0, 0.7, torch.Generator().manual_seed(1))(logits)
    counts = torch.bincount(draws, minlength=4) / len(draws)
    assert counts[2] == counts[3] == 0
    assert abs(counts[0] - 0.625) < 0.015 and abs(counts[1] - 0.375) < 0.015


def test_rollouts_are_reproducible_per_seed_and_differ_within_a_group():
    model = make_model("tiny_qwen")
    ids, images = sample(model, 1, 3, seed=40)
    group = 4  # G rollouts of one prompt in one batch

    def rollouts(seed: int) -> list[list[int]]:
        sampling = Sampling(temperature=1.5, top_p=0.95, generator=torch.Generator().manual_seed(seed))
        return generate(model, [ids] * group, [images] * group, max_new_tokens=8, sampling=sampling)

    first = rollouts(0)
    assert rollouts(0) == first
    assert rollouts(1) != first
    assert len({tuple(r) for r in first}) > 1  # the group explores


def test_decode_steps_yield_the_generated_tokens():
    model = make_model("tiny_qwen")
    ids, images = sample(model, 1, 3, seed=41)
    steps = list(decode_steps(model, [ids], [images], max_new_tokens=5))
    assert [int(t[0]) for t in steps] == generate(model, [ids], [images], max_new_tokens=5)[0]


@pytest.mark.parametrize(
    "kwargs, match", [({"temperature": 0}, "temperature"), ({"top_p": 0}, "top_p"), ({"top_p": 1.5}, "top_p")]
)
def test_bad_sampling_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sampling(**kwargs)
