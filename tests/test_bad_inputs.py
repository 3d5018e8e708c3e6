"""The bad-input sweep: a corpus of broken inputs (tests/badinputs.py) through every CLI in data/ and eval/, through
train/convert.py, and through the library's entry points (got.load, the chat API, the training loader).

Each row of CASES is one input through one entry point, and says how it must end:
- ERROR: a non-zero exit (or, for a library call, its documented error type) with a one-line message that
  matches, and no traceback;
- SKIP: the run goes on (exit 0) and the bad input is counted under its reason, which the output names;
- OK: a valid if odd input is used.
Anything else (an uncaught exception, a traceback on stderr, a zero exit where an error is due) is a crash.
CLIs run in-process through their main(argv), as their `__main__` would (sys.exit("message") prints the message).
"""

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from badinputs import BAD_IMAGES, VALID_IMAGES, checkpoints, image_folder, images, odd_shard, pdfs, records_shard
from datagen import meta, page, png, write_raw

import got
from got.config import load_model_config
from got.data.pipeline import DataConfig, Loader
from got.infer.inputs import InputError
from got.model.checkpoint import CheckpointError, checkpoint_from_model, save_checkpoint
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer

ROOT = Path(__file__).resolve().parents[1]
ERROR, SKIP, OK = "error", "skip", "ok"
CHECKPOINTS = (
    "half_weights",
    "zero_weights",
    "no_config",
    "config_not_json",
    "config_a_list",
    "config_no_model",
    "config_model_a_list",
    "config_vision_a_number",
    "config_deeper",
    "pickle_only",
)
MESSAGES = {  # what the one-line error says for each broken checkpoint
    "half_weights": "not a readable safetensors file",
    "zero_weights": "not a readable safetensors file",
    "no_config": "missing config.json",
    "config_not_json": "not valid JSON",
    "config_a_list": "holds a JSON list",
    "config_no_model": 'no "model" section',
    "config_model_a_list": "must be a mapping",
    "config_vision_a_number": "must be mappings",
    "config_deeper": "missing keys",
    "pickle_only": "no \\*.safetensors",
}


def checkpoint_rows(entry: str, args: list[str]) -> list:
    """One ERROR row per broken checkpoint for an entry point; {ckpt} in args is the checkpoint."""
    rows = []
    for name in CHECKPOINTS:
        row = (entry, [a.replace("{ckpt}", f"{{ckpt_{name}}}") for a in args], ERROR, MESSAGES[name])
        rows.append(pytest.param(*row, id=f"{entry}:{name}"))
    return rows


def image_rows() -> list:
    """Every image of the corpus through the chat API: the odd valid ones are read, the bad ones refused."""
    rows = [pytest.param("chat", [f"{{images}}/{n}"], OK, "", id=f"chat:{n}") for n in VALID_IMAGES]
    messages = {
        "truncated.png": "could not be decoded",
        "zero.png": "not a readable image",
        "garbage.png": "not a readable image",
        "gigapixel.png": "not a readable image",
        "huge.png": "could not be decoded",
    }
    rows += [pytest.param("chat", [f"{{images}}/{n}"], ERROR, messages[n], id=f"chat:{n}") for n in BAD_IMAGES]
    pdf_messages = {
        "not_a.pdf": "not a readable PDF",
        "encrypted.pdf": "encrypted",
        "zero_pages.pdf": "without pages",
        "truncated.pdf": "not a readable PDF",
        "good.pdf": "page 3 does not exist",
    }
    return rows + [
        pytest.param("chat", [f"{{pdfs}}/{n}", "3" if n == "good.pdf" else "1"], ERROR, message, id=f"chat:{n}")
        for n, message in pdf_messages.items()
    ]


EVAL = ["model={model}", "out={tmp}/out", "max_new_tokens=2", "progress=false"]
OCR = ["--model", "{model}", "--out", "{tmp}/out", "--max-new-tokens", "2", "--no-progress"]
CASES = [
    # data/import.py, GOT's JSON format
    (
        "data/import.py",
        ["--format", "got-json", "{tmp}/none.json", "--images", "{images}", "--out", "{tmp}/o"],
        ERROR,
        "not a readable JSON file",
    ),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/bad.json", "--images", "{images}", "--out", "{tmp}/o"],
        ERROR,
        "not a readable JSON file",
    ),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/latin1.json", "--images", "{images}", "--out", "{tmp}/o"],
        ERROR,
        "not a readable JSON file",
    ),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/object.json", "--images", "{images}", "--out", "{tmp}/o"],
        ERROR,
        "expected a JSON list",
    ),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/entries.json", "--images", "{images}", "--out", "{tmp}/o"],
        SKIP,
        r"skipped \(image_too_large\): 2",
    ),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/entries.json", "--images", "{tmp}/none", "--out", "{tmp}/o"],
        ERROR,
        "no such directory",
    ),
    ("data/import.py", ["--format", "got-json", "{text}/entries.json", "--out", "{tmp}/o"], ERROR, "needs --images"),
    (
        "data/import.py",
        ["--format", "got-json", "{text}/entries.json", "--images", "{images}", "--out", "{text}/bad.json"],
        ERROR,
        "bad.json",
    ),
    # data/import.py, HF datasets
    (
        "data/import.py",
        ["--format", "hf", "{tmp}/none", "--out", "{tmp}/o"],
        ERROR,
        "neither a save_to_disk directory nor parquet",
    ),
    (
        "data/import.py",
        ["--format", "hf", "{empty}", "--out", "{tmp}/o"],
        ERROR,
        "neither a save_to_disk directory nor parquet",
    ),
    ("data/import.py", ["--format", "hf", "{text}/bad.parquet", "--out", "{tmp}/o"], ERROR, "bad.parquet"),
    (
        "data/import.py",
        ["--format", "hf", "{hf}", "--text-column", "label", "--out", "{tmp}/o"],
        ERROR,
        "needs columns",
    ),
    ("data/import.py", ["--format", "hf", "{hf}", "--out", "{tmp}/o"], SKIP, r"skipped \(bad_image\): 3"),
    ("data/import.py", ["--format", "tesseract", "{hf}", "--out", "{tmp}/o"], ERROR, "invalid choice"),
    # data/inspect_shards.py
    ("data/inspect_shards.py", ["{stats}/not_json"], ERROR, "stats.json is not readable"),
    ("data/inspect_shards.py", ["{stats}/latin1"], ERROR, "stats.json is not readable"),
    ("data/inspect_shards.py", ["{stats}/a_list"], ERROR, "stats.json is not readable"),
    ("data/inspect_shards.py", ["{stats}/wrong_types"], ERROR, "stats.json is not readable"),
    ("data/inspect_shards.py", ["{tmp}/none"], ERROR, "no shards at"),
    ("data/inspect_shards.py", ["{empty}"], ERROR, "no shards at"),
    ("data/inspect_shards.py", ["{broken_tars}", "--out", "{tmp}/o"], ERROR, "no readable sample"),
    (
        "data/inspect_shards.py",
        ["{odd}", "--out", "{tmp}/o"],
        SKIP,
        "image_too_large.*sample_too_large|sample_too_large.*image_too_large",
    ),
    ("data/inspect_shards.py", ["{odd}", "--n", "-1"], ERROR, "--n"),
    # data/pdf2shards.py
    (
        "data/pdf2shards.py",
        ["{pdfs}", "--out", "{tmp}/o", "--dpi", "36"],
        SKIP,
        r"skipped \(corrupt\): 3\b.*\n.*skipped \(encrypted\): 1",
    ),
    (
        "data/pdf2shards.py",
        ["{pdfs}/good.pdf", "--out", "{tmp}/o", "--max-page-pixels", "1000"],
        SKIP,
        r"skipped \(page_too_large\): 2",
    ),
    ("data/pdf2shards.py", ["{tmp}/none.pdf", "--out", "{tmp}/o"], ERROR, "no such file or directory"),
    ("data/pdf2shards.py", ["{empty}", "--out", "{tmp}/o"], ERROR, "no PDF files"),
    ("data/pdf2shards.py", ["{pdfs}", "--out", "{tmp}/o", "--dpi", "0"], ERROR, "dpi must be positive"),
    ("data/pdf2shards.py", ["{pdfs}", "--out", "{tmp}/o", "--granularity", "word"], ERROR, "unknown granularity"),
    (
        "data/pdf2shards.py",
        ["{pdfs}", "--out", "{tmp}/o", "--max-page-pixels", "0"],
        ERROR,
        "max_page_pixels must be positive",
    ),
    # data/token_coverage.py
    ("data/token_coverage.py", ["{tmp}/none.txt"], ERROR, "none.txt"),
    ("data/token_coverage.py", ["{text}/latin1.txt"], ERROR, "latin1.txt"),
    ("data/token_coverage.py", ["{text}/empty.txt"], ERROR, "empty.txt"),
    ("data/token_coverage.py", ["{text}/ok.txt", "--tokenizer", "{text}/bad.tiktoken"], ERROR, "malformed line"),
    ("data/token_coverage.py", ["{text}/ok.txt", "--tokenizer", "{empty}"], ERROR, "expected exactly one"),
    # data/train_vocab.py: bad arguments fail before the minutes of training
    ("data/train_vocab.py", ["--size", "100"], ERROR, "must be at least the 256"),
    ("data/train_vocab.py", ["--size", "lots"], ERROR, "invalid int value"),
    ("data/train_vocab.py", ["--out", "{tmp}/none/vocab.tiktoken"], ERROR, "no such directory"),
    ("data/train_vocab.py", ["--out", "{empty}"], ERROR, "is a directory"),
    # eval/evaluate.py
    ("eval/evaluate.py", [*EVAL, "data={empty}"], ERROR, "no samples to score"),
    ("eval/evaluate.py", [*EVAL, "data={tmp}/typo"], ERROR, "no shards at"),
    ("eval/evaluate.py", [*EVAL, "data={images}"], SKIP, r"5 skipped \(bad_image 3, image_too_large 2\).*7 scored"),
    (
        "eval/evaluate.py",
        [*EVAL, "data={odd}"],
        SKIP,
        r"6 skipped \(bad_image 3, image_too_large 2, sample_too_large 1\).*7 scored",
    ),
    ("eval/evaluate.py", [*EVAL, "data={bad_images}"], ERROR, "could be read"),
    (
        "eval/evaluate.py",
        [*EVAL, "data={records}"],
        SKIP,
        r"6 skipped \(bad_image 1, bad_json 2, missing_image 1, missing_key 1, non_utf8 1\), 1 scored",
    ),
    ("eval/evaluate.py", [*EVAL, "data={broken_tars}"], ERROR, "no samples to score"),
    (
        "eval/evaluate.py",
        [*EVAL, "data={text}/labels.jsonl"],
        SKIP,
        r"3 skipped \(bad_json 1, missing_image 1, non_utf8 1\).*1 scored",
    ),
    ("eval/evaluate.py", [*EVAL, "data={images}", "colour=red"], ERROR, "colour"),
    ("eval/evaluate.py", [*EVAL, "data={images}", "limit=[1"], ERROR, "limit"),
    ("eval/evaluate.py", [*EVAL, "data={images}", "limit=many"], ERROR, "limit"),
    ("eval/evaluate.py", [*EVAL, "data={images}", "limit=-1"], ERROR, "limit"),
    ("eval/evaluate.py", [*EVAL], ERROR, "data"),
    ("eval/evaluate.py", [*EVAL, "data={images}", "out={text}/ok.txt"], ERROR, "ok.txt"),
    ("eval/evaluate.py", ["data={images}", "model={tmp}/none"], ERROR, "does not exist"),
    *checkpoint_rows("eval/evaluate.py", [*EVAL[1:], "data={images}", "model={ckpt}"]),
    # eval/score.py
    ("eval/score.py", ["{text}/empty.txt"], ERROR, "no scorable entries"),
    ("eval/score.py", ["{text}/latin1.txt"], ERROR, "no scorable entries"),
    ("eval/score.py", ["{text}/object.json"], ERROR, "no scorable entries"),
    (
        "eval/score.py",
        ["{text}/predictions.jsonl"],
        SKIP,
        r'"bad": \{\s*"malformed_json": 1,\s*"missing_label_or_pred": 1',
    ),
    ("eval/score.py", ["{tmp}/none.jsonl"], ERROR, "no such file"),
    ("eval/score.py", ["{empty}"], ERROR, "no such file"),
    ("eval/score.py", ["{text}/predictions.jsonl", "--mode", "lenient"], ERROR, "invalid choice"),
    # eval/ocr.py
    ("eval/ocr.py", ["{images}", *OCR], SKIP, r"7 pages read.*5 skipped"),
    ("eval/ocr.py", ["{pdfs}", *OCR], SKIP, r"2 pages read.*4 skipped"),
    ("eval/ocr.py", ["{empty}", *OCR], ERROR, "no images or PDFs"),
    ("eval/ocr.py", ["{tmp}/none", *OCR], ERROR, "no such file or directory"),
    ("eval/ocr.py", ["{images}", *OCR, "--box", "1", "2", "3"], ERROR, "--box takes 4 numbers"),
    ("eval/ocr.py", ["{images}", *OCR, "--out", "{text}/ok.txt"], ERROR, "ok.txt"),
    ("eval/ocr.py", ["{images}", *OCR, "--out", "{garbled_ocr}"], SKIP, r"7 pages read, 0 already done, 5 skipped"),
    ("eval/ocr.py", ["{images}", *OCR, "--tokenizer", "{text}/bad.tiktoken"], ERROR, "malformed line"),
    *checkpoint_rows("eval/ocr.py", ["{images}", *OCR[2:], "--model", "{ckpt}"]),
    # train/convert.py
    ("train/convert.py", ["--to", "hf", "{tmp}/none", "{tmp}/o"], ERROR, "does not exist"),
    (
        "train/convert.py",
        ["--to", "got", "{model}", "{tmp}/o", "--tokenizer", "{text}/bad.tiktoken"],
        ERROR,
        "malformed line",
    ),
    ("train/convert.py", ["--to", "got", "{model}", "{text}/ok.txt"], ERROR, "ok.txt"),
    ("train/convert.py", ["--to", "gguf", "{model}", "{tmp}/o"], ERROR, "invalid choice"),
    *checkpoint_rows("train/convert.py", ["--to", "hf", "{ckpt}", "{tmp}/o"]),
    # the library
    *checkpoint_rows("got.load", ["{ckpt}"]),
    *image_rows(),
    ("loader", ["{odd}"], SKIP, "[1-9][0-9]* views; skipped bad_image, image_too_large, sample_too_large$"),
    ("loader", ["{odd}", "max_member_bytes=200"], SKIP, "[1-9][0-9]* views; skipped .*member_too_large"),
    ("loader", ["{records}"], SKIP, "views; skipped bad_image, bad_json, missing_image, missing_key, non_utf8$"),
    ("loader", ["{broken_tars}"], ERROR, "no readable sample"),
    ("loader", ["{empty}"], ERROR, "no shards at"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    paths = {"images": image_folder(root / "images"), "pdfs": pdfs(root / "pdfs"), "empty": root / "empty"}
    paths["empty"].mkdir()
    paths["odd"] = odd_shard(root / "odd" / "shard-000000.tar").parent
    bad = root / "bad_images"
    bad.mkdir()
    for name in BAD_IMAGES:
        (bad / name).write_bytes(images()[name])
        (bad / name).with_suffix(".txt").write_text(name)
    paths["bad_images"] = bad
    broken = root / "broken_tars"
    broken.mkdir()
    (broken / "zero.tar").write_bytes(b"")
    (broken / "garbage.tar").write_bytes(b"not a tar file" * 100)
    paths["broken_tars"] = broken
    paths["records"] = records_shard(root / "records" / "shard-000000.tar").parent

    text = root / "text"
    text.mkdir()
    (text / "bad.json").write_text("{not json")
    (text / "latin1.json").write_bytes('[{"image": "caf\xe9.png"}]'.encode("latin-1"))
    (text / "object.json").write_text('{"image": "a.png"}')
    (text / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (text / "empty.txt").write_text("")
    (text / "ok.txt").write_text("plain text")
    (text / "bad.tiktoken").write_text("not a vocabulary\n")
    (text / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    human = {"from": "human", "value": "<image>\nOCR: "}
    entries = [{"image": name, "conversations": [human, {"from": "gpt", "value": name}]} for name in images()]
    entries += [
        {"image": "one_px.png"},
        {"image": "missing.png", "conversations": [human, {"from": "gpt", "value": "x"}]},
    ]
    (text / "entries.json").write_text(json.dumps(entries))
    (text / "predictions.jsonl").write_text('{"label": "a b", "pred": "a b"}\n{not json\n{"label": "x"}\n')
    good = png(page("ok"))
    (text / "ok.png").write_bytes(good)
    (text / "labels.jsonl").write_bytes(
        b"\n".join(
            [
                json.dumps({"image": "ok.png", "text": "ok"}).encode(),
                b"{not json",
                '{"image": "caf\xe9"}'.encode("latin-1"),
                json.dumps({"image": "gone.png", "text": "x"}).encode(),
            ]
        )
    )
    paths["text"] = text
    paths["garbled_ocr"] = root / "garbled_ocr"  # a stopped eval/ocr.py run whose results.jsonl is garbage
    paths["garbled_ocr"].mkdir()
    (paths["garbled_ocr"] / "results.jsonl").write_bytes(b'\xff\xfe{"page": 1}\n{not json\n[1]\n{"page": "x"}\n')

    stats = root / "stats"
    for name, content in {
        "not_json": b"{not json",
        "latin1": '{"caf\xe9": 1}'.encode("latin-1"),
        "a_list": b"[1, 2]",
        "wrong_types": b'{"task": 5}',
    }.items():
        (stats / name).mkdir(parents=True)
        (stats / name / "stats.json").write_bytes(content)
        write_raw(stats / name / "shard-000000.tar", [{"__key__": "k", "json": meta("t"), "png": good}])
    paths["stats"] = stats

    from datasets import Dataset

    rows = {
        "image": [images()[n] for n in ("one_px.png", "cmyk.jpg", "truncated.png", "zero.png", "garbage.png")],
        "text": ["one", "cmyk", "cut", "zero", "garbage"],
    }
    Dataset.from_dict(rows).save_to_disk(str(root / "hf"))
    paths["hf"] = root / "hf"

    torch.manual_seed(0)
    paths["model"] = root / "model"
    save_checkpoint(
        checkpoint_from_model(GOTModel(load_model_config("tiny_qwen")), GOTTokenizer.default()), paths["model"], "got"
    )
    for name, path in checkpoints(paths["model"], root / "checkpoints").items():
        paths[f"ckpt_{name}"] = path
    return paths


_MAINS = {}


def cli_main(script: str):
    if script not in _MAINS:
        spec = importlib.util.spec_from_file_location(f"cli_{script.replace('/', '_')[:-3]}", ROOT / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MAINS[script] = module.main
    return _MAINS[script]


def run_cli(script: str, argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI's main(argv), as its process would end."""
    extra = ""
    try:
        code = cli_main(script)(argv) or 0
    except SystemExit as e:  # parser.error, sys.exit(code) and sys.exit("message") (printed by the interpreter)
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
        extra = f"{e.code}\n" if isinstance(e.code, str) else ""
    out, err = capsys.readouterr()
    return code, out, err + extra


def run_library(entry: str, argv: list[str], model: Path) -> tuple[int, str, str]:
    """A library entry point as a CLI would report it: 0 and what it returns, or 1 and its documented error."""
    try:
        if entry == "got.load":
            got.load(argv[0])
            return 0, "", ""
        if entry == "chat":  # an image path, or a PDF path and a page number
            source = (argv[0], int(argv[1])) if len(argv) > 1 else argv[0]
            return 0, got.load(model).chat(source, max_new_tokens=2), ""
        overrides = {k: int(v) for k, v in (a.split("=") for a in argv[1:])}
        cfg = DataConfig(sets=[{"urls": argv[0]}], num_workers=0, augment="strong", max_tokens=2048, **overrides)
        loader = Loader(cfg, GOTTokenizer.default(), load_model_config("tiny_qwen").views)
        batches = [batch for _, batch in zip(range(8), loader)]
        skipped = ", ".join(sorted(loader.stats()["skipped"]))  # counted every epoch the 8 batches take
        return 0, f"{sum(len(b['images']) for b in batches)} views; skipped {skipped}", ""
    except (InputError, CheckpointError, FileNotFoundError) as e:  # the documented errors
        return 1, "", f"{type(e).__name__}: {e}\n"
    except RuntimeError as e:
        if entry != "loader":  # the loader's error for a set with nothing readable; anything else's is a crash
            raise
        return 1, "", f"{type(e).__name__}: {e}\n"


def case_id(case) -> str:
    """The entry point and the arguments that differ from its usual ones."""
    if hasattr(case, "values"):
        return case.id
    entry, args = case[:2]
    return f"{entry}:{' '.join(a for a in args if a not in EVAL + OCR)}"


@pytest.mark.parametrize("entry, args, expect, match", CASES, ids=map(case_id, CASES))
def test_bad_input(entry, args, expect, match, corpus, tmp_path, capsys, caplog):
    argv = [a.format(**corpus, tmp=tmp_path) for a in args]
    if entry.endswith(".py"):
        code, out, err = run_cli(entry, argv, capsys)
    else:
        code, out, err = run_library(entry, argv, corpus["model"])
    assert "Traceback" not in err + caplog.text
    if expect == ERROR:
        message = err.strip().splitlines()[-1] if err.strip() else ""
        assert code != 0 and message, f"no error for {argv}: exit {code}, stdout {out!r}"
        assert re.search(match, message), message
    else:
        assert code == 0, err
        assert re.search(match, out + err, re.DOTALL), out + err


def test_every_cli_is_swept(capsys):
    """Every CLI of data/ and eval/ (but the renderer's and the demo app's, another task's) and train/convert.py
    has rows in the sweep; prints the sweep's size per entry point."""
    per_entry = Counter(case.values[0] if hasattr(case, "values") else case[0] for case in CASES)
    clis = {f"{p.parent.name}/{p.name}" for d in ("data", "eval") for p in (ROOT / d).glob("*.py")}
    assert clis - {"data/render.py", "eval/demo_app.py"} | {"train/convert.py"} <= set(per_entry)
    with capsys.disabled():
        print(f"\nbad-input sweep: {len(CASES)} inputs through {len(per_entry)} entry points: {dict(per_entry)}")
