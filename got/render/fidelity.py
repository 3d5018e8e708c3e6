"""Are the labels true to the images? Read rendered samples back with Tesseract and measure the character error rate
against our targets (bench/label_fidelity.py, tests). Text is compared after normalisation: NFKC, typographic
quotes and dashes as ASCII, whitespace collapsed (removed for Chinese, which Tesseract spaces out).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

from PIL import Image
from rapidfuzz.distance import Levenshtein

TESSERACT_LANGS = {"en": "eng", "zh": "chi_sim"}
_ASCII = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "‐": "-", "`": "'"})


def available(lang: str = "en") -> bool:
    if shutil.which("tesseract") is None:
        return False
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    return TESSERACT_LANGS[lang] in out.split()


def normalize(text: str, lang: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_ASCII)
    return re.sub(r"\s+", "", text) if lang == "zh" else re.sub(r"\s+", " ", text).strip()


def cer(reference: str, hypothesis: str, lang: str) -> float:
    ref, hyp = normalize(reference, lang), normalize(hypothesis, lang)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def ocr(image: Image.Image, lang: str, psm: int = 3, scale: float = 1.0) -> str:
    """Tesseract's reading of the image (psm 3: automatic page segmentation, columns included; 7: one line)."""
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.png"
        image.convert("RGB").save(path)
        out = subprocess.run(
            ["tesseract", str(path), "stdout", "-l", TESSERACT_LANGS[lang], "--psm", str(psm)],
            capture_output=True,
            text=True,
            check=True,
        )
    return out.stdout
