"""report.md and report.html: diffs, rendered format outputs, and the page in headless Chromium."""

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from got.eval.metrics import score_corpus
from got.eval.report import Report, _sample_html, diff_html, markdown, thumbnail, write_reports

KERN = "**kern\n*clefG2\n*M4/4\n=1-\n4c\n4d\n4e\n4f\n=2\n1g\n==\n*-"
PAGE = (
    "# Results\n\nThe value \\(x^2 + \\frac{1}{2}\\) grows.\n\n\\[ E = mc^2 \\]\n\n"
    "\\begin{tabular}{|l|c|}\n\\hline\nName & \\multicolumn{2}{c|}{Value \\& unit} \\\\\n\\hline\n"
    "\\(a\\) & 1 \\\\\n\\end{tabular}\n\n<script>alert(1)</script>"
)


def records(tmp_path: Path) -> list[dict]:
    rows = [
        dict(id="page", task="format", lang="en", kind="page", label=PAGE, pred=PAGE.replace("mc^2", "mc^3")),
        dict(id="music", task="format", lang="en", kind="page", label=KERN, pred=KERN.replace("4e", "4f")),
        dict(id="loop", task="ocr", lang="en", kind="page", label="hello world", pred="hello " + "ab" * 40),
        dict(id="zh", task="ocr", lang="zh", kind="page", label="你好世界", pred="你好世"),
        dict(id="empty", task="ocr", lang="en", kind="page", label="words here", pred=""),
    ]
    for n, row in enumerate(rows):
        row["thumb"] = str(tmp_path / f"{n}.jpg")
        thumbnail([Image.new("RGB", (400, 300), (200, 220, 255))], Path(row["thumb"]))
    return rows


def report(tmp_path: Path) -> Report:
    rows = records(tmp_path)
    groups = {"task": [r["task"] for r in rows], "lang": [r["lang"] for r in rows]}
    metrics = score_corpus([(r["label"], r["pred"]) for r in rows], mode="got", groups=groups)
    return Report(
        "tiny",
        "data/",
        metrics,
        rows,
        {"read": 5, "bad": {"missing_image": 2}},
        {"samples": 5, "new_tokens": 100, "seconds": 2.0},
    )


def test_diff_marks_changes_and_escapes():
    label, pred = diff_html("a <b> c\nd", "a <x> c d!")
    assert label == "a &lt;<del>b</del>&gt; c<del>↵\n</del>d"
    assert pred == "a &lt;<ins>x</ins>&gt; c<ins> </ins>d<ins>!</ins>"


def test_format_samples_rendered(tmp_path):
    page, music = records(tmp_path)[:2]
    html = _sample_html(page, "got")
    assert html.count('data-mml-node="math"') == 6  # 3 formulas in the label (one in a table cell), 3 in the prediction
    assert html.count('<td colspan="2" class="got-c">Value &amp; unit</td>') == 2  # \multicolumn{2}{c|}
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert _sample_html(music, "got").count('class="got-music"') == 2  # label and prediction engraved


def test_markdown_report(tmp_path):
    text = markdown(report(tmp_path))
    assert "- metrics mode: **got**" in text and "missing_image" in text
    for title in ("## Overall", "## By task", "## By language", "## Looping outputs (1)", "## Worst samples (5 of 5)"):
        assert title in text
    assert text.index("### `loop`") < text.index("### `empty`")  # looping first, then by edit distance


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_html_report_in_headless_chromium(tmp_path):
    write_reports(report(tmp_path), tmp_path)
    page = (tmp_path / "report.html").as_uri()
    shot = tmp_path / "report.png"
    flags = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2400"]
    run = subprocess.run(
        [*flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", page],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []  # no script errors or warnings
    assert shot.stat().st_size > 20_000
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('data-mml-node="math"') == 6  # every formula as MathJax SVG: 3 in the label, 3 in the prediction
    assert "<svg" in dom and "looping</span>" in dom
