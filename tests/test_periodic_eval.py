"""Evaluation during training on named held-out sets: each set's first num_samples are read and scored alone as
well as together (bench/learning.py follows words and lines this way in one run)."""

import pytest

from got.train.periodic_eval import PeriodicEval, PeriodicEvalConfig
from datagen import write_set


@pytest.fixture
def two_sets(tmp_path):
    words = write_set(tmp_path / "words", "w", 5, words=0)
    lines = write_set(tmp_path / "lines", "l", 4, words=2)
    return tmp_path, words, lines


def test_named_sets_are_read_and_scored_one_by_one(two_sets, tiny, tmp_path):
    root, words, lines = two_sets
    cfg = PeriodicEvalConfig(
        every=1, data=[f"{root}/words/*.tar", f"{root}/lines/*.tar"], names=["words", "lines"], num_samples=3
    )
    ev = PeriodicEval(cfg, tiny, tmp_path)
    assert [i.sample.text for i in ev.items] == words[:3] + lines[:3]  # the first 3 of each, not of the mixture
    assert [i.index for i in ev.items] == list(range(6))
    scores = ev.score(words[:3] + ["x"] * 3)  # words read right, lines wrong
    assert scores["eval/words/cer"] == 0 and scores["eval/lines/cer"] > 0.8
    assert scores["eval/cer"] == pytest.approx((scores["eval/words/cer"] + scores["eval/lines/cer"]) / 2)
    assert {"eval/edit_dist", "eval/f1", "eval/bleu", "eval/words/edit_dist", "eval/lines/bleu"} <= set(scores)


def test_unnamed_data_is_one_set(two_sets, tiny, tmp_path):
    root, words, _ = two_sets
    cfg = PeriodicEvalConfig(every=1, data=[f"{root}/words/*.tar", f"{root}/lines/*.tar"], num_samples=4)
    ev = PeriodicEval(cfg, tiny, tmp_path)
    assert [i.sample.text for i in ev.items] == words[:4]  # the first 4 of the patterns in order, as before
    assert set(ev.score(words[:4])) == {"eval/edit_dist", "eval/cer", "eval/f1", "eval/bleu"}


def test_names_must_match_the_patterns(two_sets, tiny, tmp_path):
    root, _, _ = two_sets
    with pytest.raises(ValueError, match="eval.names has 1 names for 2 eval.data patterns"):
        PeriodicEvalConfig(every=1, data=[f"{root}/words/*.tar", f"{root}/lines/*.tar"], names=["words"])
    empty = root / "empty"
    empty.mkdir()
    (empty / "shard-000000.tar").write_bytes(b"")
    cfg = PeriodicEvalConfig(every=1, data=[f"{root}/words/*.tar", f"{empty}/*.tar"], names=["words", "empty"])
    with pytest.raises(ValueError, match="holds no valid samples"):
        PeriodicEval(cfg, tiny, tmp_path)
