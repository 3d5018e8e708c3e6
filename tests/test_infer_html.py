"""got.infer.html: every kind of GOT output rendered from the project's own targets, parsed back, checked against the
source's own structure (formulas written, table cells, atoms and bonds, notes, chart values, TikZ shapes), broken
outputs shown with a note, and a full page in headless Chromium with the network off."""

import ast
import random
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from PIL import Image
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from got.infer.html import detect_kind, render_output, render_page, save_render
from got.render import chart, document, formula, geometry, molecule, music, table

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict
    parent: "Node | None" = None
    children: list = field(default_factory=list)

    def iter(self, tag: str | None = None):
        for c in self.children:
            if isinstance(c, Node):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.iter(tag)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def find(self, cls: str) -> list["Node"]:
        return [n for n in self.iter() if cls in n.classes()]


class TreeBuilder(HTMLParser):
    """A plain DOM of the HTML (tags and attribute names lower-cased by html.parser)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n.parent is not None and n.tag != tag:
            n = n.parent
        if n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(html_text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html_text)
    builder.close()
    return builder.root


def formulas(root: Node) -> list[Node]:
    """MathJax's SVGs: an <svg> whose first drawn group is MathJax's math node."""
    return [s for s in root.iter("svg") if any(g.attrs.get("data-mml-node") == "math" for g in s.iter("g"))]


def note(root: Node) -> str:
    return " ".join(n.text() for n in root.find("got-note"))


# --- math and markdown ------------------------------------------------------------------------------------------------

HAND = "# Results\n\nThe value \\(x^{2} + \\frac{1}{2}\\) grows.\n\n\\[ E = mc^{2} \\]\n\n- first\n- second"


def test_hand_written_markdown_with_math():
    root = parse(render_output(HAND))
    assert [h.text() for h in root.iter("h1")] == ["Results"]
    assert [li.text() for li in root.iter("li")] == ["first", "second"]
    inline, display = formulas(root)
    assert "inline" in inline.parent.classes() and "display" in display.parent.classes()
    nodes = {g.attrs.get("data-mml-node") for g in inline.iter("g")}
    assert {"msup", "mfrac"} <= nodes  # MathJax's own tree of x^{2} + \frac{1}{2}


def test_document_target_every_formula_typeset():
    rng = random.Random(7)
    page = document.compose(rng, document.DocumentConfig(inline_math_p=1.0), "en", True, (1000, 1400))
    target = page.text(True)
    written = target.count("\\(") + target.count("\\[")  # the renderer wraps each formula in one pair
    assert written >= 2
    root = parse(render_output(target))
    assert len(formulas(root)) == written
    assert note(root) == ""
    headings = [b for b in page.blocks if b.md.startswith(("# ", "## "))]
    assert len(list(root.iter("h1"))) + len(list(root.iter("h2"))) == len(headings)


@pytest.mark.parametrize("seed", [0, 1])
def test_formula_target(seed):
    sample = formula.render_formula(random.Random(seed), formula.FormulaConfig())
    root = parse(render_output(sample.text))
    (svg,) = formulas(root)
    assert ("display" in svg.parent.classes()) == sample.text.startswith("\\[")


# --- tabular ------------------------------------------------------------------------------------------------------


def grid(tbl: Node) -> dict[tuple[int, int], str]:
    """(row, column) -> text of the cell covering it, following colspan and rowspan; fails on an overlap."""
    cover: dict[tuple[int, int], str] = {}
    for r, tr in enumerate(tbl.iter("tr")):
        c = 0
        for td in tr.iter("td"):
            while (r, c) in cover:
                c += 1
            for dr in range(int(td.attrs.get("rowspan", 1))):
                for dc in range(int(td.attrs.get("colspan", 1))):
                    assert (r + dr, c + dc) not in cover, f"cells overlap at {(r + dr, c + dc)}"
                    cover[(r + dr, c + dc)] = td.text()
            c += int(td.attrs.get("colspan", 1))
    return cover


def test_table_target_spans_honoured():
    cfg = table.TableConfig(rows=(6, 6), cols=(4, 4), group_p=1.0, multirow_p=1.0, styles=("grid",))
    t = table.random_table(random.Random(2), cfg, "en")
    assert t.groups and t.multirow
    root = parse(render_output(table.to_latex(t)))
    (tbl,) = list(root.iter("table"))
    cover = grid(tbl)
    n_rows = len(t.rows) + 2  # the group row, the header, the body
    assert set(cover) == {(r, c) for r in range(n_rows) for c in range(4)}  # a full rectangle, nothing over
    col = 0
    for label, span in t.groups:
        assert {cover[(0, c)] for c in range(col, col + span)} == {label}
        col += span
    assert [cover[(1, c)] for c in range(4)] == t.header
    for r, row in enumerate(t.rows):
        for c, value in enumerate(row):
            if c == 0 and r - 1 in t.multirow:
                assert cover[(r + 2, 0)] == t.rows[r - 1][0]  # under the \multirow: the cell above spans it
            else:
                assert cover[(r + 2, c)] == value


def test_tabular_cells_with_math_and_escapes():
    latex = (
        "\\begin{tabular}{|l|r|}\n\\hline\n$x^{2}$ & \\(y\\) \\\\\n\\hline\n"
        "\\multicolumn{2}{|c|}{50\\% \\& \\$3} \\\\\n\\hline\n\\end{tabular}"
    )
    root = parse(render_output(latex))
    rows = list(root.iter("tr"))
    assert [len(list(tr.iter("td"))) for tr in rows] == [2, 1]
    assert all(len(formulas(td)) == 1 for td in rows[0].iter("td"))
    (wide,) = rows[1].iter("td")
    assert wide.attrs["colspan"] == "2" and wide.text() == "50% & $3"


# --- SMILES -------------------------------------------------------------------------------------------------------


def test_caffeine_depicted():
    root = parse(render_output("Cn1cnc2c1c(=O)n(C)c(=O)n2C"))
    (fig,) = root.find("got-molecule")
    (svg,) = fig.iter("svg")
    classes = [n.classes() for n in svg.iter() if n.classes()]
    bonds = {c for cs in classes for c in cs if c.startswith("bond-")}
    labelled = {cs[0] for cs in classes if cs[0].startswith("atom-")}  # heteroatom labels: N and O
    assert len(bonds) == 15 and len(labelled) == 6  # caffeine, C8H10N4O2: 14 heavy atoms in two fused rings
    shown = fig.find("got-smiles")[0].text()
    assert rdMolDescriptors.CalcMolFormula(Chem.MolFromSmiles(shown)) == "C8H10N4O2"


def test_molecule_target_canonical_smiles_shown():
    sample = molecule.render_molecule(random.Random(4), molecule.MoleculeConfig())
    assert detect_kind(sample.text) == "smiles"
    root = parse(render_output(sample.text))
    assert root.find("got-smiles")[0].text() == Chem.CanonSmiles(sample.text)
    assert len(list(root.find("got-molecule")[0].iter("svg"))) == 1


# --- **kern -------------------------------------------------------------------------------------------------------


def test_kern_target_engraved():
    kern = music.synthesise(random.Random(3), music.MusicConfig())
    assert detect_kind(kern) == "kern"
    root = parse(render_output(kern))
    (box,) = root.find("got-music")
    assert list(box.iter("svg"))
    tokens = [t for line in kern.split("\n") for t in line.split("\t")]
    notes = [t for t in tokens if t[:1] not in ("*", "=", "!", ".") and "r" not in t]  # no rest, no chord here
    assert len([g for g in box.iter("g") if g.classes() == ["note"]]) == len(notes)  # verovio engraved every note


def test_kern_that_kills_verovio_is_a_note():
    crash = "**kern\n*+\n4c\t4d\n*-\t*-"  # well-formed spines; verovio 6.4 segfaults on the added spine
    root = parse(render_output(crash))
    assert "verovio could not engrave" in note(root) and crash in root.find("got-unrendered")[0].text()
    assert parse(render_output("**kern\n4c\n*-")).find("got-music")  # a fresh child engraves the next one


# --- chart dict ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])  # two series, then one
def test_chart_target_table_and_redrawn_chart(seed):
    sample = chart.render_chart(random.Random(seed), chart.ChartConfig(langs=("en",)))
    data = ast.literal_eval(sample.text)
    values = data["values"]
    series = values if isinstance(next(iter(values.values())), dict) else {"": values}
    categories = list(next(iter(series.values())))
    root = parse(render_output(sample.text))
    (tbl,) = root.find("got-chart-values")
    rows = [[c.text() for c in tr.children if isinstance(c, Node) and c.tag in ("th", "td")] for tr in tbl.iter("tr")]
    assert len(rows) == 1 + len(categories) and {len(r) for r in rows} == {1 + len(series)}
    assert [r[0] for r in rows[1:]] == categories
    for j, cats in enumerate(series.values()):
        assert [r[j + 1] for r in rows[1:]] == [str(cats[c]) for c in categories]
    (svg,) = root.find("got-chart")[0].iter("svg")
    texts = {t.text() for t in svg.iter("text")}
    assert {str(v) for cats in series.values() for v in cats.values()} <= texts  # every bar labelled with its value
    assert data["title"] is None or data["title"] in texts


# --- TikZ ---------------------------------------------------------------------------------------------------------

SHAPES = ("polyline", "polygon", "circle", "ellipse", "rect")


def test_geometry_target_shapes_counted():
    target = geometry.render_geometry(random.Random(11), geometry.GeometryConfig(shapes=(5, 6))).text
    assert detect_kind(target) == "tikz"
    lines = target.split("\n")
    root = parse(render_output(target))
    (svg,) = root.find("got-tikz")
    shapes = [n for n in svg.iter() if n.tag in SHAPES]
    strokes = [s for s in shapes if s.attrs["fill"] == "none"]
    dots = [s for s in shapes if s.attrs["fill"] == "currentColor"]
    assert len(strokes) == sum(ln.startswith("\\draw") for ln in lines)
    assert len(dots) == sum(ln.startswith("\\fill") for ln in lines)
    assert [t.text() for t in svg.iter("text")] == re.findall(r"\{\$(\w)\$\}", target)
    assert svg.attrs["viewbox"] == "-6 -6 12 12"  # the \clip rectangle is the frame
    assert note(root) == ""


def test_tikz_coordinates_by_hand():
    target = (
        "\\begin{tikzpicture}\n\\draw (0.0,0.0) -- (2.0,0.0) -- (2.0,1.0) -- cycle;\n"
        "\\draw[dashed] (1.0,1.0) circle (0.5);\n\\draw (0.0,0.0) ellipse (2.0 and 1.0);\n"
        "\\draw[domain=-1.0:1.0] plot (\\x, {2.0*(\\x-(0.0))^2+(1.0)});\n\\end{tikzpicture}"
    )
    (svg,) = parse(render_output(target)).find("got-tikz")
    (triangle,) = svg.iter("polygon")
    assert triangle.attrs["points"] == "0,0 2,0 2,-1"  # y points down in SVG
    (circle,) = svg.iter("circle")
    assert (circle.attrs["cx"], circle.attrs["cy"], circle.attrs["r"]) == ("1", "-1", "0.5")
    assert circle.attrs["stroke-dasharray"]
    (ellipse,) = svg.iter("ellipse")
    assert (ellipse.attrs["rx"], ellipse.attrs["ry"]) == ("2", "1")
    (parabola,) = svg.iter("polyline")
    points = [tuple(map(float, p.split(","))) for p in parabola.attrs["points"].split()]
    assert len(points) == 25  # TikZ's default samples
    assert points[0] == (-1.0, -3.0) and points[12] == (0.0, -1.0) and points[-1] == (1.0, -3.0)  # y = 2x^2 + 1


# --- broken outputs -----------------------------------------------------------------------------------------------

BROKEN = [  # kind, what detect_kind says, the output, what must show, the note's key word
    ("markdown", "markdown", "Value \\( \\frac{1}{2 \\) here.", "\\( \\frac{1}{2 \\)", "MathJax"),
    ("markdown", "markdown", "\\begin{tabular}{cc}\na & b \\\\\nc &", "\\begin{tabular}{cc}", "not closed"),
    ("smiles", "text", "C1CC(N", "C1CC(N", "RDKit"),  # as a prediction is rendered: as the kind of its label
    ("kern", "kern", "**kern\t**kern\n4c\n*-", "**kern\t**kern", "spine"),
    ("chart", "chart", "{'title': 'Sales', 'values': {'a': 1, 'b'", "{'title': 'Sales'", "not a chart dict"),
    ("tikz", "tikz", "\\begin{tikzpicture}\n\\draw (0,0) -- (1,1);", "\\draw (0,0) -- (1,1);", "not closed"),
]


@pytest.mark.parametrize("kind,detected,text,shown,why", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_output_shown_with_a_note(kind, detected, text, shown, why):
    assert detect_kind(text) == detected
    root = parse(render_output(text, kind))
    assert why in note(root)
    (box,) = root.find("got-unrendered")
    assert shown in box.text()  # the text itself, escaped, under the note


@pytest.mark.parametrize("kind", ["text", "markdown", "tikz", "chart"])
def test_raw_html_is_text(kind):
    attack = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    text = {
        "text": attack,
        "markdown": f"# T\n\n{attack} \\(x\\)",
        "tikz": f"\\begin{{tikzpicture}}\\fill (0,0) circle (2pt) node[above] {{{attack}}};\\end{{tikzpicture}}",
        "chart": repr({"title": attack, "values": {attack: 1}}),
    }[kind]
    out = render_output(text)
    root = parse(out)
    assert not list(root.iter("script")) and not list(root.iter("img"))
    assert "<script>alert(1)</script>" in root.text()


def test_detection():
    assert detect_kind("Hello world\nsecond line") == "text"
    assert detect_kind("NO") == "text" and detect_kind("2024") == "text"  # valid SMILES, but words and numbers
    assert detect_kind("CCO") == "smiles"
    assert detect_kind("**Note**: bold") == "markdown"
    assert detect_kind('{"title": null, "values": {"a": 1}}') == "chart"
    with pytest.raises(ValueError, match="unknown output kind"):
        render_output("x", "latex")


# --- the page -----------------------------------------------------------------------------------------------------


def test_pages_have_no_url():
    samples = [
        HAND,
        table.to_latex(table.random_table(random.Random(0), table.TableConfig(), "en")),
        "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
        music.synthesise(random.Random(0), music.MusicConfig()),
        chart.render_chart(random.Random(0), chart.ChartConfig()).text,
        geometry.render_geometry(random.Random(0), geometry.GeometryConfig()).text,
    ]
    for text in samples:
        page = render_page(text, image=Image.new("RGB", (64, 48), "white"))
        assert not re.search(r"https?://", page, re.I)
        root = parse(page)
        refs = [v for n in root.iter() for k, v in n.attrs.items() if k in ("src", "href", "xlink:href")]
        assert all(v.startswith(("data:", "#")) for v in refs), refs


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_page_in_headless_chromium(tmp_path):
    rng = random.Random(7)
    page = document.compose(rng, document.DocumentConfig(inline_math_p=1.0), "en", True, (1000, 1400))
    text = page.text(True)
    path = save_render(text, tmp_path / "out" / "page.html", title="a page", image=page.image)
    assert path.read_text(encoding="utf-8") == render_page(text, title="a page", image=page.image)
    flags = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,1600",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
    ]  # no network
    shot = tmp_path / "page.png"
    run = subprocess.run(
        [*flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [line for line in run.stderr.splitlines() if ":CONSOLE" in line] == []  # nothing blocked, nothing failed
    pixels = Image.open(shot).convert("L")
    dark = sum(pixels.histogram()[:128]) / (pixels.width * pixels.height)
    assert 0.005 < dark < 0.5  # text, formulas and the thumbnail drawn on a white page
    dom = subprocess.run([*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    root = parse(dom)
    assert len(formulas(root)) == text.count("\\(") + text.count("\\[")  # still there, as SVG, in Chromium's DOM
    assert root.find("got-side") and [i.attrs["src"][:23] for i in root.iter("img")] == ["data:image/jpeg;base64,"]
