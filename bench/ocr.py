"""Pages/s of OCR over image files, end to end: eval/ocr.py's path (got.infer.files: read, view cutter, batched
KV-cached generate, one text file a page) against transformers' GotOcr2 (its image processor, then
`generate`, then decode and write) on the same exported model, the same pages and the same number of new tokens.

    python bench/ocr.py [--quick] [--threads N] [--models tiny qwen05b-shaped] [--batches 1 8]
                        [--out bench/results/ocr.json]

Both sides get GOT's prompt (transformers' from our prompt ids, since its processor writes " OCR: "), greedy
decoding with no_repeat_ngram_size=20, and max_new_tokens new tokens (random weights never emit <|im_end|>, so
every page costs the same). Pages are 1000x1300 PNGs of text. Models as in bench/generate.py: tiny_qwen with the
repo's tiny vocabulary, and the Qwen1.5-0.5B-shaped decoder behind a one-block 256² encoder (256 tokens a view)
with the real Qwen vocabulary (--qwen-vocab, default ../shared/vocab/qwen.tiktoken): its random weights emit ids
across all 151k, which only that vocabulary decodes. Each time is the best of --reps
runs, ours and theirs interleaved, after a warm-up.
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from common import write_results
from generate import build
from got.infer.api import GOT
from got.infer.files import OcrOptions, find_pages, ocr_files
from got.prompts import build_query, encode_prompt
from got.tokenizer import GOTTokenizer


def write_pages(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (1000, 1300), "white")
        draw = ImageDraw.Draw(image)
        for line in range(40):
            draw.text(
                (60, 40 + 30 * line), f"page {i} line {line}: the quick brown fox jumps over the lazy dog", fill="black"
            )
        paths.append(folder / f"page-{i:03d}.png")
        image.save(paths[-1])
    return paths


def ours(reader: GOT, folder: Path, out: Path, batch: int, new_tokens: int) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    opts = OcrOptions(batch_size=batch, max_new_tokens=new_tokens)
    ocr_files(reader, find_pages([folder], []), out, opts, progress=False)
    return [json.loads(line)["text"] for line in (out / "results.jsonl").read_text().splitlines()]


@torch.inference_mode()
def theirs(
    hf, processor, prompt: list[int], paths: list[Path], out: Path, batch: int, new_tokens: int, tokenizer: GOTTokenizer
) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    texts = []
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        pixels = processor.image_processor([Image.open(p).convert("RGB") for p in chunk], return_tensors="pt")[
            "pixel_values"
        ]
        ids = torch.tensor([prompt] * len(chunk))
        generated = hf.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=pixels,
            do_sample=False,
            max_new_tokens=new_tokens,
            no_repeat_ngram_size=20,
            eos_token_id=tokenizer.im_end_id,
            pad_token_id=tokenizer.pad_id,
        )
        for path, row in zip(chunk, generated[:, ids.shape[1] :].tolist()):
            row = row[: row.index(tokenizer.im_end_id)] if tokenizer.im_end_id in row else row
            texts.append(tokenizer.decode(row).strip())
            (out / f"{path.stem}.txt").write_text(texts[-1] + "\n", encoding="utf-8")
    return texts


def timed(fn) -> tuple[float, list[str]]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer pages and tokens (about a minute)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--models", nargs="+", choices=("tiny", "qwen05b-shaped"), default=("tiny", "qwen05b-shaped"))
    p.add_argument("--batches", nargs="+", type=int, default=(1, 8))
    p.add_argument("--reps", type=int, default=None, help="timed runs per row (default 3 tiny, 1 0.5B; 1 --quick)")
    p.add_argument(
        "--qwen-vocab", type=Path, default=Path(__file__).resolve().parents[2] / "shared/vocab/qwen.tiktoken"
    )
    p.add_argument("--out", type=Path, default=Path("bench/results/ocr.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # pages, new tokens a page: both shapes write 256 tokens a page (a short page of text; GOT's pages run to
    # thousands), so that decoding, not the prompt's compute-bound prefill, is what a page costs, as in real use
    plans = {"tiny": (16, 64 if args.quick else 256), "qwen05b-shaped": (8, 16 if args.quick else 256)}
    if "qwen05b-shaped" in args.models and not args.qwen_vocab.is_file():
        p.error(f"the 0.5B-shaped model needs the Qwen vocabulary: no {args.qwen_vocab} (pass --qwen-vocab)")
    results = []
    print(
        f"{'model':<16}{'batch':>6}{'pages':>6}{'new':>5}{'ours pages/s':>14}{'hf pages/s':>12}{'speedup':>9}  same text"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.models:
            n_pages, new_tokens = plans[name]
            tokenizer = GOTTokenizer.default() if name == "tiny" else GOTTokenizer.from_file(args.qwen_vocab)
            model, hf = build(name, tokenizer, tmp / f"{name}-hf", 256 if name != "tiny" else None)
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(tmp / f"{name}-hf")
            reader = GOT(model, tokenizer)
            folder = tmp / f"{name}-pages"
            paths = write_pages(folder, n_pages)
            prompt = encode_prompt(tokenizer, build_query("ocr"), 1, model.cfg.vision.tokens_per_view)
            reps = args.reps or (1 if args.quick or name != "tiny" else 3)
            for batch in args.batches:
                ours(reader, folder, tmp / "ours", batch, 2)  # warm-up: allocator, kernel selection
                theirs(hf, processor, prompt, paths[:batch], tmp / "theirs", batch, 2, tokenizer)
                t_ours = t_hf = float("inf")
                for _ in range(reps):
                    t, text_ours = timed(lambda: ours(reader, folder, tmp / "ours", batch, new_tokens))
                    t_ours = min(t_ours, t)
                    t, text_hf = timed(
                        lambda: theirs(hf, processor, prompt, paths, tmp / "theirs", batch, new_tokens, tokenizer)
                    )
                    t_hf = min(t_hf, t)
                row = dict(
                    model=name,
                    batch=batch,
                    pages=n_pages,
                    new_tokens=new_tokens,
                    ours_s=t_ours,
                    hf_s=t_hf,
                    ours_pages_s=n_pages / t_ours,
                    hf_pages_s=n_pages / t_hf,
                    speedup=t_hf / t_ours,
                    same_text=text_ours == text_hf,
                )
                results.append(row)
                print(
                    f"{name:<16}{batch:>6}{n_pages:>6}{new_tokens:>5}{row['ours_pages_s']:>14.2f}{row['hf_pages_s']:>12.2f}"
                    f"{row['speedup']:>8.2f}x  {row['same_text']}",
                    flush=True,
                )
                write_results(args.out, results, threads=args.threads, quick=args.quick)


if __name__ == "__main__":
    main()
