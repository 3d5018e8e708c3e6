"""PDFs -> samples with pypdfium2: page images rendered at a chosen dpi, targets from the text layer.

Reading order is the text layer's order, which is the reading order of PDFs written by word processors and
LaTeX; pdfium splits it into lines. A paragraph is a run of lines whose vertical gaps stay under
`paragraph_gap` line heights. At paragraph and line granularity each unit gives two samples: its crop of the
page, and the whole page with a box prompt (the unit's box in GOT's 0-1000 page coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Iterable, Iterator

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from got.data.importers import Report, clean_text, guess_lang
from got.data.sample import Sample
from got.prompts import normalize_box

GRANULARITIES = ("page", "paragraph", "line")


@dataclass
class PdfOptions:
    dpi: int = 150
    granularity: tuple[str, ...] = ("page",)  # any of GRANULARITIES
    lang: str = "auto"  # a language code, or "auto": guessed per document from its script
    paragraph_gap: float = 1.0  # a vertical gap over this many line heights starts a new paragraph
    crop_margin: float = 0.3  # margin around a crop or box, in line heights, so that no glyph is clipped
    # A page whose render at `dpi` would exceed this is skipped (page_too_large) before it is rendered: a PDF page
    # may be 200 inches a side, 900 MP at 150 dpi. 40 MP is a 42-inch square page at 150 dpi.
    max_page_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        self.granularity = tuple(self.granularity)
        if unknown := sorted(set(self.granularity) - set(GRANULARITIES)) or not self.granularity:
            raise ValueError(f"unknown granularity {unknown}, expected some of {GRANULARITIES}")
        if self.dpi < 1:
            raise ValueError(f"dpi must be positive, got {self.dpi}")
        if self.max_page_pixels < 1:
            raise ValueError(f"max_page_pixels must be positive, got {self.max_page_pixels}")


class PdfError(ValueError):
    """A PDF that cannot be opened: `reason` is "encrypted" or "corrupt", the message names the file."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def open_pdf(path: str | Path) -> pdfium.PdfDocument:
    """The document; one that cannot be opened raises PdfError."""
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        # pdfium's error code is process-global, not reset by a success, and not set for every failure (an empty
        # page tree leaves the previous one): only an /Encrypt entry tells an encrypted file from a stale code.
        if getattr(e, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD and b"/Encrypt" in Path(path).read_bytes():
            raise PdfError("encrypted", f"{path} is encrypted (password-protected)") from None
        raise PdfError("corrupt", f"{path} is not a readable PDF (corrupt, cut short, or without pages)") from None


@dataclass
class Line:
    text: str
    box: tuple[float, float, float, float]  # left, top, right, bottom in points from the page's top-left

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def find_pdfs(inputs: Iterable[str | Path]) -> list[Path]:
    """PDF files among `inputs`, directories searched recursively, in sorted order."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"no such file or directory: {item}")
    return found


def union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def page_lines(page: pdfium.PdfPage) -> list[Line]:
    """The text lines of a page in text-layer order, each with the box of its visible characters."""
    textpage = page.get_textpage()
    left, _, _, top = page.get_bbox()
    lines, units, boxes = [], [], []
    for i in range(textpage.count_chars() + 1):  # one past the end flushes the last line
        unit = pdfium_c.FPDFText_GetUnicode(textpage.raw, i) if i < textpage.count_chars() else ord("\n")
        if unit == ord("\n"):  # pdfium writes "\r\n" between the lines it finds
            text = clean_text("".join(map(chr, units)).encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
            if text.strip() and boxes:
                lines.append(Line(text, union(boxes)))
            units, boxes = [], []
        elif unit != ord("\r"):
            units.append(unit)
            x1, y1, x2, y2 = textpage.get_charbox(i)  # left, bottom, right, top from the bottom-left
            if x2 > x1 and y2 > y1 and not chr(unit).isspace():
                boxes.append((x1 - left, top - y2, x2 - left, top - y1))
    return lines


def paragraphs(lines: list[Line], gap: float) -> list[Line]:
    """Runs of lines with gaps under `gap` line heights (a line above the last one starts a new column)."""
    out: list[Line] = []
    for line in lines:
        last = out[-1] if out else None
        space = line.box[1] - last.box[3] if last else 0.0
        if last and 0 <= space <= gap * min(last.height, line.height):
            out[-1] = Line(f"{last.text}\n{line.text}", union([last.box, line.box]))
        else:
            out.append(line)
    return out


def pdf_samples(path: Path, opts: PdfOptions, report: Report) -> Iterator[Sample]:
    """The samples of one PDF. An encrypted, corrupt or text-less PDF, or a page that fails to render, is
    reported and skipped."""
    try:
        doc = open_pdf(path)
    except PdfError as e:
        report.skip(e.reason, str(path), str(e))
        return
    try:
        yield from document_samples(path, doc, opts, report)
    finally:
        doc.close()


def document_samples(path: Path, doc: pdfium.PdfDocument, opts: PdfOptions, report: Report) -> Iterator[Sample]:
    try:
        pages = [page_lines(page) for page in doc]
    except Exception as e:  # a damaged text layer fails in many ways; the batch goes on
        report.skip("corrupt", str(path), repr(e))
        return
    if not any(pages):
        report.skip("no_text", str(path), "no text layer (scanned?)")
        return
    lang = guess_lang(" ".join(line.text for lines in pages for line in lines)) if opts.lang == "auto" else opts.lang
    report.counts["pdfs"] += 1
    scale = opts.dpi / 72  # pixels per point
    for number, lines in enumerate(pages):
        if not lines:
            report.counts["pages without text"] += 1
            continue
        try:
            page = doc[number]
            width, height = (round(side * scale) for side in page.get_size())
            if width * height > opts.max_page_pixels:
                report.skip(
                    "page_too_large",
                    f"{path} page {number + 1}",
                    f"{width}x{height} pixels at {opts.dpi} "
                    f"dpi, over max_page_pixels {opts.max_page_pixels}: lower --dpi or raise the cap",
                )
                continue
            image = page.render(scale=scale).to_pil()
            upright = page.get_rotation() == 0  # char boxes are in unrotated page space
        except pdfium.PdfiumError as e:
            report.skip("bad_page", f"{path} page {number + 1}", str(e))
            continue
        report.counts["pages"] += 1
        extra, source = {"file": path.name, "page": number + 1}, f"pdf/{path.name}"
        if "page" in opts.granularity:
            yield Sample([image], "\n".join(line.text for line in lines), lang=lang, source=source, extra=extra)
        units = []
        if upright and "paragraph" in opts.granularity:
            units += [("paragraph", unit) for unit in paragraphs(lines, opts.paragraph_gap)]
        if upright and "line" in opts.granularity:
            units += [("line", unit) for unit in lines]
        margin = opts.crop_margin * median(line.height for line in lines)
        for kind, unit in units:
            x1, y1, x2, y2 = unit.box
            px = (
                round(max(0.0, x1 - margin) * scale),
                round(max(0.0, y1 - margin) * scale),
                round(min(image.width, (x2 + margin) * scale)),
                round(min(image.height, (y2 + margin) * scale)),
            )
            box = normalize_box(px, image.size)
            if box[0] >= box[2] or box[1] >= box[3]:
                continue  # too thin to have a box in 0-1000 coordinates
            unit_extra = {**extra, "unit": kind}
            yield Sample([image.crop(px)], unit.text, lang=lang, source=source, extra=unit_extra)
            yield Sample([image], unit.text, lang=lang, source=source, box=tuple(box), extra=unit_extra)
