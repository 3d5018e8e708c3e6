"""Linear + cross-entropy that never materialises the full (tokens, vocab) fp32 logits.

At 8k tokens × 151,860 vocab the naive lm_head -> float -> CE path holds 4.6 GiB of logits plus as much
again for their gradient. Here only labelled positions are projected at all (GOT's prompt, with its 256
image tokens per view, carries no labels), and they are projected a chunk at a time: the gradient of each
chunk is computed in the forward pass and the logits are dropped, as Liger's fused kernel does on GPU.
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100


class _ChunkedLinearCE(torch.autograd.Function):
    """Sum of token cross-entropies of (hidden @ weight.T) against targets; gradients precomputed per chunk."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.weight_dtype = weight.dtype  # the fp32 weight-grad accumulator is cast back in backward
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start : start + chunk], targets[start : start + chunk]
            logits = (h @ weight.T).float()
            target_logit = logits.gather(1, t[:, None]).squeeze(1)
            # logsumexp worked in the logits buffer (torch.logsumexp would allocate a second (chunk, vocab) block)
            peak = logits.amax(-1, keepdim=True)
            exp = logits.sub_(peak).exp_()
            norm = exp.sum(-1, keepdim=True)
            total += (peak + norm.log()).squeeze(1).sub_(target_logit).sum()
            if need_h or need_w:
                # d(sum CE)/d(logits) = softmax - onehot, also in the logits buffer; every product below writes
                # into a preallocated buffer, so a chunk costs one (chunk, vocab) fp32 block of memory.
                grad_logits = exp.div_(norm)
                grad_logits[torch.arange(len(t), device=t.device), t] -= 1
                if need_h:
                    torch.mm(grad_logits.to(weight.dtype), weight, out=grad_h[start : start + chunk])
                if need_w:
                    grad_w.addmm_(grad_logits.T, h.float())
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors  # used once: scaled in place
        grad_h = grad_h.mul_(grad_out.to(grad_h.dtype)) if grad_h is not None else None
        grad_w = grad_w.mul_(grad_out).to(ctx.weight_dtype) if grad_w is not None else None
        return grad_h, grad_w, None, None


def _liger(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return None
    return LigerFusedLinearCrossEntropyLoss(reduction="sum")(weight, hidden, targets)


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    chunk_tokens: int = 1024,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of `hidden @ weight.T` against `labels`, ignoring IGNORE_INDEX.

    hidden: (..., d); weight: (vocab, d); labels: (...) aligned with hidden (already shifted by the caller).
    reduction: "mean" over labelled tokens (0 when there are none) or "sum".
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    keep = labels.reshape(-1) != IGNORE_INDEX
    h = hidden.reshape(-1, hidden.shape[-1])[keep]
    targets = labels.reshape(-1)[keep]
    total = _liger(h, weight, targets) if h.is_cuda else None
    if total is None:
        total = _ChunkedLinearCE.apply(h, weight, targets, chunk_tokens)
    if reduction == "sum":
        return total
    return total / targets.numel() if targets.numel() else total


def token_logprobs(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_tokens: int = 1024
) -> torch.Tensor:
    """log p(target) of each row of `hidden @ weight.T`, differentiable, a chunk of rows at a time: each chunk's
    (chunk, vocab) logits are recomputed in backward rather than kept (the RL loss needs every token's value,
    not only their sum).

    hidden: (N, d); weight: (vocab, d); targets: (N,).
    """

    def chunk_logprobs(h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = (h @ weight.T).float()
        return logits.gather(1, t[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)

    parts = []
    for start in range(0, hidden.shape[0], chunk_tokens):
        h, t = hidden[start : start + chunk_tokens], targets[start : start + chunk_tokens]
        grad = torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)
        parts.append(checkpoint(chunk_logprobs, h, t, use_reentrant=False) if grad else chunk_logprobs(h, t))
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


def reference_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The naive path (full fp32 logits), kept as the referee for tests and bench/loss.py."""
    logits = (hidden @ weight.T).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
