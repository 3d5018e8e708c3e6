"""Stage 4 (GRPO): advantages and the loss on hand-computed cases, labels only on answers, log-probabilities equal
to the model's own, and a 2-process deepspeed run that resumes exactly after SIGKILL."""

import math

import pytest
import torch

from got.config import load_model_config
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer
from got.train.grpo import Group, advantages, answer_logprobs, grpo_loss, packed

from datagen import losses
from test_infer_api import model_dir  # noqa: F401  (the tiny checkpoint with varied answers)
from test_resume import kill_after, records
from test_train import command, shards, train  # noqa: F401  (shards: the module-scoped shard fixture)


def test_group_relative_advantages():
    # totals 1, 0, 0, 1: mean 0.5, population std 0.5 -> +1, -1, -1, +1
    assert advantages([1.0, 0.0, 0.0, 1.0]) == pytest.approx([1, -1, -1, 1], abs=1e-5)
    assert advantages([0.2, 0.2, 0.2]) == [0.0, 0.0, 0.0]  # a group that agrees teaches nothing
    assert advantages([3.0, 1.0]) == pytest.approx([1, -1], abs=1e-5)


def test_clipped_surrogate_and_kl_by_hand():
    old = torch.log(torch.tensor([0.5, 0.5, 0.2, 0.2]))
    new = old + torch.log(torch.tensor([1.5, 1.5, 1.0, 1.0]))  # ratios 1.5, 1.5, 1, 1
    adv = torch.tensor([2.0, -2.0, 1.0, -1.0])
    ref = new - torch.tensor([0.0, 0.0, 0.1, -0.1])  # ref - new = 0, 0, -0.1, 0.1
    loss, stats = grpo_loss(new, old, ref, adv, clip_eps=0.2, beta=0.5)
    # surrogates: min(1.5*2, 1.2*2) = 2.4; min(-3, -2.4) = -3; 1; -1  -> mean -0.15
    kl = [0, 0, math.exp(-0.1) + 0.1 - 1, math.exp(0.1) - 0.1 - 1]
    assert float(loss) == pytest.approx(-((2.4 - 3 + 1 - 1) / 4 - 0.5 * sum(kl) / 4), abs=1e-6)
    assert stats["clipped"] == 0.5 and stats["kl"] == pytest.approx(sum(kl) / 4, abs=1e-7)


def test_at_the_rollout_policy_the_gradient_is_the_advantage():
    """ratio 1, no KL: d loss / d logp = -A / N for every token, the policy gradient."""
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    adv = torch.tensor([0.5, -1.0, 2.0])
    loss, _ = grpo_loss(logp, logp.detach(), None, adv, clip_eps=0.2, beta=0.0)
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv / 3)


def tiny_group(model, tokenizer) -> Group:
    views = torch.randint(0, 256, (1, 3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    prompt = [5, 6] + [model.cfg.image_token_id] * 16 + [7]
    answers = [[10, 11, 12, tokenizer.im_end_id], [13, 14]]  # one stopped, one ran out of tokens
    return Group(prompt, views, answers, [{"total": 1.0}, {"total": 0.0}], [1.0, -1.0], [True, False], [False, False])


def test_only_answer_tokens_carry_the_loss_with_their_advantage():
    tokenizer = GOTTokenizer.default()
    model = GOTModel(load_model_config("tiny_qwen")).eval()
    group = tiny_group(model, tokenizer)
    batch, token_adv = packed([group])
    labelled = batch["labels"][batch["labels"] != -100].tolist()
    assert labelled == group.answers[0] + group.answers[1]  # the stopped answer's <|im_end|> included
    assert token_adv.tolist() == [1.0] * 4 + [-1.0] * 2
    # The log-probabilities are the model's own next-token distribution at those positions.
    with torch.no_grad():
        ours = answer_logprobs(model, batch)
        expected = []
        for answer in group.answers:
            ids = torch.tensor([group.prompt + answer])
            logits = model(ids, group.views)[0].log_softmax(-1)
            expected += [logits[len(group.prompt) - 1 + i, t] for i, t in enumerate(answer)]
    torch.testing.assert_close(ours, torch.stack(expected), rtol=1e-5, atol=1e-5)


RL = (
    "train.max_steps=4",
    "train.save_every=2",
    "rl.group_size=4",
    "rl.prompts_per_step=1",
    "rl.max_new_tokens=8",
    "rl.temperature=1.5",
    "optim.lr=1e-3",
    "optim.warmup_steps=1",
)


def test_a_killed_rl_run_resumes_exactly(tmp_path, shards, model_dir):  # noqa: F811
    args = (f"init.model_from={model_dir}", *RL)  # a tiny model with varied answers
    full = tmp_path / "full"
    result = train(4, full, shards, *args)
    steps = [r for r in records(full) if "reward/total" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4] and all(0 <= r["reward/total"] <= 1 for r in steps)
    assert all(
        {"kl", "reward/spread", "looping", "stopped", "answer_tokens", "reward/similarity"} <= set(r) for r in steps
    )
    assert "Traceback" not in result.stderr
    killed = tmp_path / "killed"
    kill_after(killed, command(4, killed, shards, *args), 3)
    assert 3 <= max(losses(killed)) < 4
    train(4, killed, shards, *args)
    drop = ("session", "s/step")
    assert [{k: v for k, v in r.items() if k not in drop} for r in records(killed)] == [
        {k: v for k, v in r.items() if k not in drop} for r in records(full)
    ]
