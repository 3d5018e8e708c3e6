"""A full training step of ours (packed rows, chunked CE, SDPA encoder) against transformers' GotOcr2 with
padded batches, same weights and same samples, forward + backward + AdamW.

Samples follow a GOT-like length mix (scene text ~30 answer tokens, lines ~60, pages 500-3000, formatted pages up
to 6000), scaled by --length-scale for the small CPU runs. Reported: real (non-pad) tokens/s, peak memory,
packing efficiency, and the step-0 loss of both paths (the token-weighted mean over the step; they must agree).
Paths: transformers + padding; ours as it was before sdpa_varlen (packed rows under a block mask); ours; ours
with `decoder_grad_checkpointing` (a memory knob, off by default).

    python bench/train_step.py [--quick] [--model tiny_qwen|qwen05b_small_vision|qwen05b] [--out bench/results/train_step.json]
    python bench/train_step.py --device cuda --dtype bfloat16 --model qwen05b --length-scale 1 --variants hf ours
    python bench/train_step.py --quick --profile ours            # where one step of a path spends its time
    python bench/train_step.py --quick --profile ours --memory   # what it allocates, and what is live at its peak
"""

import argparse
import json
import os
import random
import sys
import tempfile

import torch
from common import measure, run_worker, write_report
from transformers import GotOcr2ForConditionalGeneration

from got.config import load_model_config
from got.data.packing import Encoded, collate_packed, collate_padded, packing_efficiency, plan_rows
from got.model.checkpoint import checkpoint_from_model, save_checkpoint
from got.model.got import ComputeConfig, GOTModel
from got.model.views import normalize
from got.prompts import build_query, encode_sample
from got.tokenizer import GOTTokenizer

VARIANTS = ("hf", "ours_masked", "ours", "ours_ckpt")
MIX = [("scene", 0.25, (15, 45)), ("line", 0.25, (40, 80)), ("page", 0.35, (500, 3000)), ("format", 0.15, (3000, 6000))]


def model_config(name: str):
    if name == "qwen05b_small_vision":  # the real decoder shape, a reduced encoder so a CPU step stays minutes
        cfg = load_model_config("qwen05b")
        cfg.vision.image_size, cfg.vision.depth, cfg.vision.global_layers = 256, 4, (1, 3)
        return cfg
    return load_model_config(name)


def samples(n: int, scale: float, cfg, seed: int = 0) -> list[Encoded]:
    rng, tok = random.Random(seed), GOTTokenizer.default()
    size = cfg.vision.image_size
    out = []
    for _ in range(n):
        kind, _, (lo, hi) = rng.choices(MIX, weights=[w for _, w, _ in MIX])[0]
        answer_len = max(4, int(rng.randint(lo, hi) * scale))
        answer = tok.decode([rng.randrange(300, tok.num_ranks) for _ in range(answer_len)])
        ids, labels = encode_sample(
            tok, build_query("format" if kind == "format" else "ocr"), answer, 1, cfg.vision.tokens_per_view
        )
        ids = [
            cfg.image_token_id if t == tok.imgpad_id else t for t in ids
        ]  # the tiny vocabulary's ids, the model's <imgpad>
        view = torch.randint(
            0, 256, (3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(len(out))
        )
        out.append(Encoded(ids, labels, [view]))
    return out


def hf_model(ours: GOTModel) -> GotOcr2ForConditionalGeneration:
    """transformers' GotOcr2 holding our weights, through the hf export."""
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(checkpoint_from_model(ours, None), tmp, "hf")
        return GotOcr2ForConditionalGeneration.from_pretrained(tmp)


def memory_at_peak(prof: torch.profiler.profile) -> dict:
    """MiB per category (the profiler's own: parameter, gradient, activation, temporary, ...) at the step's peak."""
    from torch.profiler._memory_profiler import _CATEGORY_TO_INDEX, MemoryProfileTimeline

    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline("cpu")
    peak = max(sizes, key=lambda row: sum(row[1:]))
    names = {i + 1: (c.name.lower() if c is not None else "unknown") for c, i in _CATEGORY_TO_INDEX.items()}
    return {"total": sum(peak[1:]) / 2**20, **{names[i]: peak[i] / 2**20 for i in names}}


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    cfg = model_config(args.model)
    torch.manual_seed(0)
    compute = ComputeConfig(
        # ours before sdpa_varlen: one SDPA per packed row under a block mask
        attn_implementation="sdpa" if args.variant == "ours_masked" else "sdpa_varlen",
        decoder_grad_checkpointing=args.variant == "ours_ckpt",  # the memory knob, not our default
    )
    model = GOTModel(cfg, compute).train()
    data = samples(args.samples, args.length_scale, cfg)
    tokens = sum(s.length for s in data)
    if args.variant.startswith("ours"):
        rows = [[data[i] for i in row] for row in plan_rows([s.length for s in data], args.max_tokens)]
        batches = [collate_packed(rows[i : i + args.rows], cfg.pad_token_id) for i in range(0, len(rows), args.rows)]
        efficiency = packing_efficiency(rows, args.max_tokens)
        forward = lambda b: model(**b)  # noqa: E731
    else:
        model = hf_model(model).train()
        ordered = sorted(data, key=lambda s: s.length)  # length-sorted padded batches: the padded path at its best
        batches = [
            collate_padded(ordered[i : i + args.batch], cfg.pad_token_id) for i in range(0, len(ordered), args.batch)
        ]
        efficiency = tokens / sum(b["input_ids"].numel() for b in batches)

        def forward(b):
            pixels = normalize(b["images"], dtype, device)
            return model(
                input_ids=b["input_ids"], attention_mask=b["attention_mask"], pixel_values=pixels, labels=b["labels"]
            ).loss

    # Parameters only, as DeepSpeed's bf16 engine casts them (buffers such as the rotary inv_freq stay fp32).
    model.to(device)
    for p in model.parameters():
        p.data = p.data.to(dtype)
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]  # before the timed steps, for both paths

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    labelled = [int((b["labels"][:, 1:] != -100).sum()) for b in batches]  # trained positions per micro-batch
    first = {}

    def step() -> float:
        """One optimizer step over every micro-batch; the loss is the token-weighted mean, as one big batch's."""
        total, count = 0.0, sum(labelled)
        for b, n in zip(batches, labelled):
            loss = forward(b)
            (loss * n / count).backward()
            total += loss.item() * n
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        first.setdefault("loss", total / count)
        return total / count

    if args.profile:
        if args.warmup:
            step()
        with torch.profiler.profile(
            profile_memory=args.memory, record_shapes=args.memory, with_stack=args.memory
        ) as prof:
            step()
        sort = "self_cpu_memory_usage" if args.memory else "self_cpu_time_total"
        try:
            print(prof.key_averages().table(sort_by=sort, row_limit=20), file=sys.stderr)
            if args.memory:
                print(json.dumps(memory_at_peak(prof), indent=1), file=sys.stderr)
        except UnicodeDecodeError as e:  # torch 2.13 with_stack: now and then one event's name comes back garbled
            sys.exit(f"the torch profiler returned an unreadable event name ({e}); this is intermittent, run it again")
        return
    stats = measure(step, args.iters, warmup=args.warmup, device=args.device)
    stats.pop("result")
    print(
        json.dumps(
            {
                "variant": args.variant,
                **stats,
                "step0_loss": first["loss"],
                "real_tokens": tokens,
                "tokens_per_s": tokens / stats["seconds"],
                "efficiency": efficiency,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny model, fewer samples, one step")
    p.add_argument("--model", default="tiny_qwen", choices=["tiny_qwen", "qwen05b_small_vision", "qwen05b"])
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--length-scale", type=float, default=None, help="answer lengths × this (default: 1 tiny, 0.1 0.5B)")
    p.add_argument("--max-tokens", type=int, default=8192)
    p.add_argument("--rows", type=int, default=1, help="packed rows per micro-batch (ours)")
    p.add_argument("--batch", type=int, default=4, help="samples per padded micro-batch (transformers)")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument(
        "--warmup",
        action="store_true",
        help="one untimed step first: the peak then leaves out the "
        "optimizer state both paths allocate on their first step",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="of both models' parameters")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        help="paths to run (hf and ours at least: the ratios compare them)",
    )
    p.add_argument("--out", default=None)
    p.add_argument("--profile", choices=VARIANTS, help="print the torch-profiler table of one step of a path")
    p.add_argument(
        "--memory", action="store_true", help="with --profile: allocations by op, and by category at the peak"
    )
    p.add_argument("--variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory and not args.profile:
        p.error("--memory profiles one step: give it with --profile PATH")
    if not {"hf", "ours"} <= set(args.variants):
        p.error("--variants must include hf and ours")
    if args.length_scale is None:
        args.length_scale = 1.0 if args.model == "tiny_qwen" else 0.1
    if args.quick:
        args.samples, args.model = min(args.samples, 16), "tiny_qwen"
    args.iters = args.iters or (1 if args.quick else 2)
    if args.variant or args.profile:
        args.variant = args.variant or args.profile
        return worker(args)

    shared = [
        "--model",
        args.model,
        "--samples",
        str(args.samples),
        "--length-scale",
        str(args.length_scale),
        "--max-tokens",
        str(args.max_tokens),
        "--rows",
        str(args.rows),
        "--batch",
        str(args.batch),
        "--iters",
        str(args.iters),
        "--threads",
        str(args.threads),
        "--device",
        args.device,
        "--dtype",
        args.dtype,
    ] + ["--warmup"] * args.warmup
    rows = {v: run_worker(__file__, ["--variant", v, *shared]) for v in args.variants}
    hf, ours = rows["hf"], rows["ours"]
    report = {
        "config": {
            k: getattr(args, k)
            for k in (
                "model",
                "samples",
                "length_scale",
                "max_tokens",
                "rows",
                "batch",
                "iters",
                "threads",
                "warmup",
                "device",
                "dtype",
            )
        },
        **rows,
        "speedup_real_tokens": ours["tokens_per_s"] / hf["tokens_per_s"],
        "memory_ratio": ours["peak_mib"] / hf["peak_mib"],
        "tensor_memory_ratio": ours["tensor_peak_mib"] / hf["tensor_peak_mib"],
        "step0_loss_rel_diff": abs(ours["step0_loss"] - hf["step0_loss"]) / hf["step0_loss"],
    }
    print(f"{'path':<28}{'real tok/s':>12}{'peak MiB':>10}{'tensors MiB':>13}{'efficiency':>12}{'step-0 loss':>13}")
    labels = (
        ("hf", "transformers + padding"),
        ("ours_masked", "ours, packed, block mask"),
        ("ours", "ours, packed, varlen"),
        ("ours_ckpt", "ours + decoder ckpt"),
    )
    for name, label in labels:
        if name not in rows:
            continue
        r = rows[name]
        print(
            f"{label:<28}{r['tokens_per_s']:>12.1f}{r['peak_mib']:>10.0f}{r['tensor_peak_mib']:>13.0f}"
            f"{r['efficiency']:>12.3f}{r['step0_loss']:>13.6f}"
        )
    print(
        f"ours/transformers: {report['speedup_real_tokens']:.2f}x real tokens/s, peak memory "
        f"{report['memory_ratio']:.2f}x resident, {report['tensor_memory_ratio']:.2f}x tensors; step-0 losses differ by {report['step0_loss_rel_diff']:.1e} (relative)"
    )
    write_report(report, args.out or f"bench/results/train_step_{args.model}.json")


if __name__ == "__main__":
    main()
