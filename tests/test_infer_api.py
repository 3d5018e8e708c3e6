"""The model API (got.load, chat, chat_crop, chat_pages, ocr) on a tiny random model: the official prompt of every
mode (DESIGN §3, written out here, not built by our prompt code), answers equal to `generate` on that prompt,
every input kind, and errors that say what is wrong. tests/test_official_conformance.py checks chat against the
official code's own prompt ids and greedy answer."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import got
from got.config import load_model_config
from got.infer.api import GOT
from got.infer.inputs import InputError, render_pdf_page
from got.model.checkpoint import CheckpointError, checkpoint_from_model, save_checkpoint
from got.model.generate import generate
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer

from datagen import write_pdf

SYSTEM = "You should follow the instructions carefully and explain your answers in detail."  # DESIGN §3
NEW = 8  # tokens per answer: a random model never stops, so every call decodes exactly this many


def official_prompt(query: str, views: int, tokens: int = 16) -> str:
    """DESIGN §3's single-turn string, up to the assistant's answer."""
    pads = "<imgpad>" * (tokens * views)
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|><|im_start|>user\n<img>{pads}</img>\n{query}<|im_end|>"
        "<|im_start|>assistant\n"
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random model whose decoder weights are large enough for varied answers (at the init's std 0.02
    every logit is near 0 and greedy decoding repeats one token)."""
    torch.manual_seed(1)
    model = GOTModel(load_model_config("tiny_qwen"))
    with torch.no_grad():
        for p in model.decoder.parameters():
            if p.dim() > 1:
                p.normal_(std=0.2)
    path = tmp_path_factory.mktemp("tiny")
    save_checkpoint(checkpoint_from_model(model, GOTTokenizer.default()), path)
    return path


@pytest.fixture(scope="module")
def m(model_dir) -> GOT:
    return got.load(model_dir)


@pytest.fixture(scope="module")
def page_png(tmp_path_factory):
    """An 896x640 page with a red frame around one word (the fixture page's size, so the box numbers below are
    the ones hand-computed in DESIGN's int(px / W * 1000))."""
    image = Image.new("RGB", (896, 640), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "Hello world", fill="black")
    draw.rectangle((100, 200, 400, 300), outline="red", width=3)
    path = tmp_path_factory.mktemp("pages") / "page.png"
    image.save(path)
    return path


@pytest.fixture(scope="module")
def wide_png(page_png):
    path = page_png.with_name("wide.png")
    Image.new("RGB", (600, 200), "white").save(path)
    return path


def ids(m: GOT, text: str) -> list[int]:
    return m.tokenizer.encoding.encode(text, allowed_special="all")


@pytest.mark.parametrize(
    "call, views, query",
    [
        (dict(), 1, "OCR: "),
        (dict(ocr_type="format"), 1, "OCR with format: "),
        (dict(box=(100, 200, 400, 300)), 1, "[111, 312, 446, 468] OCR: "),  # int(100/896*1000), int(200/640*1000), ...
        (dict(box=(448, 320), ocr_type="format"), 1, "[500, 500] OCR with format: "),  # a point
        (dict(color="red", ocr_type="format"), 1, "[red] OCR with format: "),
        (dict(crop=True, ocr_type="format"), None, "OCR with format upon the patch reference: "),
        (dict(crop=True), None, "OCR upon the patch reference: "),  # the official chat_crop with ocr_type="ocr"
    ],
)
def test_every_mode_builds_the_official_prompt(m, page_png, call, views, query):
    request = m.request(page_png, **call)
    if views is None:  # 896x640 (aspect 1.4) on 1..6 tiles: the closest grid is 3x2 (1.5), 6 tiles + a thumbnail
        views = 7
    assert request.views.shape == (views, 3, 128, 128) and request.views.dtype == torch.uint8
    assert m.prompt(request) == ids(m, official_prompt(query, views))


def test_pages_build_the_multi_page_prompt(m, page_png, wide_png):
    request = m.pages_request([page_png, wide_png, page_png])
    assert m.prompt(request) == ids(m, official_prompt("OCR with format across multi pages: ", 3))
    with pytest.raises(InputError, match="format only"):
        m.chat_pages([page_png, wide_png], ocr_type="ocr")


def expected(m: GOT, request, ngram: int) -> str:
    out = generate(m.model, [m.prompt(request)], [request.views], max_new_tokens=NEW, no_repeat_ngram_size=ngram)[0]
    return m.tokenizer.decode(out).strip()


def test_answers_equal_generate_on_the_same_prompt(m, page_png, wide_png):
    """The official settings: no-repeat 20 for chat, none for chat_crop and multi-page."""
    assert m.chat(page_png, max_new_tokens=NEW) == expected(m, m.request(page_png), 20)
    assert m.chat(page_png, box=(100, 200, 400, 300), max_new_tokens=NEW) == expected(
        m, m.request(page_png, box=(100, 200, 400, 300)), 20
    )
    assert m.chat_crop(wide_png, "format", max_new_tokens=NEW) == expected(
        m, m.request(wide_png, "format", crop=True), 0
    )
    pages = [page_png, wide_png]
    assert m.chat_pages(pages, max_new_tokens=NEW) == expected(m, m.pages_request(pages), 0)


def test_stream_joins_to_the_answer(m, page_png):
    pieces = list(m.chat(page_png, ocr_type="format", max_new_tokens=NEW, stream=True))
    answer = m.chat(page_png, ocr_type="format", max_new_tokens=NEW)
    assert len(pieces) > 2 and len(set(answer)) > 2 and "".join(pieces) == answer


def test_ocr_batches_equal_one_by_one(m, page_png, wide_png):
    images = [page_png, wide_png, page_png.with_name("page.png"), wide_png]
    one_by_one = [m.chat(image, max_new_tokens=NEW) for image in images]
    assert m.ocr(images, batch_size=3, max_new_tokens=NEW) == one_by_one
    streamed = m.ocr(iter(images), batch_size=2, max_new_tokens=NEW, stream=True)
    assert not isinstance(streamed, list) and list(streamed) == one_by_one


def test_every_input_kind_reads_the_same_pixels(m, page_png, tmp_path):
    image = Image.open(page_png)
    array = np.asarray(image.convert("RGB"))
    reference = m.request(page_png).views
    for source in (image, array, np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])):  # RGBA, opaque
        assert torch.equal(m.request(source).views, reference)
    grey = np.asarray(image.convert("L"))
    assert torch.equal(m.request(grey).views, m.request(image.convert("L").convert("RGB")).views)


def test_pdf_pages_render_at_the_models_resolution(m, tmp_path):
    pdf = write_pdf(tmp_path / "doc.pdf")  # two A4 pages, 595x842 pt
    page = render_pdf_page(pdf, 2, (1024, 1024))
    assert page.size == (1024, round(842 * 1024 / 595.28)) or abs(page.size[1] - 1448) <= 1  # short side 1024
    crop = m.open((pdf, 1), crop=True)  # A4 (0.71) on 1..6 tiles: a 2x3 grid, so the page covers 256x384
    assert crop.size[0] >= 2 * 128 and crop.size[1] >= 3 * 128
    assert m.chat((pdf, 1), max_new_tokens=NEW) == expected(m, m.request((pdf, 1)), 20)


def test_the_repetition_guard(tmp_path, page_png):
    torch.manual_seed(0)
    model = GOTModel(load_model_config("tiny_qwen"))
    torch.nn.init.zeros_(model.decoder.model.norm.weight)  # every logit 0: greedy repeats token 0 forever
    save_checkpoint(checkpoint_from_model(model, GOTTokenizer.default()), tmp_path)
    looping = got.load(tmp_path)
    unit = looping.tokenizer.decode([0]).strip()
    request = looping.request(page_png)
    assert looping.read([request], max_new_tokens=12, no_repeat_ngram_size=0)[0] == (unit * 12, 12, True)
    assert looping.read([request], max_new_tokens=12, no_repeat_ngram_size=0, cut_loops=True)[0] == (unit, 12, True)


@pytest.mark.parametrize(
    "call, match",
    [
        (dict(image="missing.png"), "no such image file"),
        (dict(box=(100, 200, 50, 300)), r"x1 <= x2"),
        (dict(box=(100, 200, 1000, 300)), r"outside .*page.png \(896x640 pixels\)"),
        (dict(box=(-1, 0)), "outside"),
        (dict(box=(1, 2, 3)), "4 numbers"),
        (dict(color="purple"), "unknown colour 'purple'"),
        (dict(ocr_type="markdown"), "unknown ocr_type 'markdown'"),
        (dict(box=(1, 2, 3, 4), color="red"), "exclusive"),
        (dict(image=("doc.pdf", 3)), "page 3 does not exist"),
        (dict(image="doc.pdf"), "is a PDF: pass a page"),
        (dict(image="fake.pdf", page=1), "not a readable PDF"),
        (dict(image="locked.pdf", page=1), "encrypted"),
        (dict(image="garbage.png"), "not a readable image"),
        (dict(image="cut.png"), "could not be decoded"),
        (dict(image=np.zeros((4, 4), np.float32)), "must be uint8"),
        (dict(image=12), "cannot read a int"),
    ],
)
def test_bad_inputs_say_what_is_wrong(m, page_png, tmp_path, call, match):
    write_pdf(tmp_path / "doc.pdf")
    write_pdf(tmp_path / "locked.pdf", encrypt=True)
    (tmp_path / "fake.pdf").write_text("not a pdf")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG garbage")
    data = page_png.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    image = call.pop("image", page_png)
    page = call.pop("page", None)
    if isinstance(image, str):
        image = tmp_path / image
    if isinstance(image, tuple):
        image = (tmp_path / image[0], image[1])
    if page is not None:
        image = (image, page)
    with pytest.raises(InputError, match=match):
        m.chat(image, max_new_tokens=NEW, **call)


def test_too_large_an_image_is_refused_before_decoding(model_dir, page_png):
    small_cap = got.load(model_dir)
    small_cap.max_pixels = 10_000
    with pytest.raises(InputError, match=r"896x640 = 1 MP, over the 0 MP cap"):
        small_cap.chat(page_png)


def test_bad_checkpoints_say_what_to_do(model_dir, tmp_path):
    (tmp_path / "config.json").write_text(model_dir.joinpath("config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(model_dir.joinpath("model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="holds no tokenizer.*pass tokenizer="):
        got.load(tmp_path)
    assert got.load(tmp_path, tokenizer=GOTTokenizer.default().source).tokenizer.vocab_size == 8217
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    with pytest.raises(CheckpointError, match="in none of the layouts"):
        got.load(tmp_path)
    with pytest.raises(ValueError, match="unknown dtype"):
        got.load(model_dir, dtype="float8")
