import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from got.eval.metrics import check_requirements, score_corpus

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("score_cli", ROOT / "eval" / "score.py")
score_cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score_cli)

try:
    check_requirements([], [])
except RuntimeError as e:
    pytest.skip(f"{e}", allow_module_level=True)  # every score includes METEOR, which needs WordNet

LABEL = "the cat sat on the mat"
GOOD = [
    {"id": "a", "task": "ocr", "lang": "en", "kind": "page", "label": LABEL, "pred": "the cat sat on a mat"},
    {"id": "b", "task": "ocr", "lang": "zh", "kind": "page", "label": "我爱北京天安门", "pred": "我爱北京"},
    {"id": "c", "task": "format", "lang": "en", "kind": "page", "label": r"Area \(a^2\)", "pred": r"Area \(a^3\)"},
    {"id": "d", "task": "scene", "lang": "en", "kind": "scene", "label": "STOP", "pred": "ST0P"},
]


def run(capsys, *argv):
    assert score_cli.main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_jsonl_with_bad_lines(tmp_path, capsys):
    lines = [json.dumps(e, ensure_ascii=False) for e in GOOD]
    lines[1:1] = [
        '{"id": "broken", "label": ',
        "",
        '{"id": "x", "label": "no prediction"}',
        "[1, 2]",
        json.dumps({"id": "e", "task": "ocr", "lang": "en", "label": "", "pred": "hallucinated"}),
        json.dumps({"id": "f", "kind": "handwriting", "label": "a", "pred": "a"}),
    ]
    path = tmp_path / "preds.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"label": "\xff", "pred": "x"}\n')  # not UTF-8
    out = run(capsys, path)
    assert out["format"] == "jsonl" and out["mode"] == "strict"
    assert out["input"]["entries"] == 10  # the blank line is not an entry
    assert out["input"]["bad"] == {
        "malformed_json": 2,
        "missing_label_or_pred": 1,
        "not_an_object": 1,
        "unknown_kind": 1,
    }
    assert out["input"]["bad_at"] == [2, 4, 5, 7, 11]  # line numbers
    assert out["n"] == 4 and out["skipped"] == {"empty_label": 1}
    pairs = [(e["label"], e["pred"], e["kind"]) for e in GOOD]
    assert out["macro"] == score_corpus(pairs, mode="strict")["macro"]
    assert set(out["by_task"]) == {"ocr", "format", "scene"} and out["by_task"]["ocr"]["n"] == 2
    assert set(out["by_lang"]) == {"en", "zh"} and out["by_lang"]["zh"]["n"] == 1
    assert out["by_kind"]["scene"]["macro"]["cer"] == 1 / 4  # characters, as the entry's kind says


def test_got_results_final_json(tmp_path, capsys):
    # GOT's eval writes results_final.json: a list of {"image", "question", "label", "answer"}
    entries = [
        {"image": f"{i}.png", "question": "OCR: ", "label": e["label"], "answer": e["pred"]}
        for i, e in enumerate(GOOD[:3])
    ]
    entries += [{"image": "x.png", "label": "no answer"}, {"image": "y.png", "label": "text", "answer": ""}]
    path = tmp_path / "results_final.json"
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    out = run(capsys, path, "--mode", "got", "--split-format")
    assert out["format"] == "got_results" and out["mode"] == "got" and "swap" in out["note"]
    assert out["input"]["bad"] == {"missing_label_or_answer": 1} and out["input"]["bad_at"] == [3]
    assert out["n"] == 3 and out["skipped"] == {"empty_pred": 1}
    expected = score_corpus(
        [(e["label"], e["answer"]) for e in entries if "answer" in e], mode="got", split_format=True
    )
    assert out["macro"] == expected["macro"] and out["parts"] == expected["parts"]
    assert out["parts"]["math"]["n"] == 1 and out["by_task"]["unknown"]["n"] == 3
    path.write_text(json.dumps({e["image"]: e for e in entries}), encoding="utf-8")  # keyed by id
    keyed = run(capsys, path, "--mode", "got")
    assert keyed["macro"] == out["macro"] and keyed["input"]["bad_at"] == ["x.png"]


def test_kind_override(tmp_path, capsys):
    path = tmp_path / "scene.jsonl"
    path.write_text(json.dumps({"label": "STOP", "pred": "ST0P"}) + "\n")
    out = run(capsys, path, "--kind", "scene", "--mode", "nougat")
    assert out["mode"] == "nougat" and list(out["by_kind"]) == ["scene"]
    assert out["macro"]["precision"] == 3 / 4  # sets of characters {S, T, O, P} and {S, T, 0, P}


def test_command_line(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in GOOD))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "eval/score.py", str(path), "--mode", "got"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "got"
    missing = subprocess.run(
        [sys.executable, "eval/score.py", str(tmp_path / "nope.jsonl")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
