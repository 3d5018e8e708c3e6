"""The synthetic data engines: every type renders, is deterministic, and its target parses in its own syntax."""

import ast
import hashlib
import re

import pytest

from got.data.shards import parse_meta
from got.render import RENDERERS, build_config, render, sample_rng
from got.render import effects, engines, fidelity
from got.render.document import DocumentConfig
from got.render.finegrained import FinegrainedConfig
from got.render.fonts import FontConfig
from got.render.text import TextConfig
from got.render.music import MusicConfig

CLEAN = effects.DegradeConfig(p=0.0)


def digest(sample) -> str:
    h = hashlib.sha1(sample.text.encode())
    for image in sample.images:
        h.update(image.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def samples():
    return {name: [render(name, sample_rng(7, i)) for i in range(2)] for name in RENDERERS}


def test_every_type_renders_valid_samples(samples):
    for name, got in samples.items():
        for s in got:
            assert s.source == f"render/{name}" and s.text.strip() and s.images
            assert all(min(im.size) > 8 and im.mode == "RGB" for im in s.images)
            parse_meta(__import__("json").dumps(s.meta()).encode(), len(s.images))  # what a shard reader accepts


def test_deterministic_for_a_seed(samples):
    for name in RENDERERS:
        assert digest(render(name, sample_rng(7, 1))) == digest(samples[name][1]), name
    assert digest(samples["document"][0]) != digest(samples["document"][1])


def _balanced(latex: str) -> bool:
    body = re.sub(r"\\[{}]", "", latex)  # escaped braces are text
    depth = 0
    for c in body:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    begins, ends = re.findall(r"\\begin\{(\w+)\}", latex), re.findall(r"\\end\{(\w+)\}", latex)
    return depth == 0 and sorted(begins) == sorted(ends) and latex.count(r"\left") == latex.count(r"\right")


def test_formula_and_table_latex_is_balanced():
    for i in range(6):
        f = render("formula", sample_rng(1, i)).text
        assert re.fullmatch(r"\\\[ .+ \\\]|\\\( .+ \\\)", f, re.S) and _balanced(f), f
        engines.mathjax(f[3:-3], 20)  # MathJax, the renderer, accepts it
        t = render("table", sample_rng(1, i)).text
        assert t.startswith(r"\begin{tabular}") and t.endswith(r"\end{tabular}") and _balanced(t), t
        rows = [r for r in t.split("\n") if r.endswith(r"\\")]
        spans = [sum(int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", r)) + r.count(" & ") + 1 - len(re.findall(r"\\multicolumn", r)) for r in rows]  # fmt: skip
        assert len(set(spans)) == 1, t  # every row fills every column


def test_format_pages_markdown():
    cfg = build_config(DocumentConfig, {"kinds": {"page": 1.0}, "format_p": 1.0, "langs": ["en"]})
    for i in range(3):
        s = render("document", sample_rng(3, i), cfg)
        assert s.task == "format" and _balanced(s.text)
        assert "\ue000" not in s.text  # inline formulas came out as \( \)


def test_smiles_round_trip():
    from rdkit import Chem

    for i in range(5):
        smiles = render("molecule", sample_rng(2, i)).text
        mol = Chem.MolFromSmiles(smiles)
        assert mol is not None and Chem.MolToSmiles(mol) == smiles


def test_kern_is_accepted_by_verovio():
    for real_p in (0.0, 1.0):
        for i in range(3):
            kern = render("music", sample_rng(4, i), MusicConfig(real_p=real_p)).text
            lines = kern.split("\n")
            assert lines[0].startswith("**kern") and lines[-1].startswith("*-")
            assert len({len(ln.split("\t")) for ln in lines}) == 1  # every record has every spine
            svg, pages = engines.verovio(kern, {"inputFrom": "humdrum"})
            assert pages >= 1 and "<svg" in svg


def test_malformed_kern_is_contained():
    with pytest.raises(engines.RenderError):
        engines.verovio("**kern\n4c\n*v\n*^\n*-", {"inputFrom": "humdrum"})
    assert engines.verovio("**kern\n4c\n*-", {"inputFrom": "humdrum"})[1] == 1  # a fresh child took over


def test_chart_dict_parses():
    for i in range(5):
        d = ast.literal_eval(render("chart", sample_rng(5, i)).text)
        assert set(d) == {"title", "source", "x_title", "y_title", "values"} and d["values"]


def test_geometry_tikz():
    t = render("geometry", sample_rng(6, 0)).text
    lines = t.split("\n")
    assert lines[0] == r"\begin{tikzpicture}" and lines[-1] == r"\end{tikzpicture}" and _balanced(t)
    assert all(ln.endswith(";") and ln.count("(") == ln.count(")") for ln in lines[1:-1])


def test_multipage_and_multicrop():
    s = render("multipage", sample_rng(8, 0))
    assert 2 <= len(s.images) <= 8 and s.task == "format"
    s = render("multicrop", sample_rng(8, 0))
    assert s.crop and len(s.images) == 1 and max(s.images[0].size) > 1.5 * min(s.images[0].size)


@pytest.mark.parametrize("color_p", [0.0, 1.0])
def test_finegrained_box_holds_its_text(color_p):
    cfg = FinegrainedConfig(color_p=color_p, regions={"lines": 1.0},
                            document=DocumentConfig(langs=("en",), degrade=effects.DegradeConfig(p=1.0, each_p=1.0)))  # fmt: skip
    for i in range(3):
        s = render("finegrained", sample_rng(9, i), cfg)
        x1, y1, x2, y2 = s.extra["pixel_box"]
        w, h = s.images[0].size
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        if color_p:
            assert s.color in ("red", "green", "blue") and s.box is None
        else:
            assert s.box == tuple(int(v / d * 1000) for v, d in zip((x1, y1, x2, y2), (w, h, w, h)))
    if not fidelity.available("en"):
        pytest.skip("tesseract (eng) is not installed: scripts/setup_system.sh")
    clean = FinegrainedConfig(color_p=0.0, regions={"lines": 1.0}, document=DocumentConfig(langs=("en",), degrade=CLEAN))
    s = render("finegrained", sample_rng(9, 3), clean)
    region = s.images[0].crop(s.extra["pixel_box"])
    read = fidelity.ocr(region, "en", psm=6, scale=max(1.0, 40 / s.extra["size"]))
    assert fidelity.cer(s.text, read, "en") < 0.1, (s.text, read)


def test_clean_page_reads_back():
    if not fidelity.available("en"):
        pytest.skip("tesseract (eng) is not installed: scripts/setup_system.sh")
    plain = TextConfig(fonts=FontConfig(en=("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")))  # OCR-friendly faces
    cfg = DocumentConfig(langs=("en",), kinds={"page": 1.0}, format_p=0.0, degrade=CLEAN, columns=(0.0, 1.0, 0.0),
                         width=(1000, 1000), font_size=(0.018, 0.018), text=plain)  # fmt: skip
    s = render("document", sample_rng(11, 0), cfg)
    assert s.extra["columns"] == 2
    read = fidelity.ocr(s.images[0], "en", scale=max(1.0, 40 / s.extra["size"]))
    assert fidelity.cer(s.text, read, "en") < 0.05  # two columns, read in the order of the target


def test_build_config_rejects_unknown_fields():
    cfg = build_config(DocumentConfig, {"degrade": {"p": 0.0}, "width": [500, 600]})
    assert cfg.degrade.p == 0.0 and cfg.width == (500, 600)
    with pytest.raises(ValueError, match="no field"):
        build_config(DocumentConfig, {"colums": 2})


def test_glyph_cache_draws_as_pil():
    """layout.draw_text (cached glyph masks) puts the same pixels as PIL's draw.text, start fractions included."""
    import numpy as np
    from PIL import Image, ImageDraw

    from got.render import fonts, layout

    for lang, line in (("en", "Quickly, AVAWAY To fix 12,345.67 (“quoted”)"), ("zh", "中华人民共和国，统计数据质量。")):
        for face in fonts.faces(lang)[:3]:
            font = fonts.font(face, 21)
            for xy in ((10.0, 40.0), (10.3, 40.7), (11.99, 39.01), (10.7, 40.5)):
                a, b = (Image.new("RGB", (900, 70), (250, 245, 235)) for _ in range(2))
                ImageDraw.Draw(a).text(xy, line, font=font, fill=(20, 30, 90), anchor="ls")
                layout.draw_text(ImageDraw.Draw(b), xy, line, font, (20, 30, 90))
                layout.draw_text(ImageDraw.Draw(b), xy, "", font, (20, 30, 90))
                assert np.array_equal(np.asarray(a), np.asarray(b)), (face.name, xy)


def test_line_letters_and_fixed_pitch():
    from got.render.line import LineConfig, render_line

    cfg = LineConfig(face="DejaVuSansMono.ttf", random_letters_p=1.0, min_letters=1, max_chars=6, pitch_chars=6)
    lines = [render_line(sample_rng(0, i), cfg) for i in range(60)]
    assert {len(s.text) for s in lines} == set(range(1, 7)) and all(s.text.isalpha() for s in lines)
    assert len({s.images[0].size for s in lines}) == 1  # one page size: a letter's place is fixed by its index
    with pytest.raises(ValueError, match="min_letters"):
        LineConfig(min_letters=7, max_chars=6)
