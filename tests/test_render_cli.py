"""data/render.py: deterministic shards, --part partitions, resume, failing samples skipped and counted."""

import dataclasses
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from got.data.shards import read_samples
from got.render import RENDERERS, build_config
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
    config = runpy.run_path(str(ROOT / "data/render.py"))["load_config"](str(path))
    job = RenderJob(out=str(tmp_path), num=1, weights=config.pop("weights", {}), configs=config)
    assert config and set(job.weights) <= set(RENDERERS)
    for name, overrides in config.items():
        overridden(build_config(RENDERERS[name].config, overrides), overrides)


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
