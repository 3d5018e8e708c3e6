"""A corpus of broken inputs, written by hand-built bytes rather than by the code under test: images (truncated,
empty, a header claiming gigapixels, 1-pixel, CMYK, 16-bit, animated), JSON and UTF-8 gone wrong, PDFs that are not
one, encrypted or empty, shards with bad members, and checkpoints cut short or with a broken config.json."""

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from datagen import meta, page, png, write_pdf, write_raw
from PIL import Image


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height RGB pixels, followed by one tiny IDAT: a few dozen bytes that a
    decoder sizing its buffer from the header would turn into width * height * 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def animated(fmt: str) -> bytes:
    frames = [page("frame one"), page("frame two", color="gray")]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def grey16() -> bytes:
    """A 16-bit grey PNG: a black-to-white ramp over the full 0..65535 range."""
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    return encoded(Image.fromarray(ramp), "PNG")


def images() -> dict[str, bytes]:
    """Image files by name: the odd ones that are valid (kept), and the bad ones (skipped or refused)."""
    good = png(page("ok"))
    return {
        "truncated.png": good[: len(good) // 2],
        "zero.png": b"",
        "garbage.png": b"\x89PNG\r\n\x1a\n not a png at all",
        "gigapixel.png": png_header(100_000, 100_000),  # PIL's own bomb check refuses it
        "huge.png": png_header(10_000, 5_000),  # 50 MP: under PIL's check, over the loader's cap
        "one_px.png": png(Image.new("RGB", (1, 1), "black")),
        "wide_1px.png": png(Image.new("RGB", (300, 1), "black")),
        "tall_1px.png": png(Image.new("RGB", (1, 300), "black")),
        "cmyk.jpg": encoded(page("cmyk").convert("CMYK"), "JPEG"),
        "grey16.png": grey16(),
        "animated.png": animated("PNG"),
        "animated.webp": animated("WEBP"),
    }


VALID_IMAGES = ("one_px.png", "wide_1px.png", "tall_1px.png", "cmyk.jpg", "grey16.png", "animated.png", "animated.webp")
BAD_IMAGES = ("truncated.png", "zero.png", "garbage.png", "gigapixel.png", "huge.png")


def image_folder(root: Path) -> Path:
    """Every image of images() with a sidecar label naming it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in images().items():
        (root / name).write_bytes(data)
        (root / name).with_suffix(".txt").write_text(f"label of {name}")
    return root


def odd_shard(path: Path) -> Path:
    """One sample per image of images(), each as its own member type, plus 8 pages each under the per-image cap
    and together over the per-sample one."""
    records = []
    for n, (name, data) in enumerate(images().items()):
        ext = name.rsplit(".", 1)[1]
        records.append({"__key__": f"s{n:02d}", "json": meta(f"sample {name}"), ext: data})
    pages = {f"{i}.png": png_header(4_000, 3_000) for i in range(8)}  # 12 MP each: 96 MP in all
    records.append({"__key__": "pages", "json": meta("eight pages"), **pages})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_raw(path, records)
    return path


def records_shard(path: Path) -> Path:
    """Samples whose json or members are wrong, around one good sample."""
    good = png(page("ok"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_raw(
        path,
        [
            {"__key__": "good", "json": meta("the good one"), "png": good},
            {"__key__": "not_json", "json": b"{not json", "png": good},
            {"__key__": "a_list", "json": b"[1, 2]", "png": good},
            {"__key__": "latin1", "json": '{"v": 1, "text": "caf\xe9"}'.encode("latin-1"), "png": good},
            {
                "__key__": "no_lang",
                "json": json.dumps({"v": 1, "task": "ocr", "text": "x", "source": ""}).encode(),
                "png": good,
            },
            {"__key__": "zero_image", "json": meta("zero"), "png": b""},
            {"__key__": "no_image", "json": meta("none")},
        ],
    )
    return path


def pdfs(root: Path) -> Path:
    """PDFs that cannot be imported: not a PDF, encrypted, zero pages, cut in half, and a good one."""
    root.mkdir(parents=True, exist_ok=True)
    good = write_pdf(root / "good.pdf").read_bytes()
    (root / "not_a.pdf").write_bytes(b"plain text, not a PDF\n")
    write_pdf(root / "encrypted.pdf", encrypt=True)
    empty = io.BytesIO()
    pdfium.PdfDocument.new().save(empty)  # a well-formed PDF whose page tree is empty
    (root / "zero_pages.pdf").write_bytes(empty.getvalue())
    (root / "truncated.pdf").write_bytes(good[: len(good) // 2])
    return root


def checkpoints(good: Path, root: Path) -> dict[str, Path]:
    """Copies of the good got-layout checkpoint, each broken one way."""
    import shutil

    config = json.loads((good / "config.json").read_text())
    weights = (good / "model.safetensors").read_bytes()
    broken = {}

    def variant(name: str, *, config_text: str | None = None, weights_bytes: bytes | None = None) -> None:
        path = root / name
        shutil.copytree(good, path)
        if config_text is None:
            (path / "config.json").unlink()
        elif config_text != "keep":
            (path / "config.json").write_text(config_text)
        if weights_bytes is not None:
            (path / "model.safetensors").write_bytes(weights_bytes)
        broken[name] = path

    keep = "keep"
    variant("half_weights", config_text=keep, weights_bytes=weights[: len(weights) // 2])
    variant("zero_weights", config_text=keep, weights_bytes=b"")
    variant("no_config")
    variant("config_not_json", config_text="{not json")
    variant("config_a_list", config_text="[1, 2]")
    variant("config_no_model", config_text=json.dumps({k: v for k, v in config.items() if k != "model"}))
    variant("config_model_a_list", config_text=json.dumps({**config, "model": [1]}))
    variant("config_vision_a_number", config_text=json.dumps({**config, "model": {**config["model"], "vision": 5}}))
    variant(
        "config_deeper",
        config_text=json.dumps(
            {**config, "model": {**config["model"], "vision": {**config["model"]["vision"], "depth": 9}}}
        ),
    )
    pickled = root / "pickle_only"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps(config))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04 pickled weights")
    broken["pickle_only"] = pickled
    return broken
