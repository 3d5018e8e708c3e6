"""What the model API reads: an image file, a PIL image, a numpy array, or a PDF page `("file.pdf", n)` (pages
numbered from 1), as RGB pixels of bounded size.

A PDF page is rendered from the PDF at the resolution the model needs (`min_size`), never rendered small and
resized up. Sizes are checked before pixels are decoded: a small crafted file can decode to gigabytes.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from got.data.shards import to_rgb

MAX_PIXELS = 100_000_000  # per image or rendered page; PIL's own bomb check only fires at 179 MP
PDF_SUFFIX = ".pdf"

PdfPage = tuple[Union[str, Path], int]
ImageInput = Union[str, Path, Image.Image, np.ndarray, PdfPage]


class InputError(ValueError):
    """An input the model cannot read; the message names it and says why."""


def describe(source: ImageInput) -> str:
    """A short name for an input, for messages and result files."""
    if isinstance(source, tuple):
        return f"{source[0]} page {source[1]}"
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>"


def open_image(source: ImageInput, *, min_size: tuple[int, int] = (0, 0), max_pixels: int = MAX_PIXELS) -> Image.Image:
    """RGB pixels of an input. min_size (W, H) is what a PDF page is rendered to cover (other inputs keep their
    size); an image over max_pixels is refused."""
    if isinstance(source, tuple):
        if len(source) != 2 or not isinstance(source[1], int) or isinstance(source[1], bool):
            raise InputError(f"a PDF page is (path, page_number), got {source!r}")
        return render_pdf_page(Path(source[0]), source[1], min_size, max_pixels)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() == PDF_SUFFIX:
            raise InputError(
                f"{path} is a PDF: pass a page as ({str(path)!r}, page_number), or use eval/ocr.py for every page"
            )
        return _decode(_open_file(path), str(path), max_pixels)
    if isinstance(source, Image.Image):
        return _decode(source, "image", max_pixels)
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    raise InputError(
        f"cannot read a {type(source).__name__} as an image: pass a path, a PIL image, a numpy array "
        "or a PDF page (path, page_number)"
    )


def _open_file(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"no such image file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap below decides
            return Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"{path} is not a readable image ({e})") from None


def _decode(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    """RGB pixels, decoded as got.data.shards.to_rgb does (transparency onto white, 16-bit grey scaled)."""
    width, height = image.size
    if width < 1 or height < 1:
        raise InputError(f"{name} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            f"{name} is {width}x{height} = {width * height / 1e6:.0f} MP, over the {max_pixels / 1e6:.0f} MP cap"
        )
    try:
        return to_rgb(image)  # as the training loader decodes
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data surfaces only here
        raise InputError(f"{name} could not be decoded ({e})") from None


def _from_array(array: np.ndarray, max_pixels: int) -> Image.Image:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise InputError(f"a numpy image must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or array.ndim == 3 and array.shape[2] in (3, 4)):
        raise InputError(f"a numpy image must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    return _decode(Image.fromarray(np.ascontiguousarray(array)), f"array {array.shape}", max_pixels)


def pdf_page_count(path: str | Path) -> int:
    """The number of pages; an encrypted, corrupt or non-PDF file raises InputError."""
    doc = _open_pdf(Path(path))
    try:
        return len(doc)
    finally:
        doc.close()


def pdf_page_size(path: str | Path, number: int) -> tuple[float, float]:
    """Page `number`'s (width, height) in points, rotation applied."""
    doc = _open_pdf(Path(path))
    try:
        return _page(doc, Path(path), number).get_size()
    finally:
        doc.close()


def _page(doc, path: Path, number: int):
    if not 1 <= number <= len(doc):
        raise InputError(f"{path} has {len(doc)} pages; page {number} does not exist (pages count from 1)")
    return doc[number - 1]


def _open_pdf(path: Path):
    from got.data.importers.pdf import PdfError, open_pdf

    if not path.is_file():
        raise InputError(f"no such PDF file: {path}")
    try:
        return open_pdf(path)
    except PdfError as e:
        raise InputError(str(e)) from None


def render_pdf_page(path: Path, number: int, min_size: tuple[int, int], max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Page `number` (from 1) rendered at the smallest scale whose image covers min_size (W, H), and at least
    72 dpi; a page that would exceed max_pixels is rendered at the largest scale under it."""
    import pypdfium2 as pdfium

    doc = _open_pdf(path)
    try:
        page = _page(doc, path, number)
        width, height = page.get_size()  # points; rotation applied
        if width <= 0 or height <= 0:
            raise InputError(f"{path} page {number} has no area ({width}x{height} pt)")
        scale = max(1.0, min_size[0] / width, min_size[1] / height)
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
        try:
            return page.render(scale=scale).to_pil().convert("RGB")
        except pdfium.PdfiumError as e:
            raise InputError(f"{path} page {number} could not be rendered ({e})") from None
    finally:
        doc.close()
