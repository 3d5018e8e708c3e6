"""Chunked linear + cross-entropy against the naive lm_head -> fp32 logits -> cross-entropy, forward + backward.

The problem is a training row: `--tokens` labelled positions, hidden 1024, vocabulary 151,860 (Qwen-0.5B's
head). Each variant runs in its own process (bench/common.py). On CUDA with liger-kernel installed, the
chunked path is Liger's fused kernel (the report's `path`).

    python bench/loss.py [--quick] [--tokens 8192] [--device cpu|cuda] [--out bench/results/loss.json]
"""

import argparse
import importlib.util
import json
import os

import torch
from common import measure, run_worker, write_report

from got.model.loss import linear_cross_entropy, reference_cross_entropy


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    dtype = getattr(torch, args.dtype)
    hidden = (torch.randn(args.tokens, args.hidden, generator=g) * 0.5).to(args.device, dtype).requires_grad_()
    weight = (torch.randn(args.vocab, args.hidden, generator=g) * 0.02).to(args.device, dtype).requires_grad_()
    labels = torch.randint(0, args.vocab, (args.tokens,), generator=g).to(args.device)
    loss_fn = reference_cross_entropy if args.variant == "naive" else linear_cross_entropy

    def step() -> tuple[float, float]:
        loss = loss_fn(hidden, weight, labels)
        loss.backward()
        value, grad_norm = loss.item(), hidden.grad.float().norm().item()
        hidden.grad = weight.grad = None
        return value, grad_norm

    stats = measure(step, args.iters, warmup=not args.quick, device=args.device)
    loss, grad_norm = stats.pop("result")
    liger = hidden.is_cuda and importlib.util.find_spec("liger_kernel") is not None
    path = "naive" if args.variant == "naive" else ("liger" if liger else "chunked")
    print(json.dumps({"variant": args.variant, "path": path, **stats, "loss": loss, "grad_norm": grad_norm}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2048 tokens, one timed pass, no warm-up")
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=151860)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", default="bench/results/loss.json")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.tokens = min(args.tokens, 2048)
    args.iters = args.iters or (1 if args.quick else 3)
    if args.variant:
        return worker(args)

    shared = [
        "--tokens",
        str(args.tokens),
        "--hidden",
        str(args.hidden),
        "--vocab",
        str(args.vocab),
        "--dtype",
        args.dtype,
        "--device",
        args.device,
        "--iters",
        str(args.iters),
        "--threads",
        str(args.threads),
    ]
    shared += ["--quick"] if args.quick else []
    rows = {v: run_worker(__file__, ["--variant", v, *shared]) for v in ("naive", "chunked")}
    naive, ours = rows["naive"], rows["chunked"]
    report = {
        "config": {
            "tokens": args.tokens,
            "hidden": args.hidden,
            "vocab": args.vocab,
            "dtype": args.dtype,
            "device": args.device,
            "iters": args.iters,
            "pass": "forward+backward",
        },
        **rows,
        "time_ratio": ours["seconds"] / naive["seconds"],
        "memory_ratio": ours["peak_mib"] / naive["peak_mib"],
        "tensor_memory_ratio": ours["tensor_peak_mib"] / naive["tensor_peak_mib"],
        "loss_rel_diff": abs(ours["loss"] - naive["loss"]) / naive["loss"],
        "grad_norm_rel_diff": abs(ours["grad_norm"] - naive["grad_norm"]) / naive["grad_norm"],
    }
    print(f"{'loss path':<10}{'seconds':>10}{'peak MiB':>12}{'tensors MiB':>13}{'loss':>10}")
    for name, r in rows.items():
        print(f"{name:<10}{r['seconds']:>10.2f}{r['peak_mib']:>12.0f}{r['tensor_peak_mib']:>13.0f}{r['loss']:>10.4f}")
    print(
        f"ratio chunked/naive: time {report['time_ratio']:.2f}x  peak memory {report['memory_ratio']:.2f}x resident, "
        f"{report['tensor_memory_ratio']:.2f}x tensors  "
        f"loss rel diff {report['loss_rel_diff']:.1e}  grad-norm rel diff {report['grad_norm_rel_diff']:.1e}"
    )
    write_report(report, args.out)


if __name__ == "__main__":
    main()
