"""eval/ocr.py: images, folders and a 3-page PDF read into one file a page with results.jsonl; every answer equal
to the API's on the same page; a resumed run redoes only what is unrecorded; bad files are listed, never fatal."""

import json
import sys

import pytest
from PIL import Image, ImageDraw

import got

from conftest import ROOT
from datagen import write_pdf
from test_infer_api import NEW, model_dir  # noqa: F401  (the module-scoped tiny checkpoint)

sys.path.insert(0, str(ROOT / "eval"))
import ocr as cli  # noqa: E402  (eval/ocr.py, the entry script)


def three_page_pdf(path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=14)
    for n in range(3):
        pdf.add_page()
        pdf.cell(0, 10, f"Page {n + 1} of three")
    pdf.output(str(path))
    return path


@pytest.fixture
def inputs(tmp_path):
    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    for name, size in (("a.png", (300, 200)), ("sub/b.jpg", (640, 480))):
        image = Image.new("RGB", size, "white")
        ImageDraw.Draw(image).text((10, 10), name, fill="black")
        image.save(scans / name)
    (scans / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_pdf(scans / "locked.pdf", encrypt=True)
    (scans / "notes.txt").write_text("not an image: ignored")
    return [scans, three_page_pdf(tmp_path / "report.pdf")]


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([*map(str, args), "--max-new-tokens", str(NEW), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_every_page_is_read_as_the_api_reads_it(model_dir, inputs, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    code, stdout, err = run(capsys, *inputs, "--model", model_dir, "--out", out, "--batch-size", "3")
    assert code == 0, err
    pages = {r["page"]: r for r in records(out)}
    assert list(pages) == ["a.png", "sub/b.jpg", "report.pdf#1", "report.pdf#2", "report.pdf#3"]
    assert all(set(r) == {"page", "file", "text", "tokens", "seconds", "looping"} for r in pages.values())
    assert (out / "report/page-0002.txt").read_text() == pages["report.pdf#2"]["text"] + "\n"
    assert (out / "sub/b.txt").is_file()
    m = got.load(model_dir)
    scans, pdf = inputs
    assert pages["sub/b.jpg"]["text"] == m.chat(scans / "sub/b.jpg", max_new_tokens=NEW)
    assert pages["report.pdf#3"]["text"] == m.chat((pdf, 3), max_new_tokens=NEW)
    errors = {e["page"]: e["error"] for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {"broken.png", "locked.pdf"} and "encrypted" in errors["locked.pdf"]
    assert "5 pages read, 0 already done, 2 skipped" in stdout and "Traceback" not in err


def test_a_stopped_run_resumes_where_it_stopped(model_dir, inputs, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    assert run(capsys, *inputs, "--model", model_dir, "--out", out)[0] == 0
    first = records(out)
    lines = (out / "results.jsonl").read_text().splitlines()
    # as if killed after three pages, in the middle of writing the fourth record
    (out / "results.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    code, stdout, _ = run(capsys, *inputs, "--model", model_dir, "--out", out)
    assert code == 0 and "2 pages read, 3 already done" in stdout
    again = records(out)
    assert [r["page"] for r in again] == [r["page"] for r in first]  # each page once, the torn line ignored
    assert [r["text"] for r in again] == [r["text"] for r in first]


def test_format_box_color_and_crop_options(model_dir, inputs, tmp_path, capsys):  # noqa: F811
    scans, pdf = inputs
    image = scans / "a.png"
    m = got.load(model_dir)
    for args, call, suffix in (
        (["--type", "format"], dict(ocr_type="format"), ".md"),
        (["--box", "10", "20", "200", "120"], dict(box=(10, 20, 200, 120)), ".txt"),
        (["--color", "green"], dict(color="green"), ".txt"),
    ):
        out = tmp_path / "_".join(args)
        assert run(capsys, image, "--model", model_dir, "--out", out, *args)[0] == 0
        assert (out / f"a{suffix}").read_text() == m.chat(image, max_new_tokens=NEW, **call) + "\n"
    out = tmp_path / "crop"
    assert run(capsys, image, "--model", model_dir, "--out", out, "--crop", "--type", "format")[0] == 0
    assert records(out)[0]["text"] == m.chat_crop(image, "format", max_new_tokens=NEW)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--box", "1", "2", "3"], "--box takes 4 numbers"),
        (["--box", "1", "2", "3", "4", "--crop"], "exclusive"),
        (["--color", "pink"], "invalid choice"),
        (["--batch-size", "0"], ">= 1"),
    ],
)
def test_bad_arguments(model_dir, inputs, tmp_path, capsys, args, message):  # noqa: F811
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(inputs[1]), "--model", str(model_dir), "--out", str(tmp_path / "o"), *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_missing_inputs_and_models_are_one_line_errors(model_dir, inputs, tmp_path, capsys):  # noqa: F811
    code, _, err = run(capsys, tmp_path / "nowhere", "--model", model_dir, "--out", tmp_path / "o")
    assert code == 2 and err.startswith("error: no such file or directory")
    code, _, err = run(capsys, inputs[1], "--model", tmp_path / "no_model", "--out", tmp_path / "o")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
