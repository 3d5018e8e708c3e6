"""The tiny CPU demo (`make demo`), until the three-stage pipeline lands: what the foundation can do today.

Renders one line of text, overfits the tiny GOT model on it for a few dozen steps, reads it back with the
KV-cached generate, then exports to transformers' GotOcr2 and checks that it produces the same greedy tokens.
"""

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from got.config import load_model_config
from got.model.convert import checkpoint_from_model, save_checkpoint
from got.model.generate import generate
from got.model.got import CLIP_MEAN, CLIP_STD, GOTModel
from got.prompts import build_query, encode_prompt, encode_sample
from got.tokenizer import GOTTokenizer


def render_line(text: str, size: int) -> torch.Tensor:
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).text((4, size // 2 - 6), text, fill="black", font=ImageFont.load_default())
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].contiguous()  # (1, 3, S, S) uint8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="tiny_qwen")
    p.add_argument("--text", default="General OCR Theory")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--lr", type=float, default=1e-3)
    args = p.parse_args()

    torch.manual_seed(0)
    tokenizer = GOTTokenizer.default()
    model = GOTModel(load_model_config(args.model))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model}: {n_params / 1e6:.1f}M parameters, {model.cfg.vision.tokens_per_view} tokens per view")

    image = render_line(args.text, model.cfg.vision.image_size)
    query = build_query("ocr")
    ids, labels = encode_sample(tokenizer, query, args.text, num_views=1, image_tokens=model.cfg.vision.tokens_per_view)
    ids, labels = torch.tensor([ids]), torch.tensor([labels])
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr)
    model.train()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        loss = model(ids, image, labels=labels)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step % 10 == 0 or step == 1:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    print(f"{args.steps} steps in {time.perf_counter() - start:.1f}s")

    model.eval()
    prompt = encode_prompt(tokenizer, query, num_views=1, image_tokens=model.cfg.vision.tokens_per_view)
    ours = generate(model, [prompt], [image], max_new_tokens=32)[0]
    print(f"label: {args.text!r}\nread:  {tokenizer.decode(ours)!r}")

    if model.cfg.decoder["model_type"] == "qwen2":
        from transformers import GotOcr2ForConditionalGeneration

        with tempfile.TemporaryDirectory() as out:
            save_checkpoint(checkpoint_from_model(model, tokenizer), out, "hf")
            hf = GotOcr2ForConditionalGeneration.from_pretrained(out).eval()
            pixels = (image.float() / 255 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
            with torch.no_grad():
                hf_ids = hf.generate(input_ids=torch.tensor([prompt]), pixel_values=pixels, max_new_tokens=32,
                                     do_sample=False, eos_token_id=tokenizer.im_end_id, pad_token_id=tokenizer.pad_id)
            theirs = [t for t in hf_ids[0, len(prompt):].tolist() if t not in (tokenizer.im_end_id, tokenizer.pad_id)]
            print(f"transformers GotOcr2 on the exported weights reads the same tokens: {theirs == ours}")


if __name__ == "__main__":
    main()
