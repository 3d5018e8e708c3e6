"""Tokens/s of batched greedy generation: got.model.generate against transformers'
GotOcr2ForConditionalGeneration.generate on the same weights (our `hf` export), checking that both emit the same
tokens. CPU, fp32, one image view per sample, GOT's eval setting no_repeat_ngram_size=20 unless told otherwise.

    python bench/generate.py [--quick] [--threads N] [--ngram 20] [--models tiny qwen05b-shaped] [--batches 1 8 32]
                             [--out bench/results/generate.json]

Models: tiny_qwen as it is, and qwen05b's decoder (Qwen1.5-0.5B shape, 151,860 vocab) behind a one-block
vision tower that still yields 256 tokens per view (256² input, patch 4), so prompts are as long as GOT's
(--quick: 64 tokens per view, to keep the prefill short).
Each time is the best of --reps runs, ours and theirs interleaved, after a warm-up.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from got.config import load_model_config
from got.model.convert import checkpoint_from_model, model_from_checkpoint, save_checkpoint, with_tokenizer
from got.model.generate import generate
from got.model.got import CLIP_MEAN, CLIP_STD, GOTModel
from got.model.vision import VisionConfig
from got.prompts import build_query, encode_prompt
from got.tokenizer import GOTTokenizer



def small_vision(image_size: int) -> VisionConfig:
    """One cheap block that still gives (image_size / 16)² tokens per view: 256 at 256²."""
    return VisionConfig(image_size=image_size, patch_size=4, width=64, depth=1, heads=2, mlp_dim=128, window_size=8,
                        global_layers=(), out_channels=64)  # fmt: skip


def build(name: str, tokenizer: GOTTokenizer, out: Path, image_size: int):
    """Our model and transformers' on the same random weights, with the tiny vocabulary's special ids."""
    cfg = load_model_config("tiny_qwen" if name == "tiny" else "qwen05b")
    if name != "tiny":
        cfg.vision = small_vision(image_size)
    torch.manual_seed(0)
    ckpt = with_tokenizer(checkpoint_from_model(GOTModel(cfg), tokenizer), tokenizer)
    save_checkpoint(ckpt, out, "hf")
    from transformers import GotOcr2ForConditionalGeneration

    return model_from_checkpoint(ckpt).eval(), GotOcr2ForConditionalGeneration.from_pretrained(out).eval()


def inputs(model: GOTModel, tokenizer: GOTTokenizer, batch: int):
    vision = model.cfg.vision
    prompt = encode_prompt(tokenizer, build_query("ocr"), 1, vision.tokens_per_view)
    gen = torch.Generator().manual_seed(batch)
    images = torch.randint(0, 256, (batch, 3, vision.image_size, vision.image_size), dtype=torch.uint8, generator=gen)
    return [prompt] * batch, images


def ours(model, prompts, images, new_tokens: int, ngram: int) -> list[list[int]]:
    return generate(model, prompts, list(images[:, None]), max_new_tokens=new_tokens, no_repeat_ngram_size=ngram)


@torch.inference_mode()
def theirs(hf, tokenizer, prompts, images, new_tokens: int, ngram: int) -> list[list[int]]:
    pixels = (images.float() / 255 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    ids = torch.tensor(prompts)
    out = hf.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, do_sample=False,
                      max_new_tokens=new_tokens, no_repeat_ngram_size=ngram, eos_token_id=tokenizer.im_end_id,
                      pad_token_id=tokenizer.pad_id)  # fmt: skip
    rows = out[:, ids.shape[1] :].tolist()
    return [row[: row.index(tokenizer.im_end_id)] if tokenizer.im_end_id in row else row for row in rows]


def timed(fn) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def save(args: argparse.Namespace, reps: int, results: list[dict]) -> None:
    """Written after every row, so a run cut short keeps what it measured."""
    meta = dict(threads=args.threads, no_repeat_ngram_size=args.ngram, quick=args.quick, reps=reps,
                cpu_count=os.cpu_count(), load_average=os.getloadavg(), torch=torch.__version__)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer tokens and runs, no 0.5B batch 32 (< 3 min)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--ngram", type=int, default=20, help="no_repeat_ngram_size (GOT's eval setting: 20)")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--models", nargs="+", choices=("tiny", "qwen05b-shaped"), default=("tiny", "qwen05b-shaped"))
    p.add_argument("--batches", nargs="+", type=int, default=None, help="only these batch sizes")
    p.add_argument("--out", type=Path, default=Path("bench/results/generate.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reps = args.reps or (1 if args.quick else 3)
    plans = {  # batches, new tokens, vision input size
        "tiny": ((1, 8, 32), 128 if args.quick else 512, None),
        "qwen05b-shaped": ((1, 8), 16, 128) if args.quick else ((1, 8, 32), 128, 256),
    }
    tokenizer = GOTTokenizer.default()
    results = []
    print(f"{'model':<16}{'batch':>6}{'prompt':>8}{'new':>6}{'ours tok/s':>12}{'hf tok/s':>10}{'speedup':>9}  same")
    for name, (batches, new_tokens, image_size) in plans.items():
        batches = [b for b in batches if args.batches is None or b in args.batches]
        if name not in args.models or not batches:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            model, hf = build(name, tokenizer, Path(tmp), image_size)
        for batch in batches:
            prompts, images = inputs(model, tokenizer, batch)
            ours(model, prompts, images, 2, args.ngram)  # warm-up: allocator, kernel selection
            theirs(hf, tokenizer, prompts, images, 2, args.ngram)
            t_ours, t_hf = float("inf"), float("inf")
            for _ in range(reps):  # interleaved, so a burst of load elsewhere hits both
                t, tokens_ours = timed(lambda: ours(model, prompts, images, new_tokens, args.ngram))
                t_ours = min(t_ours, t)
                t, tokens_hf = timed(lambda: theirs(hf, tokenizer, prompts, images, new_tokens, args.ngram))
                t_hf = min(t_hf, t)
            n = sum(map(len, tokens_ours))
            row = dict(model=name, batch=batch, prompt_tokens=len(prompts[0]), new_tokens=new_tokens, generated=n,
                       ours_s=t_ours, hf_s=t_hf, ours_tok_s=n / t_ours, hf_tok_s=n / t_hf, speedup=t_hf / t_ours,
                       same_tokens=tokens_ours == tokens_hf)  # fmt: skip
            results.append(row)
            print(f"{name:<16}{batch:>6}{row['prompt_tokens']:>8}{new_tokens:>6}{row['ours_tok_s']:>12.1f}"
                  f"{row['hf_tok_s']:>10.1f}{row['speedup']:>8.2f}x  {row['same_tokens']}", flush=True)  # fmt: skip
            save(args, reps, results)
    if not all(r["same_tokens"] for r in results):
        raise SystemExit("ours and transformers' generate emitted different tokens")


if __name__ == "__main__":
    main()
