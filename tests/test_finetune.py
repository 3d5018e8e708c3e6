"""The fine-tuning guide, docs/finetune.md, run as written on tiny weights.

Every command of the guide's `bash` blocks runs in document order, in a scratch directory, so the guide's
relative paths (ckpt/, shards/, runs/) land there. Only these things change:
- `~/models/GOT-OCR2_0` becomes an official-layout checkpoint of a random tiny GotOcr2, written by the test
  through the DESIGN key table (tests/datagen.py), not by our converter;
- script paths resolve in the repository; `deepspeed` gets `--num_gpus 2` (2 CPU processes, gloo);
- SIZING arguments are appended: the tiny model, 3 steps, a few samples. Hydra and argparse both let the last
  value win, so these only shrink the run.
The guide's `python` block (transformers on the export) runs too, and its greedy tokens must equal ours.
"""

import json
import math
import random
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from got.data.shards import read_samples
from got.model.checkpoint import load_checkpoint, model_from_checkpoint
from got.model.generate import generate
from got.prompts import build_query, encode_prompt
from got.tokenizer import GOTTokenizer

from datagen import free_port, losses, tiny_referee, write_official, write_pdf

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs/finetune.md"
DOWNLOAD = "~/models/GOT-OCR2_0"
SIZING = {
    "train/stage3.py": [
        "train.max_steps=3",
        "optim.warmup_steps=1",
        "data.max_tokens=512",
        "data.pack_window_rows=4",
        "deepspeed.bf16=false",
        "log.wandb=disabled",
    ],
    "eval/evaluate.py": ["max_new_tokens=16", "progress=false"],
    "data/render.py": ["--num", "6", "--workers", "1", "--quiet"],
    "data/pdf2shards.py": ["--dpi", "72"],
    "data/inspect_shards.py": ["--n", "4"],
}
PYTHON_SIZING = {"max_new_tokens=4096": "max_new_tokens=24"}
STEPS = [  # the path of the issue, in the guide's order
    "train/convert.py",
    "data/pdf2shards.py",
    "data/pdf2shards.py",
    "data/render.py",
    "data/inspect_shards.py",
    "train/stage3.py",
    "train/stage3.py",
    "eval/evaluate.py",
    "eval/evaluate.py",
    "eval/evaluate.py",
    "eval/evaluate.py",
    "train/convert.py",
    "data/token_coverage.py",
]
SAMPLE = "Alle Menschen sind frei und gleich an Würde und Rechten geboren.\n"
WORDS = "invoice total amount paid balance account customer order shipped delivery date number".split()


def fenced(lang: str) -> list[str]:
    """The contents of the guide's ```lang blocks (indented ones in list items too), in order."""
    return [m[2] for m in re.finditer(r"^ *```(\w*)\n(.*?)^ *```$", GUIDE.read_text(), re.S | re.M) if m[1] == lang]


def guide_commands(lang: str = "bash") -> list[str]:
    """Every command line of the guide's `lang` blocks (continuations joined, comments dropped)."""
    lines = [line.strip() for block in fenced(lang) for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def script(command: str) -> str:
    return shlex.split(command)[1]


def argv(command: str, download: Path) -> list[str]:
    tool, name, *args = shlex.split(command.replace(DOWNLOAD, str(download)), comments=True)
    launcher = {
        "python": [sys.executable],
        "deepspeed": [shutil.which("deepspeed"), "--num_gpus", "2", "--master_port", str(free_port())],
    }
    return [*launcher[tool], str(ROOT / name), *args, *SIZING.get(name, [])]


def paragraph(seed: int, words: int = 14) -> str:
    return " ".join(random.Random(seed).choices(WORDS, k=words)).capitalize() + f" {seed}."


@pytest.fixture(scope="module")
def guide(tmp_path_factory) -> dict:
    """Runs the guide; returns {"work", "download", "stdout": {command: text}, "skipped": {command: reason}}."""
    work = tmp_path_factory.mktemp("guide")
    download = work / "download/GOT-OCR2_0"
    write_official(tiny_referee(), GOTTokenizer.default(), download)
    for folder, docs in (("my_pdfs", range(3)), ("heldout_pdfs", range(3, 4))):
        (work / folder).mkdir()
        for d in docs:
            write_pdf(work / folder / f"doc{d}.pdf", [paragraph(10 * d), paragraph(10 * d + 1)], f"Page two of {d}")
    (work / "sample.txt").write_text(SAMPLE, encoding="utf-8")
    stdout, skipped = {}, {}
    for command in guide_commands():
        if "engine=tesseract" in command and shutil.which("tesseract") is None:
            skipped[command] = "tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)"
            continue
        result = subprocess.run(argv(command, download), cwd=work, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        stdout[command] = result.stdout
    return {"work": work, "download": download, "stdout": stdout, "skipped": skipped}


def test_guide_walks_the_whole_path():
    assert [script(c) for c in guide_commands()] == STEPS
    convert = guide_commands()[0]
    assert f"--from official --to got {DOWNLOAD} " in convert and f"--tokenizer {DOWNLOAD}/qwen.tiktoken" in convert
    assert len(fenced("python")) == 1


def test_the_guide_s_other_training_options_are_real_keys():
    """The `shell` alternatives are not run, but their overrides must compose against the config schema."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import got.train.config  # noqa: F401  (registers the schema)
    from got.config import CONFIG_DIR

    runs = [c for c in guide_commands("shell") if script(c) == "train/stage3.py"]
    assert len(runs) == 2  # unfreezing the encoder, label-token perturbation
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        overrides = [[a for a in shlex.split(c)[2:] if a != "data.sets=[...]"] for c in runs]  # the elided mixture
        unfrozen, perturbed = (OmegaConf.to_object(compose("train", overrides=o)) for o in overrides)
    assert not unfrozen.freeze.vision and unfrozen.optim.lr_mult["vision"] == 0.1
    assert perturbed.data.perturb_labels == 0.05 and perturbed.freeze.vision  # frozen by default


def test_conversion_and_shards(guide):
    work = guide["work"]
    ckpt = load_checkpoint(work / "ckpt/got", "got")
    assert ckpt.tokenizer.source.read_bytes() == (guide["download"] / "qwen.tiktoken").read_bytes()
    assert ckpt.cfg.image_token_id == GOTTokenizer.default().imgpad_id
    custom = [sample for _, sample in read_samples(str(work / "shards/custom"))]
    assert {paragraph(0), paragraph(21)} <= {s.text.replace("\n", " ") for s in custom}  # paragraphs of my_pdfs
    assert any(s.box for s in custom) and any(not s.box for s in custom)  # region prompts and whole pages
    heldout = [sample.text.replace("\n", " ") for _, sample in read_samples(str(work / "shards/heldout"))]
    assert heldout == [f"{paragraph(30)} {paragraph(31)}", "Page two of 3"]  # page granularity: whole pages
    assert (work / "shards/general/stats.json").is_file() and (work / "shards/custom/inspect/contact.png").is_file()


@pytest.mark.parametrize("run", ["finetune", "finetune_lora"])
def test_finetune_runs(guide, run):
    out = guide["work"] / "runs" / run
    assert sorted(losses(out)) == [1, 2, 3] and all(math.isfinite(v) for v in losses(out).values())
    before, after = load_file(guide["work"] / "ckpt/got/model.safetensors"), load_file(out / "final/model.safetensors")
    assert set(after) == set(before)  # LoRA merged into plain weights: no adapter keys
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"projector", "decoder"}  # the encoder is frozen by default
    config = (out / "config.yaml").read_text()
    assert ("enabled: true" in config) == (run == "finetune_lora")


def test_evaluation_before_and_after(guide):
    runs = guide["work"] / "runs/eval"
    for name in ("before", "after", "after_lora"):
        metrics = json.loads((runs / name / "metrics.json").read_text())
        assert metrics["engine"] == "got" and metrics["input"]["read"] == 2 and metrics["speed"]["new_tokens"] > 0
        records = [json.loads(line) for line in (runs / name / "predictions.jsonl").read_text().splitlines()]
        assert [r["label"] for r in records][1] == "Page two of 3" and all("looping" in r for r in records)
        assert (runs / name / "report.html").is_file()


def test_tesseract_baseline(guide):
    if guide["skipped"]:
        pytest.skip(next(iter(guide["skipped"].values())))
    metrics = json.loads((guide["work"] / "runs/eval/tesseract/metrics.json").read_text())
    assert metrics["engine"] == "tesseract" and metrics["n"] == 2 and metrics["macro"]["cer"] < 0.2


def test_transformers_export_generates_our_greedy_tokens(guide, monkeypatch):
    work = guide["work"]
    ckpt = load_checkpoint(work / "runs/finetune_lora/final", "got")
    model = model_from_checkpoint(ckpt).eval()
    _, sample = next(read_samples(str(work / "shards/heldout")))
    views = model.cfg.views.of_images(sample.images)  # the page at the model's size: no resize
    Image.fromarray(views[0].permute(1, 2, 0).numpy()).save(work / "page.png")
    code = fenced("python")[0]
    for old, new in PYTHON_SIZING.items():
        code = code.replace(old, new)
    monkeypatch.chdir(work)
    scope = {}
    exec(compile(code, str(GUIDE), "exec"), scope)  # the guide's block, as written
    ids = scope["inputs"]["input_ids"][0].tolist()
    assert ids == encode_prompt(ckpt.tokenizer, build_query("ocr"), 1, model.cfg.vision.tokens_per_view)  # GOT's
    theirs = scope["out"][0, len(ids) :].tolist()
    ours = generate(model, [ids], [views], max_new_tokens=24, no_repeat_ngram_size=20)[0]
    eos = ckpt.tokenizer.im_end_id
    assert theirs[: theirs.index(eos) if eos in theirs else None] == ours and ours


def test_token_coverage(guide):
    [out] = [v for k, v in guide["stdout"].items() if script(k) == "data/token_coverage.py"]
    tokens = len(GOTTokenizer.default().encode(SAMPLE))  # the download's qwen.tiktoken is the tiny vocabulary here
    ratio = tokens / len(SAMPLE)
    assert out == f"sample.txt: {len(SAMPLE)} characters, {tokens} tokens: {ratio:.3f} tokens per character\n"


def test_finetune_without_a_model_fails_at_start(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train/stage3.py"),
            "+experiment=finetune_custom",
            f"train.out_dir={tmp_path}",
            "data.sets=[{urls: [shards/*.tar]}]",
            "freeze.vision=false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "set init.model_from=DIR" in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
