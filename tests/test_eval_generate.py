"""Evaluation inputs, generation and the evaluate.py CLI, on a random tiny model."""

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from got.config import load_model_config
from got.data.sample import Sample
from got.data.shards import ShardWriter
from got.eval.evaluate import EvalConfig, finish, predict_share
from got.eval.generate import GOTEngine
from got.eval.inputs import labels, read_inputs
from got.model.checkpoint import checkpoint_from_model, save_checkpoint
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import evaluate as cli  # noqa: E402  (eval/evaluate.py, the entry script)

NEW_TOKENS = 6


def page(text: str, size: tuple[int, int] = (300, 200)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((10, 10), text, fill="black")
    return image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model")
    save_checkpoint(
        checkpoint_from_model(GOTModel(load_model_config("tiny_qwen")), GOTTokenizer.default()), path, "got"
    )
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two good single images, a multi-page and a multi-crop sample, and four bad entries."""
    root = tmp_path_factory.mktemp("folder")
    for name, size in (("a", (300, 200)), ("b", (300, 200)), ("wide", (600, 200))):
        page(f"text {name}", size).save(root / f"{name}.png")
    entries = [
        {"image": "a.png", "text": "text a"},
        {"images": ["a.png", "b.png"], "text": "text a\n\ntext b", "task": "format", "id": "pages"},
        {"image": "wide.png", "text": "text wide", "crop": True, "task": "format", "lang": "fr"},
        {"image": "missing.png", "text": "gone"},
        {"image": "b.png", "text": ""},
        {"image": "b.png", "text": "x", "box": [5, 5, 2, 2]},
        {"image": "b.png", "text": "text b", "kind": "scene"},
    ]
    lines = [json.dumps(e) for e in entries]
    lines.insert(4, "{not json")
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_folder_reads_valid_entries_and_counts_bad_ones(folder):
    counts = Counter()
    items = list(read_inputs(str(folder), counts))
    assert [i.id for i in items] == ["line1", "pages", "line3", "line8"]
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert counts == {"missing_image": 1, "bad_json": 1, "empty_text": 1, "bad_box": 1}
    pages, crop, scene = items[1].sample, items[2].sample, items[3]
    assert len(pages.images) == 2 and pages.task == "format"
    assert crop.crop and crop.lang == "fr"
    assert scene.kind == "scene"
    assert len(labels(str(folder))) == 6  # the cheap pass: every entry with a label, images unchecked


def test_folder_with_sidecar_labels(tmp_path):
    page("one").save(tmp_path / "one.png")
    (tmp_path / "one.txt").write_text("one\n")
    (tmp_path / "sub").mkdir()
    page("two").save(tmp_path / "sub" / "two.jpg")  # no sidecar
    counts = Counter()
    items = list(read_inputs(str(tmp_path), counts, task="format"))
    assert [(i.id, i.sample.text, i.sample.task) for i in items] == [("one.png", "one", "format")]
    assert counts == {"missing_key": 1}


def test_shards_are_read_with_their_keys(tmp_path):
    with ShardWriter(tmp_path, max_count=2) as writer:
        for n in range(3):
            writer.write(Sample([page(f"s{n}")], f"s{n}", lang="zh" if n else "en"))
    counts = Counter()
    items = list(read_inputs(str(tmp_path), counts, kind="scene"))
    assert [i.sample.text for i in items] == ["s0", "s1", "s2"] and not counts
    assert {i.kind for i in items} == {"scene"} and items[2].index == 2
    assert labels(str(tmp_path)) == ["s0", "s1", "s2"]


def test_views_of_pages_and_crops(folder):
    items = list(read_inputs(str(folder), Counter()))
    views_of = load_model_config("tiny_qwen").views
    size = views_of.size
    assert views_of.of_images(items[0].sample.images).shape == (1, 3, size, size)
    assert views_of.of_images(items[1].sample.images).shape == (2, 3, size, size)
    assert items[2].sample.crop
    views = views_of.of_images(items[2].sample.images, crop=True)  # 600x200: a 3x1 grid plus the thumbnail
    assert views.shape == (4, 3, size, size) and views.dtype == torch.uint8


def test_engine_batch_equals_one_by_one(model_dir, folder):
    engine = GOTEngine.from_dir(model_dir, max_new_tokens=NEW_TOKENS)
    items = list(read_inputs(str(folder), Counter()))[:3]  # one view, two pages, four crop views in one batch
    together = engine(items)
    alone = [engine([item])[0] for item in items]
    assert together == alone
    assert all(0 < p.new_tokens <= NEW_TOKENS for p in together)


def test_ranks_merge_to_the_single_run(model_dir, folder, tmp_path):
    cfg = EvalConfig(data=str(folder), model=str(model_dir), max_new_tokens=NEW_TOKENS, progress=False)
    single, split = tmp_path / "single", tmp_path / "split"
    predict_share(cfg, single, 0, 1, "cpu", total=4)
    one = finish(cfg, single, 1)
    for rank in (0, 1):
        predict_share(cfg, split, rank, 2, "cpu", total=4)
    two = finish(cfg, split, 2)
    assert (single / "predictions.jsonl").read_text() == (split / "predictions.jsonl").read_text()
    assert (
        one["input"]
        == two["input"]
        == {"read": 4, "bad": {"missing_image": 1, "bad_json": 1, "empty_text": 1, "bad_box": 1}}
    )
    assert two["speed"]["samples"] == 4 and not (split / "parts").exists()


def test_cli_writes_every_output(model_dir, folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        f"model={model_dir}",
        f"data={folder}",
        f"out={out}",
        f"max_new_tokens={NEW_TOKENS}",
        "batch_size=2",
        "mode=got",
        "progress=false",
    ]
    assert cli.main(args) == 0
    assert "4 samples read, 4 skipped (bad_box 1, bad_json 1, empty_text 1, missing_image 1)" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["line1", "pages", "line3", "line8"]
    assert all(list(r) == ["id", "task", "lang", "kind", "label", "pred", "looping"] for r in records)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "got" and "note" in metrics
    assert set(metrics["by_task"]) == {"ocr", "format"} and set(metrics["by_lang"]) == {"en", "fr"}
    assert metrics["input"]["bad"]["missing_image"] == 1 and metrics["speed"]["new_tokens"] > 0
    assert "## By language" in (out / "report.md").read_text()
    assert (out / "report.html").read_text().count("<section class='sample'>") == 4


@pytest.fixture(scope="module")
def looping_model_dir(tmp_path_factory) -> Path:
    """A tiny model stuck in a loop: a zero final norm makes every logit 0, so greedy decoding repeats token 0."""
    torch.manual_seed(0)
    model = GOTModel(load_model_config("tiny_qwen"))
    torch.nn.init.zeros_(model.decoder.model.norm.weight)
    path = tmp_path_factory.mktemp("looping")
    save_checkpoint(checkpoint_from_model(model, GOTTokenizer.default()), path, "got")
    return path


@pytest.mark.parametrize("cut", [True, False])
def test_repetition_guard_cuts_and_flags_loops(looping_model_dir, folder, tmp_path, cut):
    out = tmp_path / "out"
    unit = GOTTokenizer.default().decode([0])
    args = [
        f"model={looping_model_dir}",
        f"data={folder}",
        f"out={out}",
        "max_new_tokens=12",
        "progress=false",
        "no_repeat_ngram_size=0",
        f"cut_loops={str(cut).lower()}",
    ]
    assert cli.main(args) == 0
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(r["pred"], r["looping"]) for r in records] == [(unit if cut else unit * 12, cut)] * 4
    assert json.loads((out / "metrics.json").read_text())["loops_cut"]["n"] == (4 if cut else 0)
    report = (out / "report.md").read_text()
    assert "## Looping outputs (4)" in report  # flagged by the guard, or by the metrics on the uncut text
    assert ("cut back to the loop's first copy" in report) == cut


@pytest.mark.parametrize(
    "args, message",
    [
        (["data=x", "colour=red"], "colour"),
        (["data=x", "batch_size=lots"], "batch_size"),
        (["data=x", "mode=fancy"], "mode='fancy' is not one of"),
        (["data=x"], "engine=got needs model=DIR"),
        (["model=m"], "data"),
        (["data", "x"], "key=value"),
        (["data=/nonexistent/shards-*.tar", "engine=tesseract"], "no shards"),
    ],
)
def test_cli_rejects_bad_arguments(args, message, capsys):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_chinese_labels_without_jieba_fail_before_any_work(model_dir, tmp_path, monkeypatch, capsys):
    page("中文").save(tmp_path / "zh.png")
    (tmp_path / "zh.txt").write_text("中文")
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba now raises ImportError
    out = tmp_path / "out"
    assert cli.main([f"model={model_dir}", f"data={tmp_path}", f"out={out}"]) == 2
    assert "pip install jieba" in capsys.readouterr().err
    assert not out.exists()
