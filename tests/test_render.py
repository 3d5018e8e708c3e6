"""The synthetic data engines: every type renders, is deterministic, and its target parses in its own syntax."""

import ast
import dataclasses
import hashlib
import random
import re

import pytest
from rdkit import Chem

from got.data.shards import parse_meta
from got.render import (
    RENDERERS,
    build_config,
    chart,
    document,
    effects,
    engines,
    fidelity,
    fonts,
    formula,
    layout,
    molecule,
    render,
    sample_rng,
)
from got.render.document import DocumentConfig
from got.render.finegrained import FinegrainedConfig
from got.render.fonts import FontConfig
from got.render.line import LineContent
from got.render.multipage import MultipageContent
from got.render.music import MusicConfig
from got.render.text import TextConfig

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
        spans = [
            sum(int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", r))
            + r.count(" & ")
            + 1
            - len(re.findall(r"\\multicolumn", r))
            for r in rows
        ]
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
    cfg = FinegrainedConfig(
        color_p=color_p,
        regions={"lines": 1.0},
        document=DocumentConfig(langs=("en",), degrade=effects.DegradeConfig(p=1.0, each_p=1.0)),
    )
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
    clean = FinegrainedConfig(
        color_p=0.0, regions={"lines": 1.0}, document=DocumentConfig(langs=("en",), degrade=CLEAN)
    )
    s = render("finegrained", sample_rng(9, 3), clean)
    region = s.images[0].crop(s.extra["pixel_box"])
    read = fidelity.ocr(region, "en", psm=6, scale=max(1.0, 40 / s.extra["size"]))
    assert fidelity.cer(s.text, read, "en") < 0.1, (s.text, read)


def _ink_columns(image) -> set[int]:
    import numpy as np

    return set(np.flatnonzero((np.asarray(image.convert("L")) < 128).any(axis=0)).tolist())


def test_finegrained_line_span_boxes_exactly_its_letters():
    """A monospaced line's letter k covers [k, k+1) advances from the text's start (the face's own metric, not the
    renderer's arithmetic): the box holds all of the run's ink, and the other letters' ink lies outside it."""
    from PIL import Image, ImageDraw

    from got.render.line import LineConfig, text_origin

    line = LineConfig(faces=("DejaVuSansMono.ttf",), kinds={"letters": 1.0}, chars=(3, 6), pitch_chars=6)
    cfg = FinegrainedConfig(source="line", color_p=0.0, line=line)
    for i in range(12):
        content = RENDERERS["finegrained"].sample(sample_rng(4, i), cfg)
        s = RENDERERS["finegrained"].draw(content)
        text, (x0, y0) = content.page.text, text_origin(content.page)
        assert s.text and len(s.text) < len(text) and s.box is not None
        x1, _, x2, _ = s.extra["pixel_box"]
        font = fonts.font(content.page.face, content.page.size)
        boxed = []  # the letters whose ink the box holds, each drawn alone where the face's advance puts it
        for k, letter in enumerate(text):
            alone = Image.new("RGB", s.images[0].size, "white")
            ImageDraw.Draw(alone).text((x0 + k * font.getlength("a"), y0), letter, font=font, fill="black")
            ink = _ink_columns(alone)
            inside = {c for c in ink if x1 <= c < x2}
            assert inside in (ink, set()), (text, s.text, k)  # a letter is in or out, never cut
            boxed += [k] if inside else []
        assert "".join(text[k] for k in boxed) == s.text and boxed == list(range(boxed[0], boxed[0] + len(boxed)))


def test_finegrained_line_span_reads_back():
    if not fidelity.available("en"):
        pytest.skip("tesseract (eng) is not installed: scripts/setup_system.sh")
    from got.render.line import LineConfig

    line = LineConfig(faces=("DejaVuSerif.ttf",), chars=(20, 30), font_size=(36, 36))
    cfg = FinegrainedConfig(source="line", color_p=0.0, line=line)
    for i in range(3):
        s = render("finegrained", sample_rng(6, i), cfg)
        read = fidelity.ocr(s.images[0].crop(s.extra["pixel_box"]), "en", psm=7)
        assert fidelity.cer(s.text, read, "en") < 0.1, (s.text, read)
    with pytest.raises(ValueError, match="source"):
        FinegrainedConfig(source="page")


def test_line_styles_draw_their_face_and_mark_their_markdown():
    from got.render.line import LineConfig, render_line

    cfg = LineConfig(
        faces=("DejaVuSansMono.ttf",),
        styles={"plain": 1.0, "bold": 1.0, "italic": 1.0},
        style_faces={"bold": ("DejaVuSansMono-Bold.ttf",), "italic": ("DejaVuSansMono-Oblique.ttf",)},
        task="format",
        kinds={"letters": 1.0},
    )
    seen = set()
    for i in range(40):
        s = render_line(sample_rng(7, i), cfg)
        style = {"DejaVuSansMono": "plain", "DejaVuSansMono-Bold": "bold", "DejaVuSansMono-Oblique": "italic"}[
            s.extra["font"]
        ]
        pattern = {"plain": r"[a-z]+", "bold": r"\*\*[a-z]+\*\*", "italic": r"\*[a-z]+\*"}[style]
        assert s.task == "format" and re.fullmatch(pattern, s.text), (style, s.text)
        seen.add(style)
    assert seen == {"plain", "bold", "italic"}
    ocr = render_line(sample_rng(7, 0), dataclasses.replace(cfg, task="ocr"))
    assert ocr.task == "ocr" and re.fullmatch(r"[a-z]+", ocr.text)
    for bad in ({"styles": {"underline": 1.0}}, {"task": "markdown"}, {"style_faces": {"bolder": ("x.ttf",)}}):
        with pytest.raises(ValueError, match="line"):
            LineConfig(**bad)


def test_clean_page_reads_back():
    if not fidelity.available("en"):
        pytest.skip("tesseract (eng) is not installed: scripts/setup_system.sh")
    plain = TextConfig(fonts=FontConfig(en=("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")))  # OCR-friendly faces
    cfg = DocumentConfig(
        langs=("en",),
        kinds={"page": 1.0},
        format_p=0.0,
        degrade=CLEAN,
        columns=(0.0, 1.0, 0.0),
        width=(1000, 1000),
        font_size=(0.018, 0.018),
        text=plain,
    )
    s = render("document", sample_rng(11, 0), cfg)
    assert s.extra["columns"] == 2
    read = fidelity.ocr(s.images[0], "en", scale=max(1.0, 40 / s.extra["size"]))
    assert fidelity.cer(s.text, read, "en") < 0.05  # two columns, read in the order of the target


def test_build_config_rejects_unknown_fields():
    cfg = build_config(DocumentConfig, {"degrade": {"p": 0.0}, "width": [500, 600]})
    assert cfg.degrade.p == 0.0 and cfg.width == (500, 600)
    with pytest.raises(ValueError, match=r"DocumentConfig has no field\(s\) \['colums'\]"):
        build_config(DocumentConfig, {"colums": 2})
    with pytest.raises(ValueError, match=r"SceneConfig.photo has no field\(s\) \['texture_q'\]"):
        build_config(RENDERERS["scene"].config, {"photo": {"texture_q": 0.5}})


def test_nested_overrides_keep_the_nested_defaults():
    """finegrained's document config has its own defaults (smaller pages, less tilt); overriding one field of it
    keeps the others, at every depth."""
    cfg = build_config(FinegrainedConfig, {"document": {"langs": ["en"], "degrade": {"p": 1.0}}})
    assert cfg.document.langs == ("en",) and cfg.document.width == (640, 900)
    assert cfg.document.degrade.p == 1.0 and cfg.document.degrade.rotate == 1.0
    assert build_config(FinegrainedConfig).document == FinegrainedConfig().document


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

    cfg = LineConfig(faces=("DejaVuSansMono.ttf",), kinds={"letters": 1.0}, chars=(1, 6), pitch_chars=6)
    lines = [render_line(sample_rng(0, i), cfg) for i in range(60)]
    assert {len(s.text) for s in lines} == set(range(1, 7)) and all(s.text.isalpha() for s in lines)
    assert len({s.images[0].size for s in lines}) == 1  # one page size: a letter's place is fixed by its index
    for bad in ({"chars": (7, 6)}, {"font_size": (0, 10)}, {"kinds": {"verse": 1.0}}, {"kinds": {"word": 0.0}}):
        with pytest.raises(ValueError, match="line"):
            LineConfig(**bad)


def _prose(lang: str = "en") -> str:
    """Every paragraph of the corpus, whitespace-normalised and joined: a phrase must be a stretch of one of them."""
    from got.render.text import corpus

    return "\n".join(" ".join(p.split()) for source in corpus(lang) for p in source)


def test_line_words_are_words_of_the_prose():
    import re as regex

    from got.render.line import LineConfig, render_line

    faces = ("LiberationSerif-Bold.ttf", "DejaVuSans.ttf", "LiberationSans-Regular.ttf", "DejaVuSerif-Bold.ttf")
    cfg = LineConfig(kinds={"word": 1.0}, chars=(3, 12), faces=faces, font_size=(20, 40))
    lines = [render_line(sample_rng(1, i), cfg) for i in range(80)]
    prose = _prose()
    for s in lines:
        assert regex.fullmatch(r"[A-Za-z]{3,12}", s.text), s.text
        assert regex.search(rf"(?<![A-Za-z]){s.text}(?![A-Za-z])", prose), s.text  # a whole word of the corpus
        assert 20 <= s.extra["size"] <= 40
    assert {s.extra["font"] for s in lines} == {f.removesuffix(".ttf") for f in faces}
    with pytest.raises(ValueError, match="English only"):
        render_line(sample_rng(1, 0), LineConfig(langs=("zh",), kinds={"word": 1.0}))


@pytest.mark.parametrize("lang,chars", [("en", (15, 30)), ("zh", (4, 10))])
def test_line_phrases_are_stretches_of_one_paragraph(lang, chars):
    from got.render.line import LineConfig, render_line

    prose = _prose(lang)
    prose = prose.replace(" ", "") if lang == "zh" else prose
    for i in range(40):
        s = render_line(sample_rng(2, i), LineConfig(langs=(lang,), chars=chars))
        assert chars[0] <= len(s.text) <= chars[1] and s.text in prose, s.text


def test_line_strips_are_one_line_of_type_high_and_crop_strips_tile_in_one_row():
    """The strip's height depends on the face, size and margin, never on the letters (no ascender in "now", both
    in "Python"); a crop strip is a whole number of squares, so the loader's multi-crop grid is one row."""
    from got.model.views import Views
    from got.render.line import LineContent, draw_line

    face = next(f for f in fonts.faces("en") if f.path.endswith("/LiberationSerif-Regular.ttf"))
    heights = {
        draw_line(LineContent("en", t, face, 30, 9, 0, False, "plain", "ocr", None)).images[0].size[1]
        for t in ("now", "Python", "—")
    }
    ascent, descent = fonts.font(face, 30).getmetrics()
    assert heights == {ascent + descent + 18}
    views = Views(size=128, tokens=16, min_tiles=1, max_tiles=6)
    for text in ("will", "mice", "remained", "a line of about thirty chars"):
        s = draw_line(LineContent("en", text, face, 30, 9, 0, True, "plain", "ocr", None))
        w, h = s.images[0].size
        assert s.crop and w % h == 0 and views.grid(w, h) == (min(w // h, 6), 1), (text, w, h)


# --- every renderer samples its content, then draws it ------------------------------------------------------------

BLUR = effects.Degradation(tilt=None, shadow=None, grain=None, blur=3.0, jpeg=None)


def restyled(content):
    """The same content drawn another way (blurred; clean lines get a wider margin): the pixels change, what they
    say does not."""
    if isinstance(content, LineContent):
        return dataclasses.replace(content, margin=content.margin + 4)
    if isinstance(content, MultipageContent):
        return dataclasses.replace(content, degradations=[BLUR] * len(content.degradations))
    return dataclasses.replace(content, degradation=BLUR)


@pytest.mark.parametrize("name", list(RENDERERS))
def test_content_draws_the_same_every_time(name, samples):
    r = RENDERERS[name]
    content = r.sample(sample_rng(7, 1), r.config())
    first, again = r.draw(content), r.draw(content)
    assert digest(first) == digest(again) == digest(samples[name][1])  # render() is sample, then draw
    other = r.draw(restyled(content))
    assert other.text == first.text and digest(other) != digest(first)


def test_chart_drawn_from_hand_made_content():
    face = next(f for f in fonts.faces("en") if f.path.endswith("/DejaVuSans.ttf"))
    c = chart.ChartContent(
        lang="en",
        kind="bar",
        categories=["2001", "2002", "2003"],
        data={"sales": {"2001": 5, "2002": 7, "2003": 9}},
        decimals=0,
        title="Sales",
        x_title=None,
        y_title=None,
        face=face,
        font_size=10.0,
        size=(4.0, 3.0),
        style="default",
        start_angle=0.0,
        markers=["o"],
        degradation=None,
    )
    s = chart.draw_chart(c)
    assert ast.literal_eval(s.text) == {
        "title": "Sales",
        "source": None,
        "x_title": None,
        "y_title": None,
        "values": {"2001": 5, "2002": 7, "2003": 9},
    }
    assert s.images[0].size == (400, 300)  # 4 x 3 inches at 100 dpi
    restyled = chart.draw_chart(dataclasses.replace(c, style="ggplot", font_size=12.0, size=(5.0, 3.0)))
    assert restyled.text == s.text and restyled.images[0].size == (500, 300)


@pytest.mark.parametrize(
    "lang,fmt,aspect",
    [
        ("en", False, None),
        ("zh", False, None),
        ("en", True, None),
        ("en", False, (0.3, 0.5)),
        ("zh", False, (0.3, 0.5)),
    ],
)
def test_page_content_outlasts_the_page(lang, fmt, aspect):
    """A page samples more blocks than it holds, so that the page, not the content, runs out: twice the blocks
    draw the same page."""
    cfg = DocumentConfig()
    for i in range(3):
        rng = random.Random(i)
        c = document.sample_page(rng, cfg, lang, fmt, document.page_size(rng, cfg, aspect))
        more = dataclasses.replace(c, blocks=c.blocks * 2)
        assert document.draw_page(more).text(fmt) == document.draw_page(c).text(fmt)


def contents(name: str, overrides: dict, n: int = 12) -> list:
    r = RENDERERS[name]
    cfg = build_config(r.config, overrides)
    return [r.sample(sample_rng(0, i), cfg) for i in range(n)]


def test_chart_config_ranges():
    fixed = {
        "categories": [3, 3],
        "category_kinds": {"years": 1.0},
        "first_year": [2000, 2000],
        "title_p": 0.0,
        "magnitude": [3, 3],
        "value": [0.5, 0.5],
        "decimals": [1],
    }
    for c in contents("chart", fixed):
        assert c.categories == ["2000", "2001", "2002"] and c.title is None
        assert {v for series in c.data.values() for v in series.values()} == {500.0}
    titled = contents("chart", {"title_p": 1.0, "axis_titles_p": 1.0, "kinds": {"line": 1.0}, "series": [1, 1]})
    assert all(c.title and c.x_title and c.y_title and len(c.data) == 1 for c in titled)


def test_document_config_ranges():
    page = {"langs": ["en"], "kinds": {"page": 1.0}, "format_p": 1.0}
    headed = {
        **page,
        "blocks": {"heading": 1.0},
        "heading_number_p": 1.0,
        "heading_number": [4, 4],
        "header_p": 0.0,
        "footer_p": 1.0,
        "page_number": [7, 7],
        "block_gap": [0.0, 0.0],
    }
    for c in contents("document", headed, 4):
        assert c.page.header is None and c.page.footer == 7
        assert all(b.text.startswith("4.4 ") and b.gap == 0.0 for b in c.page.blocks)
    inline = {**page, "blocks": {"paragraph": 1.0}, "inline_math_p": 1.0, "inline_formulas": [2, 2]}
    for c in contents("document", inline, 4):
        assert all(len(b.math) == 2 and chr(layout.MATH_BASE + 1) in b.text for b in c.page.blocks)
    listed = {**page, "blocks": {"list": 1.0}, "list_items": [3, 3], "list_numbered_p": 0.0, "item_chars": [30, 30]}
    for c in contents("document", listed, 4):
        assert all(len(b.items) == 3 and not b.numbered and max(map(len, b.items)) <= 30 for b in c.page.blocks)


def test_formula_grammar_ranges():
    fractions = {
        "classic_p": 0.0,
        "env_p": 0.0,
        "equation_p": 0.0,
        "depth": [1, 1],
        "terms": [1, 1],
        "kinds": {"fraction": 1.0},
        "atoms": {"number": 1.0},
        "integer_p": 1.0,
        "integer": [7, 7],
    }
    drawn = {(c.latex, c.display) for c in contents("formula", {"grammar": fractions, "display_p": 0.0})}
    assert drawn == {(r"\frac{7}{7}", False)}  # depth 1: a fraction of two depth-0 terms, each the integer 7
    assert all(c.latex in formula.CLASSICS for c in contents("formula", {"grammar": {"classic_p": 1.0}}))
    assert all(r"\begin{" in c.latex for c in contents("formula", {"grammar": {"classic_p": 0.0, "env_p": 1.0}}))


def test_table_config_ranges():
    fixed = {
        "rows": [6, 6],
        "cols": [3, 3],
        "column_kinds": ["percent"],
        "decimals": [2, 2],
        "multirow_p": 1.0,
        "multirow_row_p": 1.0,
        "group_p": 0.0,
        "margin": [10, 10],
    }
    for c in contents("table", fixed):
        t = c.table
        assert t.multirow == [0, 2, 4] and not t.groups and c.margin == 10
        assert all(re.fullmatch(r"\d+\.\d%", cell) for row in t.rows for cell in row[1:])  # percent: one decimal fewer


def test_effect_probabilities():
    rng = random.Random(0)
    assert {effects.sample_paper(rng, effects.PaperConfig(plain_p=1.0)) for _ in range(10)} == {None}
    papers = [effects.sample_paper(rng, effects.PaperConfig(plain_p=0.0, grain=(3.0, 3.0))) for _ in range(10)]
    assert {p.grain.sigma for p in papers} == {3.0}
    assert {effects.sample_degradation(rng, effects.DegradeConfig(p=0.0)) for _ in range(10)} == {None}
    full = [effects.sample_degradation(rng, effects.DegradeConfig(p=1.0, each_p=1.0, jpeg=(50, 50))) for _ in range(10)]
    assert all(d.tilt and d.shadow and d.grain and d.blur and d.jpeg == 50 for d in full)
    photos = [effects.sample_photo(rng, effects.PhotoConfig(texture_p=0.0, clutter=(3, 3))) for _ in range(10)]
    assert all(p.texture is None and len(p.clutter) == 3 for p in photos)


def test_scene_geometry_music_molecule_ranges():
    scene = {"lines": [2, 2], "phrase_p": 1.0, "outline_p": 0.0, "shadow_p": 1.0, "soft_p": 1.0, "soft": [0.5, 0.5]}
    assert all(len(c.lines) == 2 and c.outline == 0 and c.shadow and c.soft == 0.5 for c in contents("scene", scene))
    squares = {"shapes": [2, 2], "weights": {"polygon": 1.0}, "polygon_sides": [4, 4], "dashed_p": 1.0}
    for c in contents("geometry", squares):
        drawn = [ln for ln in c.tikz if ln.startswith(r"\draw")]
        assert len(drawn) == 2 and all(ln.startswith(r"\draw[dashed] (") and ln.count(" -- ") == 4 for ln in drawn)
    rests = {"real_p": 0.0, "rest_p": 1.0, "grand_staff_p": 0.0, "key_fifths": [2, 2]}
    for c in contents("music", rests):
        rows = [ln.split("\t") for ln in c.kern.split("\n")]
        notes = [t for r in rows for t in r if t[0].isdigit()]
        assert {len(r) for r in rows} == {1} and ["*k[f#c#]"] in rows and all(t.endswith("r") for t in notes)
    pool = {Chem.CanonSmiles(s) for s in molecule.smiles_pool("", 48)}
    assert all(c.smiles in pool for c in contents("molecule", {"mutate_p": 0.0}))


def test_page_types_config_ranges():
    pages = contents("multipage", {"pages": [3, 3], "blocks": [1, 1]}, 4)
    assert all(len(c.pages) == 3 and all(len(p.blocks) == 1 for p in c.pages) for c in pages)
    crops = contents("multicrop", {"pages": [2, 2], "horizontal_p": 1.0}, 4)
    assert all(c.horizontal and len(c.pages) == 2 for c in crops)
    r = RENDERERS["finegrained"]
    cfg = build_config(r.config, {"regions": {"lines": 1.0}, "region_lines": [2, 2], "document": {"langs": ["en"]}})
    lines = [r.draw(r.sample(sample_rng(0, i), cfg)).text.count("\n") + 1 for i in range(4)]
    assert max(lines) == 2  # two lines (one where the paragraph has one)
