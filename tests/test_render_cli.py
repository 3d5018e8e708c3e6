"""data/render.py: deterministic shards, --part partitions, resume, failing samples skipped and counted."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from got.data.shards import read_samples
from got.render import RENDERERS, build_config
from got.config_file import load_config
from got.render.run import RenderJob, run

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("formula", "table", "geometry", "molecule")  # the quick ones; every type is covered in test_render.py


def content(out: Path) -> dict:
    """Shard name -> [(key, json, image bytes)]."""
    shards = {}
    for tar in sorted(out.glob("*.tar")):
        shards[tar.name] = [(k, s.meta(), [im.tobytes() for im in s.images]) for k, s in read_samples(str(tar))]
    return shards


def job(out: Path, **kw) -> RenderJob:
    return RenderJob(out=str(out), **{"num": 9, "types": TYPES, "shard_size": 2, "seed": 3, **kw})


def test_cli_is_deterministic_across_processes_and_workers(tmp_path):
    run(job(tmp_path / "a"), progress=False)
    cmd = [
        sys.executable,
        str(ROOT / "data/render.py"),
        "--types",
        ",".join(TYPES),
        "--num",
        "9",
        "--out",
        str(tmp_path / "b"),
        "--workers",
        "2",
        "--seed",
        "3",
        "--shard-size",
        "2",
        "--quiet",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "9 samples written" in out.stdout
    a, b = content(tmp_path / "a"), content(tmp_path / "b")
    assert a == b and len(a) == 5 and sum(len(v) for v in a.values()) == 9
    assert (tmp_path / "b" / "stats.json").exists()


def test_parts_partition_the_dataset(tmp_path):
    whole = run(job(tmp_path / "whole"), progress=False)
    for i in range(3):
        run(job(tmp_path / "parts", part=(i, 3)), progress=False)
    assert content(tmp_path / "parts") == content(tmp_path / "whole") and whole["written"] == 9


def test_resume_renders_only_what_is_missing(tmp_path):
    first = run(job(tmp_path), progress=False)
    reference = content(tmp_path)
    (tmp_path / f"{first['prefix']}-000002.tar").unlink()
    again = run(job(tmp_path), progress=False)
    assert again["skipped_shards"] == 4 and again["written"] == 2 and content(tmp_path) == reference
    other = run(job(tmp_path, seed=4), progress=False)  # another dataset in the same folder: nothing overwritten
    assert other["prefix"] != first["prefix"] and len(list(tmp_path.glob("*.tar"))) == 10


def test_failing_samples_are_skipped_and_counted(tmp_path):
    bad = job(tmp_path, configs={"molecule": {"smiles_file": str(tmp_path / "missing.smi")}}, num=12, shard_size=4)
    result = run(bad, progress=False)
    failed = result["failed"].get("molecule", 0)
    assert failed > 0 and set(result["failed"]) == {"molecule"} and result["written"] == 12 - failed
    assert "missing.smi" in result["errors"][0]


def test_lang_reaches_nested_configs(tmp_path):
    j = RenderJob(out=str(tmp_path), num=1, types=("finegrained", "chart", "formula"), langs=("zh",))
    assert j.overrides("finegrained") == {
        "document": {"langs": ["zh"], "table": {"langs": ["zh"]}},
        "line": {"langs": ["zh"]},
    }
    assert j.overrides("chart") == {"langs": ["zh"]} and j.overrides("formula") == {}
    assert j.prefix != RenderJob(out=str(tmp_path), num=1, types=("finegrained", "chart", "formula")).prefix


def overridden(built, overrides: dict) -> None:
    """Every override reached its field (a nested dict its nested config)."""
    for key, value in overrides.items():
        got = getattr(built, key)
        if dataclasses.is_dataclass(got):
            overridden(got, value)
        else:
            assert json.loads(json.dumps(got)) == value, key


@pytest.mark.parametrize("path", sorted((ROOT / "configs/render").glob("*.yaml")), ids=lambda p: p.name)
def test_render_configs_load(path, tmp_path):
    config = load_config(path)
    job = RenderJob(out=str(tmp_path), num=1, weights=config.pop("weights", {}), configs=config)
    assert config and set(job.weights) <= set(RENDERERS)
    for name, overrides in config.items():
        overridden(build_config(RENDERERS[name].config, overrides), overrides)


def test_defaults_merge_under_the_file_as_hydra_does(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "weights: {line: 1}\nline: {faces: [A.ttf], chars: [1, 1], degrade: {p: 0.5, blur: [0.3, 0.8]}}\n"
    )
    (tmp_path / "more.yaml").write_text("line: {font_size: [20, 40], chars: [2, 2]}\n")
    (tmp_path / "child.yaml").write_text(
        "defaults: [base, more]\nline: {chars: [3, 8], degrade: {p: 0.2}, kinds: {word: 1.0}}\n"
    )
    (tmp_path / "boxed.yaml").write_text("defaults: [base@finegrained.line]\nfinegrained: {source: line}\n")
    assert load_config(tmp_path / "child.yaml") == {
        "weights": {"line": 1},
        "line": {
            "faces": ["A.ttf"],
            "chars": [3, 8],  # the file over `more` over `base`: lists are replaced whole
            "degrade": {"p": 0.2, "blur": [0.3, 0.8]},  # mappings merge key by key
            "font_size": [20, 40],
            "kinds": {"word": 1.0},
        },
    }
    assert load_config(tmp_path / "boxed.yaml") == {
        "finegrained": {
            "source": "line",
            "line": {
                "weights": {"line": 1},
                "line": {"faces": ["A.ttf"], "chars": [1, 1], "degrade": {"p": 0.5, "blur": [0.3, 0.8]}},
            },
        }
    }


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "defaults: [gone]\n"}, "gone.yaml <- "),
        ({"a.yaml": "defaults: [b]\n", "b.yaml": "defaults: [a]\n"}, "defaults form a cycle"),
        ({"a.yaml": "defaults: base\n"}, "defaults must be a list of config names, got 'base'"),
        ({"a.yaml": "defaults: [b]\n", "b.yaml": "line: [1\n"}, "b.yaml <- "),
    ],
    ids=["missing", "cycle", "not-a-list", "bad-yaml"],
)
def test_bad_defaults_are_errors_that_name_the_file(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cmd = [sys.executable, str(ROOT / "data/render.py"), "--types", "line", "--num", "1", "--out", str(tmp_path / "o")]
    out = subprocess.run([*cmd, "--config", str(tmp_path / "a.yaml")], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_unknown_config_key_is_an_error_that_names_it(tmp_path):
    (tmp_path / "bad.yaml").write_text("scene: {photo: {texture_q: 0.5}}\n")
    cmd = [
        sys.executable,
        str(ROOT / "data/render.py"),
        "--types",
        "scene",
        "--num",
        "2",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(tmp_path / "bad.yaml"),
        "--quiet",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0 and "SceneConfig.photo has no field(s) ['texture_q']" in out.stderr
    assert not list((tmp_path / "out").glob("*.tar"))
