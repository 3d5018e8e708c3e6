"""Our vision encoder against transformers' GotOcr2VisionEncoder, same weights, forward + backward.

Each variant runs in its own subprocess (bench/common.py), so its peak memory is measured in isolation.

    python bench/vision.py [--quick] [--image-size 1024] [--batch 1] [--variants hf,ours,ours_bf16,ours_compile]

Variants: hf (transformers, fp32), ours (fp32), ours_bf16 (CPU autocast to bf16: fast where the CPU has AMX or
AVX512-BF16), ours_compile (torch.compile, inductor; its compilation is a warm-up pass outside the timing).
"""

import argparse
import json
import os
import tempfile

import torch
from common import measure, run_worker, write_report
from safetensors.torch import load_file, save_file

from got.model.checkpoint import HF_NAMES, rename
from got.model.vision import VisionConfig, VisionEncoder


def build(variant: str, cfg: VisionConfig, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    ours = VisionEncoder(cfg)
    with torch.no_grad():  # non-zero rel-pos tables, so the bias path is exercised
        for block in ours.blocks:
            block.attn.rel_pos_h.normal_(std=0.02)
            block.attn.rel_pos_w.normal_(std=0.02)
    if variant.startswith("ours"):
        return ours
    from transformers.models.got_ocr2.configuration_got_ocr2 import GotOcr2VisionConfig
    from transformers.models.got_ocr2.modeling_got_ocr2 import GotOcr2VisionEncoder

    hf = GotOcr2VisionEncoder(
        GotOcr2VisionConfig(
            hidden_size=cfg.width,
            output_channels=cfg.out_channels,
            num_hidden_layers=cfg.depth,
            num_attention_heads=cfg.heads,
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            window_size=cfg.window_size,
            global_attn_indexes=list(cfg.global_layers),
            mlp_dim=cfg.mlp_dim,
        )
    )
    state = {f"vision.{k}": v for k, v in ours.state_dict().items()}
    names = rename(list(state), HF_NAMES)
    hf.load_state_dict({names[k].removeprefix("vision_tower."): v for k, v in state.items()}, strict=True)
    return hf


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cfg = VisionConfig(image_size=args.image_size)
    model = build(args.variant, cfg, args.seed).train()
    forward = torch.compile(model) if args.variant == "ours_compile" else model
    x = torch.randn(args.batch, 3, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(1))

    def step() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.variant == "ours_bf16"):
            out = forward(x)
        out = (out if torch.is_tensor(out) else out.last_hidden_state).float()
        out.square().mean().backward()
        model.zero_grad(set_to_none=True)
        return out.detach()

    stats = measure(step, args.iters, warmup=not args.quick or args.variant == "ours_compile")
    save_file({"out": stats.pop("result").contiguous()}, args.save)
    print(json.dumps({"variant": args.variant, **stats}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one timed pass, no warm-up")
    p.add_argument("--image-size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/results/vision.json")
    p.add_argument(
        "--variants", default="hf,ours,ours_bf16,ours_compile", help="comma-separated; hf and ours are required"
    )
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.iters = args.iters or (1 if args.quick else 3)
    if args.variant:
        return worker(args)

    variants = args.variants.split(",")
    rows, outputs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            save = f"{tmp}/{variant}.safetensors"
            rows[variant] = run_worker(
                __file__,
                [
                    "--variant",
                    variant,
                    "--save",
                    save,
                    "--image-size",
                    str(args.image_size),
                    "--batch",
                    str(args.batch),
                    "--iters",
                    str(args.iters),
                    "--threads",
                    str(args.threads),
                    "--seed",
                    str(args.seed),
                ]
                + (["--quick"] if args.quick else []),
            )
            outputs[variant] = load_file(save)["out"]
    ref = outputs["hf"]
    for name, row in rows.items():
        row["time_ratio"] = row["seconds"] / rows["hf"]["seconds"]
        row["memory_ratio"] = row["peak_mib"] / rows["hf"]["peak_mib"]
        row["tensor_memory_ratio"] = row["tensor_peak_mib"] / rows["hf"]["tensor_peak_mib"]
        row["max_rel_error"] = ((outputs[name] - ref).abs().max() / ref.abs().max()).item()
    report = {
        "config": {
            "image_size": args.image_size,
            "batch": args.batch,
            "device": "cpu",
            "threads": args.threads,
            "iters": args.iters,
            "pass": "forward+backward",
        },
        **rows,
        "time_ratio": rows["ours"]["time_ratio"],
        "memory_ratio": rows["ours"]["memory_ratio"],
        "tensor_memory_ratio": rows["ours"]["tensor_memory_ratio"],
        "max_rel_error": rows["ours"]["max_rel_error"],
    }
    print(
        f"{'encoder':<14}{'seconds':>10}{'peak MiB':>10}{'tensors MiB':>13}{'time / hf':>11}{'memory / hf':>13}"
        f"{'tensors / hf':>14}{'max rel err':>13}"
    )
    for name, r in rows.items():
        print(
            f"{name:<14}{r['seconds']:>10.2f}{r['peak_mib']:>10.0f}{r['tensor_peak_mib']:>13.0f}{r['time_ratio']:>11.2f}"
            f"{r['memory_ratio']:>13.2f}{r['tensor_memory_ratio']:>14.2f}{r['max_rel_error']:>13.1e}"
        )
    write_report(report, args.out)


if __name__ == "__main__":
    main()
