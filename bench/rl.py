"""Stage 4's costs: rollout tokens/s of our sampler (got.model.generate with Sampling: KV cache, batched) against
transformers' GotOcr2 `generate(do_sample=True)` on the same weights, G answers per prompt and the same lengths;
and the peak memory of a GRPO step with and without the reference model of the KL penalty.

    python bench/rl.py [--quick] [--threads N] [--models tiny qwen05b-shaped] [--out bench/results/rl.json]

Sampling draws differ between the two implementations, so the tokens differ; random weights almost never emit
<|im_end|>, so both decode max_new_tokens for every answer (the counts are checked and reported). The memory
figures come from separate processes (one per variant): the whole process's peak resident memory during one
step (rollouts, rewards, old/reference log-probabilities, loss, backward, AdamW), after a warm-up step.
"""

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from common import memory_kib, write_results
from generate import build
from got.data.sample import Sample
from got.model.generate import Sampling, generate
from got.model.views import normalize
from got.prompts import build_query, encode_prompt
from got.tokenizer import GOTTokenizer
from got.train.grpo import RLConfig, answer_logprobs, grpo_loss, packed, rollout

PLANS = {"tiny": (8, 64), "qwen05b-shaped": (8, 16)}  # G answers, new tokens each


def prompt_and_views(model, tokenizer, seed: int = 0):
    views = torch.randint(
        0,
        256,
        (1, 3, model.cfg.views.size, model.cfg.views.size),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(seed),
    )
    return encode_prompt(tokenizer, build_query("ocr"), 1, model.cfg.views.tokens), views


def ours(model, prompt, views, group: int, new_tokens: int) -> list[list[int]]:
    sampling = Sampling(1.0, 0.95, torch.Generator().manual_seed(0))
    return generate(model, [prompt] * group, [views] * group, max_new_tokens=new_tokens, sampling=sampling)


@torch.inference_mode()
def theirs(hf, tokenizer, prompt, views, group: int, new_tokens: int) -> list[list[int]]:
    ids = torch.tensor([prompt] * group)
    pixels = normalize(views.expand(group, -1, -1, -1), torch.float32, torch.device("cpu"))
    out = hf.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        pixel_values=pixels,
        do_sample=True,
        temperature=1.0,
        top_p=0.95,
        max_new_tokens=new_tokens,
        eos_token_id=tokenizer.im_end_id,
        pad_token_id=tokenizer.pad_id,
    )
    return out[:, ids.shape[1] :].tolist()


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def memory_worker(name: str, beta: float) -> None:
    """One process: a GRPO step of `name` at `beta`; prints its peak resident MiB as JSON."""
    tokenizer = GOTTokenizer.default()
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = build(name, tokenizer, Path(tmp), 256 if name != "tiny" else None)
    group, new_tokens = PLANS[name]
    cfg = RLConfig(group_size=group, max_new_tokens=new_tokens, beta=beta)
    reference = copy.deepcopy(model).eval().requires_grad_(False) if beta else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    sample = Sample([Image.new("RGB", (400, 300), "white")], "some text", source="bench")

    def step() -> None:
        model.eval()
        groups = [rollout(model, tokenizer, sample, cfg, torch.Generator().manual_seed(0))]
        model.train()
        batch, adv = packed(groups)
        with torch.no_grad():
            old = answer_logprobs(model, batch)
            ref = answer_logprobs(reference, batch) if reference is not None else None
        loss, _ = grpo_loss(answer_logprobs(model, batch), old, ref, adv, cfg.clip_eps, cfg.beta)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: optimizer state, allocator
    Path("/proc/self/clear_refs").write_text("5")
    step()
    print(json.dumps({"peak_mib": memory_kib("VmHWM") / 1024}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny only")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--models", nargs="+", choices=tuple(PLANS), default=tuple(PLANS))
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("bench/results/rl.json"))
    p.add_argument("--memory-worker", nargs=2, metavar=("MODEL", "BETA"), help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_worker:
        return memory_worker(args.memory_worker[0], float(args.memory_worker[1]))
    models = ("tiny",) if args.quick else args.models
    tokenizer, results = GOTTokenizer.default(), []
    print(
        f"{'model':<16}{'G':>4}{'new':>5}{'ours tok/s':>12}{'hf tok/s':>10}{'speedup':>9}{'peak MiB β=0':>14}{'β>0':>8}"
    )
    for name in models:
        group, new_tokens = PLANS[name]
        with tempfile.TemporaryDirectory() as tmp:
            model, hf = build(name, tokenizer, Path(tmp), 256 if name != "tiny" else None)
        prompt, views = prompt_and_views(model, tokenizer)
        ours(model, prompt, views, group, 2)  # warm-up: allocator, kernel selection
        theirs(hf, tokenizer, prompt, views, group, 2)
        t_ours = t_hf = float("inf")
        for _ in range(args.reps):
            t, out_ours = timed(lambda: ours(model, prompt, views, group, new_tokens))
            t_ours = min(t_ours, t)
            t, out_hf = timed(lambda: theirs(hf, tokenizer, prompt, views, group, new_tokens))
            t_hf = min(t_hf, t)
        n_ours, n_hf = sum(map(len, out_ours)), sum(map(len, out_hf))
        memory = {}
        for beta in (0.0, 0.04):
            run = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--memory-worker", name, str(beta)],
                capture_output=True,
                text=True,
                check=True,
            )
            memory[beta] = json.loads(run.stdout.strip().splitlines()[-1])["peak_mib"]
        row = dict(
            model=name,
            group=group,
            new_tokens=new_tokens,
            ours_tokens=n_ours,
            hf_tokens=n_hf,
            ours_tok_s=n_ours / t_ours,
            hf_tok_s=n_hf / t_hf,
            speedup=(n_ours / t_ours) / (n_hf / t_hf),
            peak_mib_no_reference=memory[0.0],
            peak_mib_with_reference=memory[0.04],
        )
        results.append(row)
        print(
            f"{name:<16}{group:>4}{new_tokens:>5}{row['ours_tok_s']:>12.1f}{row['hf_tok_s']:>10.1f}"
            f"{row['speedup']:>8.2f}x{memory[0.0]:>14.0f}{memory[0.04]:>8.0f}",
            flush=True,
        )
    write_results(args.out, results, threads=args.threads, quick=args.quick)


if __name__ == "__main__":
    main()
