"""Tokens/s of batched greedy generation: got.model.generate against transformers'
GotOcr2ForConditionalGeneration.generate on the same weights (our `hf` export), checking that both emit the same
tokens. fp32 on the CPU (or --device cuda), one image view per sample, GOT's eval setting no_repeat_ngram_size=20
unless told otherwise.

    python bench/generate.py [--quick] [--device cpu|cuda] [--threads N] [--ngram 20] [--models tiny qwen05b-shaped]
                             [--batches 1 8 32] [--out bench/results/generate.json]

Models: tiny_qwen as it is, and qwen05b's decoder (Qwen1.5-0.5B shape, 151,860 vocab) behind a one-block
vision tower that still yields 256 tokens per view (256² input, patch 4), so prompts are as long as GOT's
(--quick: 64 tokens per view, to keep the prefill short).
Each time is the best of --reps runs (default 3 tiny, 1 for the minute-long 0.5B runs), ours and theirs
interleaved, after a warm-up.

Where the time goes, per row: the prefill alone (a run with max_new_tokens=1), the mean decode step after it, and
the decode step's fp32 floor, `matmul_floor_ms`: the decoder's linear layers and the fp32 vocabulary head applied
once to `batch` rows with nothing else around them, the reads every fp32 decode step pays. Ours can go below it on
CPU: greedy decoding reads a large head through its bf16 screen (got.model.decode.ScreenedHead, same argmax).
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import write_results
from got.config import load_model_config
from got.model.checkpoint import checkpoint_from_model, model_from_checkpoint, save_checkpoint, with_tokenizer
from got.model.decode import rows_linear
from got.model.generate import generate
from got.model.got import GOTModel
from got.model.views import normalize
from got.model.vision import VisionConfig
from got.prompts import build_query, encode_prompt
from got.tokenizer import GOTTokenizer


def small_vision(image_size: int) -> VisionConfig:
    """One cheap block that still gives (image_size / 16)² tokens per view: 256 at 256²."""
    return VisionConfig(
        image_size=image_size,
        patch_size=4,
        width=64,
        depth=1,
        heads=2,
        mlp_dim=128,
        window_size=8,
        global_layers=(),
        out_channels=64,
    )


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
    pixels, ids = normalize(images, hf.dtype, hf.device), torch.tensor(prompts, device=hf.device)
    out = hf.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=pixels,
        do_sample=False,
        max_new_tokens=new_tokens,
        no_repeat_ngram_size=ngram,
        eos_token_id=tokenizer.im_end_id,
        pad_token_id=tokenizer.pad_id,
    )
    rows = out[:, ids.shape[1] :].tolist()
    return [row[: row.index(tokenizer.im_end_id)] if tokenizer.im_end_id in row else row for row in rows]


@torch.inference_mode()
def matmul_floor(model: GOTModel, batch: int, reps: int = 3) -> float:
    """Seconds of one pass over the decoder's Linear weights at `batch` rows, each in the orientation the decode
    step uses (`rows_linear`)."""
    head = model.lm_head
    layers = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    rows = {w: torch.randn(batch, w, device=model.device) for w in {m.in_features for m in layers + [head]}}

    def one_step() -> None:
        for m in layers:
            rows_linear(rows[m.in_features], m.weight, m.bias)
        rows_linear(rows[head.in_features], head.weight)
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)  # the kernels, not their launch

    one_step()
    return min(timed(one_step)[0] for _ in range(reps))


def timed(fn) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def save(args: argparse.Namespace, reps: dict, results: list[dict]) -> None:
    """Written after every row, so a run cut short keeps what it measured."""
    write_results(
        args.out,
        results,
        device=args.device,
        threads=args.threads,
        no_repeat_ngram_size=args.ngram,
        quick=args.quick,
        reps=reps,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer tokens and runs, no 0.5B batch 32 (< 3 min)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--ngram", type=int, default=20, help="no_repeat_ngram_size (GOT's eval setting: 20)")
    p.add_argument(
        "--reps", type=int, default=None, help="timed runs per row (default: 1 --quick, else 3 tiny, 1 0.5B)"
    )
    p.add_argument("--models", nargs="+", choices=("tiny", "qwen05b-shaped"), default=("tiny", "qwen05b-shaped"))
    p.add_argument("--batches", nargs="+", type=int, default=None, help="only these batch sizes")
    p.add_argument("--out", type=Path, default=Path("bench/results/generate.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reps = {name: args.reps or (3 if name == "tiny" and not args.quick else 1) for name in args.models}
    plans = {  # batches, new tokens, vision input size
        "tiny": ((1, 8, 32), 128 if args.quick else 512, None),
        "qwen05b-shaped": ((1, 8), 16, 128) if args.quick else ((1, 8, 32), 128, 256),
    }
    tokenizer = GOTTokenizer.default()
    results = []
    print(
        f"{'model':<16}{'batch':>6}{'prompt':>8}{'new':>6}{'ours tok/s':>12}{'hf tok/s':>10}{'speedup':>9}"
        f"{'prefill s ours/hf':>19}{'step ms ours/hf':>17}{'floor ms':>10}  same"
    )
    for name, (batches, new_tokens, image_size) in plans.items():
        batches = [b for b in batches if args.batches is None or b in args.batches]
        if name not in args.models or not batches:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            model, hf = build(name, tokenizer, Path(tmp), image_size)
        model, hf = model.to(args.device), hf.to(args.device)
        for batch in batches:
            prompts, images = inputs(model, tokenizer, batch)
            ours(model, prompts, images, 2, args.ngram)  # warm-up: allocator, kernel selection
            theirs(hf, tokenizer, prompts, images, 2, args.ngram)
            t_ours, t_hf = float("inf"), float("inf")
            for _ in range(reps[name]):  # interleaved, so a burst of load elsewhere hits both
                t, tokens_ours = timed(lambda: ours(model, prompts, images, new_tokens, args.ngram))
                t_ours = min(t_ours, t)
                t, tokens_hf = timed(lambda: theirs(hf, tokenizer, prompts, images, new_tokens, args.ngram))
                t_hf = min(t_hf, t)
            prefill_ours = timed(lambda: ours(model, prompts, images, 1, args.ngram))[0]
            prefill_hf = timed(lambda: theirs(hf, tokenizer, prompts, images, 1, args.ngram))[0]
            n = sum(map(len, tokens_ours))
            row = dict(
                model=name,
                batch=batch,
                prompt_tokens=len(prompts[0]),
                new_tokens=new_tokens,
                generated=n,
                ours_s=t_ours,
                hf_s=t_hf,
                ours_tok_s=n / t_ours,
                hf_tok_s=n / t_hf,
                speedup=t_hf / t_ours,
                same_tokens=tokens_ours == tokens_hf,
                prefill_ours_s=prefill_ours,
                prefill_hf_s=prefill_hf,
                step_ours_ms=1e3 * (t_ours - prefill_ours) / (new_tokens - 1),
                step_hf_ms=1e3 * (t_hf - prefill_hf) / (new_tokens - 1),
                matmul_floor_ms=1e3 * matmul_floor(model, batch),
            )
            results.append(row)
            print(
                f"{name:<16}{batch:>6}{row['prompt_tokens']:>8}{new_tokens:>6}{row['ours_tok_s']:>12.1f}"
                f"{row['hf_tok_s']:>10.1f}{row['speedup']:>8.2f}x{prefill_ours:>10.2f}/{prefill_hf:<8.2f}"
                f"{row['step_ours_ms']:>8.1f}/{row['step_hf_ms']:<8.1f}{row['matmul_floor_ms']:>10.1f}  "
                f"{row['same_tokens']}",
                flush=True,
            )
            save(args, reps, results)
    if not all(r["same_tokens"] for r in results):
        raise SystemExit("ours and transformers' generate emitted different tokens")


if __name__ == "__main__":
    main()
