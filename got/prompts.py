"""GOT's prompt strings and the training sample layout with label masking (DESIGN §3, byte-exact)."""

from __future__ import annotations

import numbers
from typing import Protocol, Sequence

SYSTEM_PROMPT = "You should follow the instructions carefully and explain your answers in detail."
OCR_QUERY = "OCR: "
FORMAT_QUERY = "OCR with format: "
MULTI_CROP_QUERY = "OCR with format upon the patch reference: "
MULTI_CROP_PLAIN_QUERY = "OCR upon the patch reference: "  # the official chat_crop's with ocr_type="ocr"
MULTI_PAGE_QUERY = "OCR with format across multi pages: "
COLORS = ("red", "green", "blue")
TASKS = ("ocr", "format")
IGNORE_INDEX = -100  # label value the loss skips


class PromptTokenizer(Protocol):
    """What prompts need from a tokenizer; GOTTokenizer has it, and so can an adapter for another decoder's."""

    def encode(self, text: str) -> list[int]: ...

    def token_id(self, name: str) -> int: ...


def _numbers(values, n: int) -> bool:
    """Whether `values` is n real numbers (numpy scalars included, bools not)."""
    try:
        return len(values) == n and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    except TypeError:
        return False


def normalize_box(box: Sequence[float], image_size: tuple[int, int], clip: bool = True) -> list[int]:
    """Pixel box (x1, y1, x2, y2), or a point (x, y), on the original image of size (W, H) -> GOT's 0..1000
    coordinates (the official demo takes both)."""
    if not (_numbers(box, 4) or _numbers(box, 2)):
        raise ValueError(f"box must be 4 numbers [x1, y1, x2, y2] (or a point [x, y]), got {box!r}")
    if len(box) == 4 and (box[2] < box[0] or box[3] < box[1]):
        raise ValueError(f"box needs x1 <= x2 and y1 <= y2, got {list(box)}")
    if not _numbers(image_size, 2) or min(image_size) <= 0:
        raise ValueError(f"a box needs image_size=(W, H) of the original image, got {image_size!r}")
    w, h = image_size
    coords = [int(v / s * 1000) for v, s in zip(box, (w, h, w, h))]  # int() truncates, as the official demo
    return [min(max(c, 0), 1000) for c in coords] if clip else coords


def build_query(
    task: str = "ocr",
    *,
    box: Sequence[float] | None = None,
    color: str | None = None,
    image_size: tuple[int, int] | None = None,
    multi_crop: bool = False,
    multi_page: bool = False,
    style: str = "got",
) -> str:
    """The QUERY of DESIGN §3. Multi-crop follows the official chat_crop: "OCR with format upon the patch
    reference: ", or "OCR upon the patch reference: " for the plain task; multi-page has only the format query.
    style="hf" gives transformers' GotOcr2Processor variant instead: " OCR: ", an unclipped box, and multi-page does
    not imply the format task."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}, expected one of {TASKS}")
    if style not in ("got", "hf"):
        raise ValueError(f"unknown prompt style {style!r}, expected 'got' or 'hf'")
    if color is not None and color not in COLORS:
        raise ValueError(f"unknown colour {color!r}, expected one of {COLORS}")
    if box is not None and color is not None:
        raise ValueError("box and colour prompts are exclusive: pass one of them")
    if multi_crop and multi_page:
        raise ValueError("multi_crop and multi_page are exclusive")
    if (multi_crop or multi_page) and (box is not None or color is not None):
        raise ValueError("box and colour prompts apply to a single view, not to multi_crop or multi_page")

    # transformers does not clip the box; keep its numbers in the "hf" style.
    box_text = str(normalize_box(box, image_size, clip=style == "got")) if box is not None else ""
    if style == "hf":  # it joins "[red] ", the box and " OCR...", hence " OCR: " and "[red]  OCR: "
        colour = f"[{color}] " if color else ""
        fmt = " with format" if task == "format" else ""
        view = " across multi pages" if multi_page else " upon the patch reference" if multi_crop else ""
        return f"{colour}{box_text} OCR{fmt}{view}: "
    if multi_crop:
        return MULTI_CROP_QUERY if task == "format" else MULTI_CROP_PLAIN_QUERY
    if multi_page:
        return MULTI_PAGE_QUERY
    region = f"{box_text} " if box_text else f"[{color}] " if color else ""
    return region + (FORMAT_QUERY if task == "format" else OCR_QUERY)


def _num_image_tokens(num_views: int, image_tokens: int) -> int:
    if not isinstance(num_views, numbers.Integral) or num_views < 1:
        raise ValueError(f"num_views must be a positive int, got {num_views!r}")
    if not isinstance(image_tokens, numbers.Integral) or image_tokens < 1:
        raise ValueError(f"image_tokens must be a positive int, got {image_tokens!r}")
    return int(num_views) * int(image_tokens)


def prompt_text(query: str, num_views: int, image_tokens: int = 256) -> str:
    """The prompt as one string; generation starts right after it."""
    pads = "<imgpad>" * _num_image_tokens(num_views, image_tokens)
    return (
        f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|><|im_start|>user\n<img>{pads}</img>\n{query}<|im_end|>"
        "<|im_start|>assistant\n"
    )


def encode_prompt(tokenizer: PromptTokenizer, query: str, num_views: int, image_tokens: int = 256) -> list[int]:
    """Ids of prompt_text(...): special tokens by id, the text between them encoded as ordinary text."""
    tid = tokenizer.token_id
    start, end = tid("<|im_start|>"), tid("<|im_end|>")
    pads = [tid("<imgpad>")] * _num_image_tokens(num_views, image_tokens)
    return [
        start,
        *tokenizer.encode(f"system\n{SYSTEM_PROMPT}"),
        end,
        start,
        *tokenizer.encode("user\n"),
        tid("<img>"),
        *pads,
        tid("</img>"),
        *tokenizer.encode(f"\n{query}"),
        end,
        start,
        *tokenizer.encode("assistant\n"),
    ]


def encode_sample(
    tokenizer: PromptTokenizer,
    query: str,
    answer: str,
    num_views: int,
    image_tokens: int = 256,
    max_tokens: int | None = None,
    truncate: bool = False,
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of prompt + answer + <|im_end|>. Labels are unshifted and IGNORE_INDEX except on the
    answer and its <|im_end|>.

    The answer is encoded on its own rather than together with the "assistant\\n" before it: that is how the
    model meets it at generation time (the two can only differ when the answer starts with a line break).
    Longer than max_tokens raises ValueError, or with truncate=True cuts the answer; the cut drops the final
    <|im_end|> too, so the model is not taught to stop mid-text. The prompt itself must always fit.
    """
    prompt = encode_prompt(tokenizer, query, num_views, image_tokens)
    target = [*tokenizer.encode(answer), tokenizer.token_id("<|im_end|>")]
    ids, labels = prompt + target, [IGNORE_INDEX] * len(prompt) + target
    if max_tokens is not None and len(ids) > max_tokens:
        if not truncate or len(prompt) >= max_tokens:
            raise ValueError(
                f"sample has {len(ids)} tokens ({len(prompt)} prompt + {len(target)} answer), max_tokens={max_tokens}"
            )
        ids, labels = ids[:max_tokens], labels[:max_tokens]
    return ids, labels
