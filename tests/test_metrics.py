import os
import subprocess
import sys
import warnings
from pathlib import Path

import jieba
import nltk
import pytest
from nltk.metrics import f_measure, precision, recall
from nltk.translate.bleu_score import sentence_bleu
from nltk.translate.meteor_score import meteor_score

from got.eval.metrics import (
    NLTK_DATA,
    check_requirements,
    cut_loop,
    format_parts,
    repetition,
    score_corpus,
    score_pair,
    tokenize,
)

ROOT = Path(__file__).resolve().parents[1]


def _wordnet_installed() -> bool:
    try:
        check_requirements([], [])
        return True
    except RuntimeError:
        return False


# Every score includes METEOR, so scoring tests need WordNet; the rest run without it.
needs_wordnet = pytest.mark.skipif(
    not _wordnet_installed(), reason=f"WordNet not installed in {NLTK_DATA}: run scripts/setup_wordnet.sh"
)

LABEL, PRED = "the cat sat on the mat", "the cat sat on a mat"


def bleu(ref, hyp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sentence_bleu([ref], hyp)


@needs_wordnet
def test_strict_by_hand():
    s = score_pair(LABEL, PRED, mode="strict")
    assert s["mode"] == "strict"
    assert s["edit_dist"] == s["cer"] == 3 / 22  # "the" -> "a": one substitution, two deletions
    assert s["wer"] == 1 / 6
    # multiset: "the" twice in the label, once in the prediction
    assert s["precision"] == s["recall"] == s["f1"] == pytest.approx(5 / 6)
    lab, pred = LABEL.split(), PRED.split()
    assert s["bleu"] == bleu(lab, pred)
    assert s["meteor"] == meteor_score([lab], pred)
    assert s["repetition"] == s["looping"] == 0.0


@needs_wordnet
def test_set_based_modes_by_hand():
    # sets: label {the, cat, sat, on, mat}, prediction {the, cat, sat, on, a, mat}
    nougat, got = score_pair(LABEL, PRED, mode="nougat"), score_pair(LABEL, PRED, mode="got")
    assert (nougat["precision"], nougat["recall"]) == (5 / 6, 1.0)
    assert (got["precision"], got["recall"]) == (1.0, 5 / 6)  # swapped
    lab, pred = LABEL.split(), PRED.split()
    assert nougat["bleu"] == bleu(lab, pred) and got["bleu"] == bleu(pred, lab)
    assert nougat["meteor"] == meteor_score([lab], pred) and got["meteor"] == meteor_score([pred], lab)


@needs_wordnet
def test_got_precision_is_strict_recall():
    label, pred = "alpha beta gamma delta", "alpha beta omega"  # every token unique: sets == multisets
    got, strict = score_pair(label, pred, mode="got"), score_pair(label, pred, mode="strict")
    assert got["precision"] == strict["recall"] == 2 / 4
    assert got["recall"] == strict["precision"] == 2 / 3
    assert got["f1"] == pytest.approx(strict["f1"])
    assert got["edit_dist"] == strict["edit_dist"]  # symmetric


def got_reference(entries):
    """GOT's pyevaltools/eval_ocr.py loop restated with its nltk calls: label goes in as pred, answer as gt."""
    results = []
    for e in entries:
        pred, gt = e["label"], e["answer"]
        if len(pred) < 1 or len(gt) < 1:
            continue
        cjk = any("\u4e00" <= c <= "\u9fa5" for c in pred + gt)
        reference, hypothesis = (jieba.lcut(gt), jieba.lcut(pred)) if cjk else (gt.split(), pred.split())
        m = {"bleu": bleu(reference, hypothesis), "meteor": meteor_score([reference], hypothesis)}
        reference, hypothesis = set(reference), set(hypothesis)
        m["f1"] = f_measure(reference, hypothesis)
        m["precision"], m["recall"] = precision(reference, hypothesis), recall(reference, hypothesis)
        m["edit_dist"] = nltk.edit_distance(pred, gt) / max(len(pred), len(gt))
        results.append(m)
    total = dict.fromkeys(results[0], 0)
    for m in results:
        for k, v in m.items():
            total[k] += v
    return {k: v / len(results) for k, v in total.items()}, len(results)


GOT_ENTRIES = [
    {
        "label": "The quick brown fox jumps over the lazy dog near the river bank",
        "answer": "The quick brown fox jumped over a lazy dog near the river",
    },
    {
        "label": "Results of the survey were published in 2021 by the committee",
        "answer": "Results of the survey was published in 2021 by committee members",
    },
    {"label": "我爱北京天安门，天安门上太阳升。 GOT-OCR 2.0", "answer": "我爱北京天安门，天安门上太阳 GOT OCR 2.0"},
    {"label": "一段中文文本用于测试分词", "answer": "一段中文文字用于测试"},
    {"label": "skipped because the answer is empty", "answer": ""},
]


@needs_wordnet
def test_got_mode_matches_got_script_bit_for_bit():
    expected, n = got_reference(GOT_ENTRIES)
    out = score_corpus([(e["label"], e["answer"]) for e in GOT_ENTRIES], mode="got")
    assert out["mode"] == "got" and "swap" in out["note"]
    assert out["n"] == n == 4 and out["skipped"] == {"empty_pred": 1}
    for k, v in expected.items():
        assert out["macro"][k] == v, k  # exact: same calls, same summation order


@needs_wordnet
def test_nougat_mode_skips_short_strings_and_keeps_order():
    out = score_corpus([("abc", "abc"), ("abcd", "ab"), (LABEL, PRED)], mode="nougat")
    assert out["n"] == 1 and out["skipped"] == {"short_label": 1, "short_pred": 1}
    lab, pred = set(LABEL.split()), set(PRED.split())
    assert out["macro"]["precision"] == precision(lab, pred) and out["macro"]["recall"] == recall(lab, pred)
    assert out["macro"]["f1"] == f_measure(lab, pred)


@needs_wordnet
def test_strict_scores_empty_prediction_and_micro_average():
    empty = score_pair("abc def", "", mode="strict")
    assert empty["edit_dist"] == empty["cer"] == empty["wer"] == 1.0
    assert empty["precision"] == empty["recall"] == empty["f1"] == empty["bleu"] == empty["meteor"] == 0.0
    out = score_corpus([("abc def", ""), ("abcd", "abcd"), ("", "x")], mode="strict")
    assert out["n"] == 2 and out["skipped"] == {"empty_label": 1}
    assert out["macro"]["edit_dist"] == 0.5 and out["micro"]["edit_dist"] == 7 / 11  # 7 edits over 7 + 4 chars
    assert out["micro"]["recall"] == 1 / 3 and out["micro"]["precision"] == 1.0  # 1 of 3 label words found
    assert out["micro"]["wer"] == 2 / 3


def test_tokenize():
    assert tokenize("a  b\nc", cjk=False) == ["a", "b", "c"]
    assert tokenize("我爱北京 ok", cjk=True, keep_space=True) == ["我", "爱", "北京", " ", "ok"]
    assert tokenize("我爱北京 ok", cjk=True) == ["我", "爱", "北京", "ok"]
    assert tokenize("ab c", cjk=False, kind="scene") == ["a", "b", "c"]
    assert tokenize("ab c", cjk=False, kind="scene", keep_space=True) == ["a", "b", " ", "c"]


@needs_wordnet
def test_jieba_when_either_string_has_cjk_and_characters_for_scene():
    # the label has no CJK, yet the pair is scored on jieba words because the prediction has
    s = score_pair("abc", "abc中文", mode="strict")  # whitespace words would be ["abc"] and ["abc中文"]
    assert (s["precision"], s["recall"], s["wer"]) == (1 / 2, 1.0, 1.0)
    scene = score_pair("STOP", "ST0P", kind="scene", mode="strict")
    assert scene["wer"] == scene["cer"] == 1 / 4 and scene["precision"] == 3 / 4


def test_repetition():
    assert repetition("ab" + "cd" * 5) == 8 / 12
    assert repetition("The quick brown fox.") == 0.0
    assert repetition("") == 0.0
    assert repetition("x" * 10) == 9 / 10
    assert repetition("abc abc") == 0.0  # one copy of "abc " plus a part: not two full copies


def test_cut_loop_keeps_the_first_copy():
    page = "Total revenue grew in 2023.\n| year | value |\n"
    looped = page + "| 2023 | 1.0 |\n" * 40 + "| 2023 | 1."  # cut mid-unit by the token limit
    # The loop's first copy starts where the periodic tail does: the page's own " |\n" already repeats the
    # unit's end, so the kept copy is " |\n| 2023 | 1.0" and the cut text ends without the row's last " |\n".
    assert cut_loop(looped) == (page + "| 2023 | 1.0", True)
    assert cut_loop("ab" + "cd" * 5) == ("abcd", True)
    assert cut_loop(page) == (page, False)
    assert cut_loop(page + "| 2023 | 1.0 |\n" * 3) == (page + "| 2023 | 1.0 |\n" * 3, False)  # under LOOP
    assert cut_loop("") == ("", False)


@needs_wordnet
def test_looping_flag():
    label = "Chapter 1. It was a bright cold day in April."
    loop = score_pair(label, label + " and the clocks" * 20, mode="strict")
    assert loop["repetition"] > 0.5 and loop["looping"] == 1.0
    assert score_pair("ha" * 10, "ha" * 10)["looping"] == 0.0  # the label repeats too


def test_format_parts():
    page = r"Intro \(x^2\) and \[y=1\] then $$z$$ \begin{tabular}{c} a & b \end{tabular} end"
    got = format_parts(page, mode="got")
    assert got == {"text": page, "math": "x^2y=1", "table": "{c} a & b "}  # GOT keeps the whole page as text
    assert format_parts(page, mode="nougat") == {
        "text": "Intro  and  then $$z$$  end",
        "math": "x^2y=1",
        "table": "{c} a & b ",
    }
    assert format_parts(page, mode="strict") == {
        "text": "Intro  and  then   end",
        "math": "x^2\ny=1\nz",
        "table": "{c} a & b ",
    }


@needs_wordnet
def test_split_format_and_groups():
    pairs = [(r"Area \(a^2\) is", r"Area \(a^3\) is"), ("plain text here", "plain text there")]
    out = score_corpus(pairs, mode="strict", split_format=True, groups={"lang": ["en", "xx"]})
    assert out["parts"]["math"]["n"] == 1 and out["parts"]["math"]["skipped"] == {"empty_label": 1}
    assert out["parts"]["math"]["macro"]["cer"] == 1 / 3
    assert out["parts"]["table"]["n"] == 0 and out["parts"]["table"]["macro"] == {}
    assert set(out["by_lang"]) == {"en", "xx"} and out["by_lang"]["xx"]["n"] == 1
    assert out["by_lang"]["en"]["parts"]["math"]["n"] == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown mode"):
        score_pair("a", "b", mode="fox")
    with pytest.raises(ValueError, match="unknown kind"):
        score_corpus([("a", "b")], kind="hand")
    with pytest.raises(TypeError, match="must be strings"):
        score_pair("a", None)
    with pytest.raises(ValueError, match="names for"):
        score_corpus([("a", "b")], groups={"lang": []})


def test_missing_jieba_fails_up_front(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # makes `import jieba` raise ImportError
    with pytest.raises(RuntimeError, match="pip install jieba"):
        check_requirements(["中文"], ["x"])
    with pytest.raises(RuntimeError, match="pip install jieba"):
        score_pair("中文", "x")


@needs_wordnet
def test_scene_text_never_needs_jieba(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)
    check_requirements(["中文"], ["x"], kind="scene")
    assert score_pair("中文", "中", kind="scene")["recall"] == 1 / 2


@needs_wordnet
def test_wordnet_offline():
    from nltk.corpus import wordnet

    assert wordnet.synsets("dog")[0].name() == "dog.n.01"
    assert wordnet.synset("dog.n.01").lexname() == "noun.animal"  # read from the generated lexnames
    man, ours = Path("/usr/share/man/man5/lexnames.5WN.gz"), NLTK_DATA / "corpora/wordnet/lexnames"
    if man.exists() and ours.exists():  # the generated table is the one in `man 5 lexnames`
        import gzip

        rows = [line.split("\t")[:2] for line in gzip.open(man, "rt") if line[:2].isdigit() and "\t" in line]
        ours = ours.read_text().splitlines()
        assert [[n, name.strip()] for n, name in rows] == [line.split("\t")[:2] for line in ours]


@pytest.mark.skipif(not Path("/usr/share/wordnet/index.sense").exists(), reason="Debian's WordNet is not installed")
def test_setup_script_installs_then_does_nothing(tmp_path):
    env = {**os.environ, "NLTK_DATA": str(tmp_path)}
    first = subprocess.run(
        ["bash", "scripts/setup_wordnet.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0 and "installed" in first.stdout, first.stderr
    wordnet = tmp_path / "corpora/wordnet"
    assert len((wordnet / "lexnames").read_text().splitlines()) == 45 and (wordnet / "index.sense").is_file()
    again = subprocess.run(
        ["bash", "scripts/setup_wordnet.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and again.stdout == ""


def test_missing_wordnet_says_how_to_fix(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "NLTK_DATA": str(tmp_path / "nltk_data"), "PYTHONPATH": str(ROOT)}
    code = "from got.eval.metrics import score_pair; score_pair('a b', 'a b')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "scripts/setup_wordnet.sh" in run.stderr
