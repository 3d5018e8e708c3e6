import pytest

from got.data.sample import Sample
from got.eval.metrics import score_pair
from got.render import render, sample_rng
from got.render.text import package_dir
from got.train.rewards import (
    ALWAYS,
    FORMATS,
    REWARDS,
    RewardConfig,
    Rollout,
    balanced,
    chart,
    kern,
    latex,
    length,
    no_repetition,
    region,
    score,
    similarity,
    smiles,
    stop,
    table,
)

CORPUS = package_dir("music21") / "corpus"


def out(text: str, stopped: bool = True) -> Rollout:
    return Rollout(text, stopped)


def typed(kind: str, label: str) -> Sample:
    source = next(s for s, f in FORMATS.items() if f == kind)
    return Sample([], label, task="format", source=source)


def test_similarity_is_one_minus_the_metrics_edit_distance():
    doc = Sample([], "kitten")
    assert similarity(doc, out("sitting")) == pytest.approx(1 - 3 / 7)  # k->s, e->i, +g over 7 characters
    assert similarity(doc, out("kitten")) == 1.0 and similarity(doc, out("")) == 0.0
    for label, pred in [("kitten", "sitting"), ("a table\nof rows", "a tabel of\nrow"), ("x", "yyyy")]:
        assert similarity(Sample([], label), out(pred)) == pytest.approx(1 - score_pair(label, pred)["edit_dist"])


def test_stop_and_repetition_use_the_metrics_loop_detector():
    label, looping = "abcd", "ab" + "cd" * 5  # the tail repeats "cd" 4 times after its first copy: 8 of 12 chars
    assert score_pair(label, looping)["looping"] == 1.0  # the metric calls it a loop
    doc = Sample([], label)
    assert stop(doc, out(label)) == 1.0
    assert stop(doc, out(label, stopped=False)) == 0.0  # ran into the token budget
    assert stop(doc, out(looping)) == 0.0  # stopped, but after looping
    assert no_repetition(doc, out(looping)) == pytest.approx(1 - 8 / 12)
    assert no_repetition(doc, out(label)) == 1.0
    # a label that repeats itself: reading it exactly is neither a loop nor a penalty
    assert stop(Sample([], looping), out(looping)) == 1.0 and no_repetition(Sample([], looping), out(looping)) == 1.0


def test_length_ratio():
    doc = Sample([], "abcdef")
    assert length(doc, out("abc")) == 0.5 and length(doc, out("abcdefghijkl")) == 0.5
    assert length(doc, out("")) == 0.0 and length(Sample([], ""), out("")) == 1.0


def test_region_is_the_share_of_the_output_that_is_the_region():
    page, label = "alpha beta gamma delta", "beta gamma"
    boxed = Sample([], label, box=(100, 200, 600, 260), source="render/finegrained")
    coloured = Sample([], label, color="red", source="render/finegrained")
    assert region(boxed, out(label)) == 1.0 and region(coloured, out(label)) == 1.0
    assert region(boxed, out(page)) == pytest.approx(10 / 22)  # the whole page: 10 of its 22 characters
    assert region(boxed, out("")) == 0.0
    assert region(Sample([], label), out(page)) is None  # no box, no colour: not a region task


def test_smiles_equal_molecules_score_one():
    mol = typed("smiles", "CCO")
    assert smiles(mol, out("OCC")) == 1.0 and smiles(mol, out("C(O)C")) == 1.0  # ethanol written two other ways
    assert smiles(mol, out("CCN")) == 0.0  # ethylamine
    for junk in ["C1CC", "xyz((", "", "\x00\xff", "\udc80"]:  # open ring, not SMILES, empty, binary, a surrogate
        assert smiles(mol, out(junk)) == 0.0
    assert smiles(Sample([], "CCO"), out("CCO")) is None
    with pytest.raises(ValueError, match="not a SMILES"):
        smiles(typed("smiles", "not a molecule"), out("CCO"))


def test_kern_real_file_loads_and_truncated_does_not():
    # chorales with lyrics spines (verovio marks bwv366's notes class="note placed"); a mazurka that splits spines
    for name in ["bach/bwv277.krn", "bach/bwv366.krn", "chopin/mazurka06-2.krn"]:
        text = (CORPUS / name).read_text(encoding="latin-1")
        music = typed("kern", text)
        assert kern(music, out(text)) == 1.0, name
        lines = text.split("\n")
        assert kern(music, out("\n".join(lines[: len(lines) // 2]))) == 0.0, name
    music = typed("kern", "**kern\n4c\n*-")
    assert kern(music, out("**kern\n4c\n*-")) == 1.0
    assert kern(music, out("**kern\n*-")) == 0.0  # whole, but verovio engraves no note
    # not kern, empty, a record short of a spine, spines left open, binary: verovio engraves most without complaint
    for junk in ["hello world", "", "**kern\t**kern\n4c\n*-\t*-", "**kern\n4c", "\x00\x01{{"]:
        assert kern(music, out(junk)) == 0.0, junk
    assert kern(Sample([], "**kern\n4c\n*-"), out("**kern\n4c\n*-")) is None


def test_balanced_latex():
    assert balanced(r"\frac{a}{b} \left( x \right) \begin{pmatrix} a \\ b \end{pmatrix} \{ x")
    for bad in [r"\frac{a}{b", r"x}", r"\left( x", r"\begin{pmatrix} a \end{bmatrix}", r"{ \left( } \right)"]:
        assert not balanced(bad), bad
    assert balanced(r"\leftarrow x \rightarrow")  # arrows are not \left/\right


def test_latex_balanced_and_typeset_by_mathjax():
    formula = typed("latex", r"\[ x^{2} \]")
    assert latex(formula, out(r"\[ \frac{a}{b} + \sqrt{x} \]")) == 1.0
    assert latex(formula, out(r"\( x^{2} \)")) == 1.0  # inline wrapper: still a formula
    for bad in [
        r"\[ \frac{a}{b \]",
        r"\[ \left( x \]",
        r"\[ \begin{pmatrix} a \end{bmatrix} \]",  # unbalanced
        r"\[ x^^2 \]",
        r"\[ a & b \]",  # balanced, but MathJax refuses them
        r"\[ \foo x \]",  # an undefined macro, which MathJax would typeset in red
        r"x^{2}",
        r"\[ \]",
        "",  # not wrapped like the label; empty
    ]:
        assert latex(formula, out(bad)) == 0.0, bad
    assert latex(typed("latex", "x^{2}"), out(r"\frac{a}{b}")) == 1.0  # an unwrapped label asks for no wrapper


def test_chart_dict_has_the_labels_keys():
    label = "{'title': 'T', 'source': None, 'x_title': None, 'y_title': None, 'values': {'a': 1, 'b': 2}}"
    plot = typed("chart", label)
    assert chart(plot, out(label)) == 1.0
    assert chart(plot, out(label.replace("1", "7"))) == 1.0  # values are similarity's business
    # no 'source', 'c' for 'b': 5 shared key paths of 8 in all
    assert chart(plot, out("{'title': 'T', 'x_title': 0, 'y_title': 0, 'values': {'a': 1, 'c': 2}}")) == 5 / 8
    nested = typed("chart", "{'title': None, 'values': {'s1': {'a': 1}, 's2': {'a': 2}}}")
    assert chart(nested, out("{'title': None, 'values': {'s1': {'a': 1}}}")) == 4 / 6  # s2 and s2/a missing
    for junk in ["[1, 2]", "{'title': ", "", "(" * 500, "__import__('os')"]:
        assert chart(plot, out(junk)) == 0.0, junk


TABLE = r"""\begin{tabular}{|l|c|r|}
\hline
a & b & c \\
\multicolumn{2}{|c|}{ab} & c \\
\multirow{2}{*}{m} & b & c \\
 & e & f \\
a \& b & c \\
x & y & z & w \\
\hline
\end{tabular}"""


def test_table_rows_fill_the_columns():
    tab = typed("table", TABLE)
    # rows 1-4 have 3 cells (multicolumn{2} counts 2); "a \& b & c" has 2, the last 4
    assert table(tab, out(TABLE)) == pytest.approx(4 / 6)
    assert table(tab, out(TABLE.replace(r"\&", "&").replace(" & w", ""))) == 1.0
    assert table(tab, out(TABLE.replace(r"\end{tabular}", ""))) == 0.0  # cut off
    assert table(tab, out("a & b & c")) == 0.0  # no tabular
    assert table(tab, out(r"\begin{tabular}{lc}\end{tabular}")) == 0.0  # no rows


@pytest.fixture(scope="module")
def rendered() -> dict[str, Sample]:
    return {
        name: render(name, sample_rng(3, 0))
        for name in ["molecule", "music", "formula", "chart", "table", "finegrained", "document", "geometry"]
    }


def test_every_label_scores_one(rendered):
    cfg = RewardConfig()
    for name, sample in rendered.items():
        scores = score(sample, out(sample.text), cfg)
        assert scores["total"] == 1.0 and all(v == 1.0 for v in scores.values()), (name, scores)
        assert set(scores) - {"total"} - set(ALWAYS) == {
            "molecule": {"smiles"},
            "music": {"kern"},
            "formula": {"latex"},
            "chart": {"chart"},
            "table": {"table"},
            "finegrained": {"region"},
        }.get(name, set()), name


JUNK = bytes(range(256)).decode("latin-1")
# short enough to reach the engines (ENGINE_SLACK), and long: 10k repeated tokens, a closed kern of 3000 notes
GARBAGE = [
    "",
    JUNK,
    "\x00\xff\x01" * 50,
    "\udc80 lone surrogate",
    "{" * 150,
    r"\left(" * 40,
    r"\[ " + JUNK + r" \]",
    "**kern\n\x00\udc80zz\n*-",
    "the " * 10000,
    "{" * 3000,
    "**kern\n" + "4c\n" * 3000 + "*-",
    JUNK * 20,
]


def test_garbage_never_raises_and_scores_no_format(rendered):
    cfg = RewardConfig()
    for name, sample in rendered.items():
        for junk in GARBAGE:
            for stopped in (True, False):
                scores = score(sample, out(junk, stopped), cfg)
                assert all(0.0 <= v <= 1.0 for v in scores.values()), (name, junk[:20], scores)
                assert all(scores[k] == 0.0 for k in scores if k in FORMATS.values()), (name, junk[:20], scores)
                assert scores["total"] < 0.6, (name, junk[:20], scores)


def test_score_weights_renormalise_over_applicable_rewards():
    cfg = RewardConfig({"similarity": 1.0, "length": 3.0, "smiles": 2.0})
    # "OCC" against "CCO": 2 substitutions in 3 characters, same length, same molecule
    assert score(typed("smiles", "CCO"), out("OCC"), cfg) == pytest.approx(
        {"similarity": 1 / 3, "length": 1.0, "smiles": 1.0, "total": (1 / 3 + 3 + 2) / 6}
    )
    # not a molecule sample: smiles does not apply and leaves the total with its weight
    assert score(Sample([], "CCO"), out("OCC"), cfg) == pytest.approx(
        {"similarity": 1 / 3, "length": 1.0, "total": (1 / 3 + 3) / 4}
    )
    # a weight of 0 reports a reward outside the total
    assert score(Sample([], "CCO"), out("OCC"), RewardConfig({"similarity": 1.0, "length": 0.0})) == pytest.approx(
        {"similarity": 1 / 3, "length": 1.0, "total": 1 / 3}
    )


def test_a_reward_that_does_not_apply_never_changes_the_total(rendered):
    every, base = RewardConfig({name: 1.0 for name in REWARDS}), RewardConfig({name: 1.0 for name in ALWAYS})
    doc = rendered["document"]
    for text in [doc.text, doc.text[:50], "junk"]:
        assert score(doc, out(text), every)["total"] == score(doc, out(text), base)["total"]


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown reward\(s\) bleu; known: similarity, stop, repetition"):
        RewardConfig({"similarity": 1.0, "bleu": 1.0})
    with pytest.raises(ValueError, match="finite numbers >= 0"):
        RewardConfig({"similarity": -1.0})
    with pytest.raises(ValueError, match="every sample has"):
        RewardConfig({"smiles": 1.0, "similarity": 0.0})
