"""Importers on inputs the tests write: PDFs (fpdf2), GOT JSON, HF datasets; and data/inspect.py."""

import json
import runpy
import sys
from pathlib import Path

import datasets
import pytest
from datagen import FIRST, SECOND, page, write_pdf, write_set
from PIL import Image

from got.data.importers import Report, guess_lang, write_all
from got.data.importers.got_json import parse_query
from got.data.importers.hf_datasets import hf_samples
from got.data.importers.pdf import PdfOptions, pdf_samples
from got.data.sample import Sample
from got.data.shards import ShardWriter, read_samples

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args, capsys, monkeypatch) -> str:
    """A CLI run in-process; returns what it printed."""
    monkeypatch.setattr(sys, "argv", [script, *map(str, args)])
    runpy.run_path(str(ROOT / script), run_name="__main__")
    return capsys.readouterr().out


def test_pdf_samples_at_every_granularity(tmp_path):
    report = Report()
    opts = PdfOptions(dpi=72, granularity=("page", "paragraph", "line"))
    samples = list(pdf_samples(write_pdf(tmp_path / "doc.pdf"), opts, report))
    pages = [s for s in samples if s.kind == "single" and "unit" not in s.extra]
    assert [s.text.replace("\n", " ") for s in pages] == [f"{FIRST} {SECOND}", "Page two"]
    assert pages[0].text.count("\n") == 2
    paragraphs = [s for s in samples if s.extra.get("unit") == "paragraph"]
    assert [s.text.replace("\n", " ") for s in paragraphs if s.box] == [FIRST, SECOND, "Page two"]
    lines = [s for s in samples if s.extra.get("unit") == "line"]
    assert len([s for s in lines if s.box]) == 4 and len([s for s in lines if not s.box]) == 4  # box + crop each
    for crop, boxed in zip(paragraphs[::2], paragraphs[1::2]):  # the crop is the box's region of the page
        (width, height), (x1, y1, x2, y2) = boxed.images[0].size, boxed.box
        assert boxed.text == crop.text and boxed.lang == "en" and 0 <= x1 < 100 and y1 < y2
        assert abs(crop.images[0].width - (x2 - x1) / 1000 * width) < 2
        assert abs(crop.images[0].height - (y2 - y1) / 1000 * height) < 2
    assert paragraphs[1].box[2] > 800 and paragraphs[3].box[2] < 400 and paragraphs[1].box[3] < paragraphs[3].box[1]
    assert report.counts == {"pdfs": 1, "pages": 2}


def test_pdf2shards_skips_bad_pdfs_and_goes_on(tmp_path, capsys, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_pdf(inputs / "a.pdf")
    write_pdf(inputs / "locked.pdf", encrypt=True)
    write_pdf(inputs / "scan.pdf", text=False)
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    args = (inputs, "--out", tmp_path / "out", "--granularity", "page,line", "--dpi", "72")
    out = run("data/pdf2shards.py", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert "skipped (encrypted): 1" in out and "skipped (corrupt): 1" in out
    assert "skipped (no_text): 1" in out and "samples 10" in out  # 2 pages + 4 lines × 2
    samples = [s for _, s in read_samples(str(tmp_path / "out"))]
    assert len(samples) == 10 and {s.source for s in samples} == {"pdf/a.pdf"}
    assert all(max(s.images[0].size) <= 1024 for s in samples)


def entry(image: str, query: str, answer: str) -> dict:
    turns = [{"from": "human", "value": f"<image>\n{query}"}, {"from": "gpt", "value": answer}]
    return {"image": image, "conversations": turns}


def test_got_json_import(tmp_path, capsys, monkeypatch):
    images = tmp_path / "images"
    (images / "multi").mkdir(parents=True)
    page("single", (120, 80)).save(images / "one.png")
    for i in range(3):
        page(f"page {i}").save(images / "multi" / f"doc_{i}.png")
        page(f"crop {i}").save(images / "multi" / f"tiles_{i}.png")
    page("decoy").save(images / "multi" / "doc10_0.png")
    entries = [
        entry("one.png", "OCR: ", "plain"),
        entry("one.png", "[10, 20, 300, 400] OCR with format: ", "boxed"),
        entry("one.png", "[green] OCR: ", "green"),
        entry("multi/doc_", "OCR with format across multi pages: ", "three pages"),
        entry("multi/tiles_", "OCR with format upon the patch reference: ", "views"),
        entry("missing.png", "OCR: ", "x"),
        entry("one.png", "Describe: ", "x"),
        {"image": "one.png", "conversations": [{"from": "human", "value": "<image>\nOCR: "}]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(entries))
    args = ("--format", "got-json", tmp_path / "train.json", "--images", images, "--out", tmp_path / "out")
    out = run("data/import.py", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert "samples 5" in out and "missing_image): 1" in out and "unknown_prompt): 1" in out
    samples = {s.text: s for _, s in read_samples(str(tmp_path / "out"))}
    assert samples["plain"].kind == "single" and samples["plain"].task == "ocr"
    assert samples["boxed"].box == (10, 20, 300, 400) and samples["boxed"].task == "format"
    assert samples["green"].color == "green"
    assert samples["three pages"].kind == "pages" and len(samples["three pages"].images) == 3  # not doc10_0.png
    assert samples["views"].crop and len(samples["views"].images) == 3


def test_parse_query():
    assert parse_query("<image>\nOCR: ") == {"task": "ocr"}
    assert parse_query("[1, 2, 3, 4] OCR: ") == {"task": "ocr", "box": (1, 2, 3, 4)}
    assert parse_query("[blue] OCR with format: ") == {"task": "format", "color": "blue"}
    assert parse_query("OCR with format across multi pages: ") == {"task": "format", "pages": True}
    assert parse_query("OCR upon the patch reference: ") == {"task": "ocr", "crop": True}  # official chat_crop
    assert parse_query("Translate: ") is None and parse_query("[purple] OCR: ") is None


@pytest.mark.parametrize("form", ["save_to_disk", "parquet"])
def test_hf_import(tmp_path, form):
    rows = {
        "image": [page("a"), page("b", (90, 40)), None, page("d")],
        "transcript": ["alpha", "beta", "gamma", ""],
    }
    features = datasets.Features({"image": datasets.Image(), "transcript": datasets.Value("string")})
    data = datasets.Dataset.from_dict(rows, features=features)
    src = tmp_path / "ds"
    if form == "save_to_disk":
        data.save_to_disk(str(src))
    else:
        src.mkdir()
        data.to_parquet(str(src / "train-0.parquet"))
    report = Report()
    with ShardWriter(tmp_path / "out") as writer:
        write_all(hf_samples(str(src), report, text_column="transcript", task="format"), writer, report)
    samples = [s for _, s in read_samples(str(tmp_path / "out"))]
    assert [s.text for s in samples] == ["alpha", "beta"] and samples[1].images[0].size == (90, 40)
    assert all(s.task == "format" and s.source == "hf/ds" for s in samples)
    assert report.skipped == {"missing_image": ["row 2"], "empty_text": ["row 3"]}
    with pytest.raises(ValueError, match="columns"):
        list(hf_samples(str(src), Report(), text_column="nope"))


def test_guess_lang():
    assert guess_lang("Hello world") == "en"
    assert guess_lang("你好，世界。这是中文。") == "zh"
    assert guess_lang("これは日本語の文です。") == "ja"
    assert guess_lang("Привет, мир") == "ru"


def test_inspect_writes_a_contact_sheet_and_gallery(tmp_path, capsys, monkeypatch):
    write_set(tmp_path, "s", 6)
    with ShardWriter(tmp_path) as writer:
        writer.write(Sample([page("box", (100, 100))], "<boxed & escaped>", box=(100, 100, 600, 600)))
    args = (tmp_path, "--n", "4", "--out", tmp_path / "look")
    out = run("data/inspect_shards.py", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert "samples 7" in out
    assert Image.open(tmp_path / "look" / "contact.png").size == (1024, 270)
    html = (tmp_path / "look" / "index.html").read_text()
    assert html.count("class=card") == 4 and "OCR: " in html
    assert "<boxed" not in html
