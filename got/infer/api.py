"""GOT's chat surface for every model this framework trains, converts or fine-tunes.

    import got
    m = got.load("runs/stage3/final")                  # the got, official or hf layout, found by itself
    m.chat("page.png")                                 # plain OCR
    m.chat("page.png", ocr_type="format", render=True, save_render_file="page.html")
    m.chat("page.png", box=(10, 20, 400, 80))          # the text in a box given in pixels of the image
    m.chat("page.png", color="red")                    # the text inside a red frame drawn on the page
    m.chat_crop("poster.png", ocr_type="format")       # multi-crop: tiles, then a thumbnail
    m.chat_pages(["p1.png", "p2.png"])                 # one answer across several pages
    m.ocr(["a.png", ("doc.pdf", 1)], batch_size=8)     # many independent pages, batched

Each call builds the prompt the official GOT code builds for its mode (`got.prompts.build_query`), cuts the views
as the training loader does (the model's `Views`, got.model.views) and decodes greedily with the KV-cached `generate`, stopping at
`<|im_end|>`. The settings are the official code's: a no-repeat n-gram ban of 20 tokens in `chat` and `ocr`, none
in `chat_crop` and `chat_pages` (the official chat_crop has it commented out), the answer stripped of surrounding
white space. `cut_loops=True` turns on the repetition guard: an answer that ran out of tokens in a loop is cut
back to the loop's first copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import torch

from got.eval.metrics import cut_loop
from got.infer.inputs import MAX_PIXELS, ImageInput, InputError, describe, open_image, pdf_page_size
from got.model.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, with_tokenizer
from got.model.generate import decode_steps, generate
from got.model.got import GOTModel
from got.prompts import COLORS, TASKS, build_query, encode_prompt
from got.tokenizer import GOTTokenizer

OFFICIAL_NGRAM = 20
DEFAULT_RENDER_FILE = "demo.html"  # the official demo's name


@dataclass(frozen=True)
class Request:
    """One independent generation: its views and its query."""

    views: torch.Tensor  # uint8 (V, 3, S, S)
    query: str


class Reading(NamedTuple):
    """The answer to one request."""

    text: str
    new_tokens: int = 0  # generated tokens, <|im_end|> excluded (0 for readers that do not count them)
    looping: bool = False  # ran out of tokens in a loop (cut back to its first copy when cut_loops is on)


def batches(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class GOT:
    """A GOT model and its tokenizer, with the official chat calls. `got.load` builds one from a checkpoint."""

    def __init__(self, model: GOTModel, tokenizer: GOTTokenizer, *, max_pixels: int = MAX_PIXELS):
        self.model, self.tokenizer, self.max_pixels = model, tokenizer, max_pixels
        self.cut = model.cfg.views  # the view size, tokens per view and multi-crop tiles the model was trained with

    # --- the core: batched requests -------------------------------------------------------------------------

    def prompt(self, request: Request) -> list[int]:
        return encode_prompt(self.tokenizer, request.query, len(request.views), self.cut.tokens)

    def read(
        self,
        requests: Sequence[Request],
        *,
        max_new_tokens: int = 4096,
        no_repeat_ngram_size: int = OFFICIAL_NGRAM,
        cut_loops: bool = False,
    ) -> list[Reading]:
        """The answers to requests decoded together in one batch (left-padded), in order."""
        out = generate(
            self.model,
            [self.prompt(r) for r in requests],
            [r.views for r in requests],
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        return [self._reading(ids, max_new_tokens, cut_loops) for ids in out]

    def _reading(self, ids: list[int], max_new_tokens: int, cut_loops: bool) -> Reading:
        text, looping = self.tokenizer.decode(ids).strip(), False
        # Only an answer that never stopped can be a loop: one that ended with <|im_end|> meant its repeats.
        if len(ids) == max_new_tokens:
            cut, looping = cut_loop(text)
            text = cut.strip() if cut_loops else text
        return Reading(text, len(ids), looping)

    def stream(
        self, request: Request, *, max_new_tokens: int = 4096, no_repeat_ngram_size: int = OFFICIAL_NGRAM
    ) -> Iterator[str]:
        """The answer in pieces as it is decoded; the pieces join to exactly what `read` returns."""
        eos, ids, shown, text = self.model.cfg.eos_token_id, [], "", ""
        for token in decode_steps(
            self.model,
            [self.prompt(request)],
            [request.views],
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
        ):
            token = int(token[0])
            if token == eos:
                break
            ids.append(token)
            # held back: white space that the final strip may drop, and a character whose bytes are incomplete
            text = self.tokenizer.decode(ids).strip()
            if len(text) > len(shown) and not text.endswith("\ufffd"):
                yield text[len(shown) :]
                shown = text
        if len(text) > len(shown):  # an answer that ends inside a character keeps its replacement mark
            yield text[len(shown) :]

    # --- inputs -> requests ----------------------------------------------------------------------------------

    def open(self, source: ImageInput, crop: bool = False):
        """The input as a PIL RGB image; a PDF page rendered to cover what the model will see of it."""
        size = self.cut.size
        min_size = (size, size)
        if crop and isinstance(source, tuple):
            cols, rows = self.cut.grid(*pdf_page_size(*source))
            min_size = (size * cols, size * rows)
        return open_image(source, min_size=min_size, max_pixels=self.max_pixels)

    def request(
        self,
        source: ImageInput,
        ocr_type: str = "ocr",
        *,
        box: Sequence[float] | None = None,
        color: str | None = None,
        crop: bool = False,
    ) -> Request:
        """The request of one image: plain or format, optionally box- or colour-guided, or multi-crop."""
        _check_type(ocr_type)
        if color is not None and color not in COLORS:
            raise InputError(f"unknown colour {color!r}: GOT knows {', '.join(COLORS)}")
        if box is not None and (color is not None or crop):
            raise InputError("a box is exclusive with color and with multi-crop")
        image = self.open(source, crop)
        if box is not None:
            _check_box(box, image.size, describe(source))
        query = build_query(ocr_type, box=box, color=color, image_size=image.size, multi_crop=crop)
        return Request(self.cut.of_images([image], crop), query)

    def pages_request(self, pages: Sequence[ImageInput]) -> Request:
        if isinstance(pages, (str, Path, tuple)) or not len(pages):
            raise InputError("chat_pages takes a list of pages (paths, images or PDF pages), at least one")
        return Request(self.cut.of_images([self.open(p) for p in pages]), build_query("format", multi_page=True))

    # --- the official calls ----------------------------------------------------------------------------------

    def chat(
        self,
        image: ImageInput,
        ocr_type: str = "ocr",
        box: Sequence[float] | None = None,
        color: str | None = None,
        render: bool = False,
        save_render_file: str | Path | None = None,
        max_new_tokens: int = 4096,
        *,
        no_repeat_ngram_size: int = OFFICIAL_NGRAM,
        stream: bool = False,
        cut_loops: bool = False,
    ) -> str | Iterator[str]:
        """OCR of one image (GOT's `chat`). box: (x1, y1, x2, y2) or a point (x, y) in pixels of the image;
        color: "red", "green" or "blue", the frame drawn on the image. stream=True returns an iterator of text."""
        request = self.request(image, ocr_type, box=box, color=color)
        return self._answer(
            request,
            ocr_type,
            image,
            render,
            save_render_file,
            stream,
            cut_loops,
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )

    def chat_crop(
        self,
        image: ImageInput,
        ocr_type: str = "ocr",
        render: bool = False,
        save_render_file: str | Path | None = None,
        max_new_tokens: int = 4096,
        *,
        no_repeat_ngram_size: int = 0,
        stream: bool = False,
        cut_loops: bool = False,
    ) -> str | Iterator[str]:
        """Multi-crop OCR of one large image (GOT's `chat_crop`): its tiles for its aspect ratio, then a thumbnail."""
        request = self.request(image, ocr_type, crop=True)
        return self._answer(
            request,
            ocr_type,
            image,
            render,
            save_render_file,
            stream,
            cut_loops,
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )

    def chat_pages(
        self,
        pages: Sequence[ImageInput],
        ocr_type: str = "format",
        render: bool = False,
        save_render_file: str | Path | None = None,
        max_new_tokens: int = 4096,
        *,
        no_repeat_ngram_size: int = 0,
        stream: bool = False,
        cut_loops: bool = False,
    ) -> str | Iterator[str]:
        """One answer across several pages (GOT's multi-page prompt, which exists only with format)."""
        if ocr_type != "format":
            raise InputError(f"GOT's multi-page prompt asks for format only, not ocr_type={ocr_type!r}")
        request = self.pages_request(pages)
        return self._answer(
            request,
            ocr_type,
            pages[0],
            render,
            save_render_file,
            stream,
            cut_loops,
            max_new_tokens=max_new_tokens,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )

    def ocr(
        self,
        images: Iterable[ImageInput],
        ocr_type: str = "ocr",
        batch_size: int = 8,
        stream: bool = False,
        max_new_tokens: int = 4096,
        *,
        no_repeat_ngram_size: int = OFFICIAL_NGRAM,
        cut_loops: bool = False,
    ) -> list[str] | Iterator[str]:
        """Plain or format OCR of many independent images, batch_size at a time. stream=True yields each text as
        its batch finishes, in order."""
        _check_type(ocr_type)
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        texts = (
            reading.text
            for batch in batches(images, batch_size)
            for reading in self.read(
                [self.request(image, ocr_type) for image in batch],
                max_new_tokens=max_new_tokens,
                no_repeat_ngram_size=no_repeat_ngram_size,
                cut_loops=cut_loops,
            )
        )
        return texts if stream else list(texts)

    def _answer(
        self,
        request: Request,
        ocr_type: str,
        source: ImageInput,
        render: bool,
        save_render_file: str | Path | None,
        stream: bool,
        cut_loops: bool,
        **decoding,
    ) -> str | Iterator[str]:
        if stream:
            if cut_loops:
                raise InputError("cut_loops needs the whole answer: it cannot be used with stream=True")
            return self._streamed(request, ocr_type, source, render, save_render_file, **decoding)
        text = self.read([request], cut_loops=cut_loops, **decoding)[0].text
        if render:
            self._render(text, ocr_type, source, save_render_file)
        return text

    def _streamed(
        self,
        request: Request,
        ocr_type: str,
        source: ImageInput,
        render: bool,
        save_render_file: str | Path | None,
        **decoding,
    ) -> Iterator[str]:
        pieces = []
        for piece in self.stream(request, **decoding):
            pieces.append(piece)
            yield piece
        if render:
            self._render("".join(pieces), ocr_type, source, save_render_file)

    def _render(self, text: str, ocr_type: str, source: ImageInput, path: str | Path | None) -> Path:
        from got.infer.html import save_render

        return save_render(
            text,
            Path(path or DEFAULT_RENDER_FILE),
            kind="text" if ocr_type == "ocr" else None,
            title=describe(source),
            image=self.open(source),
        )


def _check_type(ocr_type: str) -> None:
    if ocr_type not in TASKS:
        raise InputError(f"unknown ocr_type {ocr_type!r}: use {' or '.join(TASKS)}")


def _check_box(box: Sequence[float], size: tuple[int, int], name: str) -> None:
    """The box (or point) lies inside the image, corners ordered; GOT's 0-1000 mapping would silently clip it."""
    try:
        build_query("ocr", box=box, image_size=size)  # the shape and order checks, with their messages
    except ValueError as e:
        raise InputError(str(e)) from None
    width, height = size
    xs, ys = box[0::2], box[1::2]
    if min(xs) < 0 or min(ys) < 0 or max(xs) > width or max(ys) > height:
        raise InputError(f"box {list(box)} lies outside {name} ({width}x{height} pixels)")


def load(
    path: str | Path,
    device: str = "cpu",
    dtype: str = "float32",
    *,
    tokenizer: str | Path | None = None,
    layout: str = "auto",
) -> GOT:
    """A checkpoint ready to chat: the got, official or hf layout (found from its config.json), its tokenizer (or
    `tokenizer`, a *.tiktoken), on `device` in `dtype` (float32, bfloat16 or float16)."""
    if not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16")
    ckpt = load_checkpoint(path, layout)
    if tokenizer is not None:
        with_tokenizer(ckpt, GOTTokenizer.from_file(tokenizer))
    if ckpt.tokenizer is None:
        raise CheckpointError(
            f"{path} holds no tokenizer (*.tiktoken or tokenizer.json): pass tokenizer=PATH "
            "(for the released GOT weights, the qwen.tiktoken of the download; for a model "
            "trained here, the *.tiktoken it was trained with)"
        )
    model = model_from_checkpoint(ckpt).to(device).eval()
    for p in model.parameters():  # parameters only, as transformers' from_pretrained(dtype=) and DeepSpeed's bf16
        p.data = p.data.to(getattr(torch, dtype))  # engine cast: the rotary inv_freq buffer stays fp32
    return GOT(model, ckpt.tokenizer)
