"""The chunked linear + cross-entropy equals the naive full-logits path, in value and in gradients."""

import pytest
import torch

from got.model.loss import IGNORE_INDEX, linear_cross_entropy, reference_cross_entropy


def problem(n=37, d=16, vocab=101, ignored=0.3, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(2, n, d, generator=g, dtype=dtype).requires_grad_()
    weight = torch.randn(vocab, d, generator=g, dtype=dtype).requires_grad_()
    labels = torch.randint(0, vocab, (2, n), generator=g)
    labels[torch.rand(2, n, generator=g) < ignored] = IGNORE_INDEX
    return hidden, weight, labels


@pytest.mark.parametrize("chunk", [1, 7, 16, 4096])
def test_equals_plain_cross_entropy_value_and_grads(chunk):
    hidden, weight, labels = problem()
    ours = linear_cross_entropy(hidden, weight, labels, chunk_tokens=chunk)
    gh, gw = torch.autograd.grad(ours, (hidden, weight))
    ref = reference_cross_entropy(hidden, weight, labels)
    rh, rw = torch.autograd.grad(ref, (hidden, weight))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gh, rh, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-6)


def test_sum_reduction_and_upstream_gradient_scale():
    hidden, weight, labels = problem(seed=1)
    n = int((labels != IGNORE_INDEX).sum())
    total = linear_cross_entropy(hidden, weight, labels, chunk_tokens=5, reduction="sum")
    torch.testing.assert_close(total / n, reference_cross_entropy(hidden, weight, labels))
    (3.0 * total).backward()
    ref_h = hidden.detach().clone().requires_grad_()
    (3.0 * n * reference_cross_entropy(ref_h, weight.detach(), labels)).backward()
    torch.testing.assert_close(hidden.grad, ref_h.grad, rtol=1e-5, atol=1e-5)


def test_frozen_weight_and_no_labels():
    hidden, weight, labels = problem(seed=2)
    weight.requires_grad_(False)
    loss = linear_cross_entropy(hidden, weight, labels, chunk_tokens=8)
    loss.backward()
    assert hidden.grad is not None and weight.grad is None
    empty = torch.full_like(labels, IGNORE_INDEX)
    zero = linear_cross_entropy(hidden, weight, empty)
    assert zero.item() == 0.0


def test_bf16_close_to_fp32_reference():
    hidden, weight, labels = problem(n=64, d=32, vocab=257, seed=3)
    ours = linear_cross_entropy(hidden.bfloat16(), weight.bfloat16(), labels, chunk_tokens=16)
    ref = reference_cross_entropy(hidden, weight, labels)
    assert abs(ours.item() - ref.item()) / ref.item() < 2e-2


def test_bad_reduction():
    hidden, weight, labels = problem()
    with pytest.raises(ValueError, match="reduction"):
        linear_cross_entropy(hidden, weight, labels, reduction="none")
