"""bench/gpu_check.py, the prepared check for a lent GPU, as far as a CPU machine takes it: its arguments, a part
that fails or overruns its time box while the others still run, the carried wheels installed by pip, and the JSON
and markdown it writes. (The CPU dry run of every part takes minutes: docs/performance.md#gpu has its output.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "bench/gpu_check.py"


def check(out: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Run the check as on the GPU machine ($OUT set); its result and JSON report, if it wrote one."""
    result = subprocess.run(
        [sys.executable, str(CHECK), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "OUT": str(out)},
    )
    reports = list(out.glob("gpu_check_*.json"))
    return result, json.loads(reports[0].read_text()) if reports else None


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--parts", "install,bogus"],
            "unknown part(s) bogus; choose from install, correctness, stage2, resume, benches",
        ),
        (["--parts", "install,install"], "--parts needs at least one part, each at most once"),
        (["--budget", "0"], "--budget must be positive"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    result, report = check(tmp_path, *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and report is None


def test_failing_parts_are_reported_and_the_next_ones_still_run(tmp_path):
    # No wheels to install, and no CUDA device on this machine: each part fails in its own way, and each runs.
    empty = tmp_path / "carry"
    empty.mkdir()
    result, report = check(tmp_path / "out", "--parts", "install,correctness,stage2", "--carry", str(empty))
    assert result.returncode == 1
    parts = report["parts"]
    assert list(parts) == ["install", "correctness", "stage2"]
    assert all(p["status"] == "failed" and p["seconds"] > 0 for p in parts.values())
    assert f"no wheels in {empty / 'wheels'}" in parts["install"]["error_tail"]
    assert "torch sees no CUDA device" in parts["correctness"]["error_tail"]
    assert "torch sees no CUDA device" in parts["stage2"]["error_tail"]
    assert "Traceback" not in parts["correctness"]["error_tail"]
    markdown = (tmp_path / "out/gpu_check_cuda.md").read_text()
    assert "| install | failed |" in markdown and "| stage2 | failed |" in markdown
    assert "error:" in markdown and "no wheels in" in markdown
    assert (tmp_path / "out/gpu_check_cuda.log").read_text().count("=====") == 6  # each part's output, logged


def test_a_part_over_its_time_box_is_killed(tmp_path):
    # The whole budget is 8 s: correctness on CPU takes longer than that, so it is killed and reported as such.
    result, report = check(tmp_path, "--device", "cpu", "--quick", "--parts", "correctness", "--budget", "8")
    part = report["parts"]["correctness"]
    assert result.returncode == 1
    assert part["status"] == "timeout" and part["limit_s"] == 8 and part["seconds"] < 20
    assert part["error"] == "killed at its 8 s time box"
    assert "| correctness | timeout |" in (tmp_path / "gpu_check_cpu_quick.md").read_text()


def test_install_puts_the_carried_wheels_in_a_fresh_target(tmp_path):
    # A real wheel, built here without a network, installed by the check's pip step; then the GPU path's imports.
    package = tmp_path / "pkg"
    (package / "gpucheckdemo").mkdir(parents=True)
    (package / "gpucheckdemo/__init__.py").write_text("VALUE = 1\n")
    (package / "pyproject.toml").write_text(
        '[project]\nname = "gpucheckdemo"\nversion = "0.1"\n[build-system]\n'
        'requires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    wheels = tmp_path / "carry/wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    result, report = check(
        tmp_path / "out",
        "--device",
        "cpu",
        "--parts",
        "install",
        "--carry",
        str(tmp_path / "carry"),
        "--installed",
        str(tmp_path / "site"),
    )
    part = report["parts"]["install"]
    assert result.returncode == 0, part.get("error_tail")
    assert part["status"] == "ok"
    assert part["results"]["wheels"] == ["gpucheckdemo-0.1-py3-none-any.whl"]
    assert part["results"]["installed"] == ["gpucheckdemo"]
    assert (tmp_path / "site/core/gpucheckdemo/__init__.py").read_text() == "VALUE = 1\n"
    assert part["results"]["site_on_path"] == (sys.version_info[:2] == (3, 12))
    environment = part["results"]["environment"]
    assert environment["versions"]["deepspeed"] and environment["cuda_device"] is None
    assert "## install: ok" in (tmp_path / "out/gpu_check_cpu.md").read_text()
