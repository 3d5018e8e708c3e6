"""Training: the stage entry points under `deepspeed` with 2 CPU processes, hand-over, config errors and NaN
handling (resume and durable saves: test_resume.py)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from got.config import load_model_config
from got.model.checkpoint import checkpoint_from_model, save_checkpoint
from got.model.got import ComputeConfig, GOTModel
from got.tokenizer import GOTTokenizer
from got.train.loop import NonFiniteGuard, NonFiniteLossError, cpu_threads
from got.train.lora import LoraConfig
from got.train.optim import OptimConfig, param_groups
from got.train.stages import FreezeConfig, InitConfig, build_model

from datagen import free_port, losses, write_set

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "lines"
    write_set(out, "line", 48, max_count=12)
    return out


# The demo's experiments, on the test shards, starting from nothing unless a test says otherwise.
DETACHED = {
    1: ["init.model_from=null", "eval.every=0"],
    2: ["init.model_from=null", "eval.every=0"],
    3: ["eval.every=0"],
    4: ["eval.every=0"],
}


def command(stage: int, out: Path, shards: Path, *overrides: str, procs: int = 2) -> list[str]:
    script = str(ROOT / f"train/stage{stage}.py")
    launcher = [shutil.which("deepspeed"), "--num_gpus", str(procs), "--master_port", str(free_port())]
    return [
        *(launcher if procs > 1 else [sys.executable]),
        script,
        f"+experiment=demo_stage{stage}",
        f"train.out_dir={out}",
        f"data.sets=[{{urls: [{shards}/*.tar]}}]",
        *DETACHED[stage],
        *overrides,
    ]


def train(*args, **kwargs) -> subprocess.CompletedProcess:
    cmd = command(*args, **kwargs)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if "--master_port" in cmd:  # DeepSpeed's CPU allreduce buffers (70 MB a rank) are removed, not leaked
        port = cmd[cmd.index("--master_port") + 1]
        assert not list(Path("/dev/shm").glob(f"deepspeed_allreduce_buffer_*_{port}_*"))
    return result


def test_three_stages_hand_over_under_deepspeed(tmp_path, shards):
    s1, s2, s3 = tmp_path / "s1", tmp_path / "s2", tmp_path / "s3"
    # The paper's hand-over, OPT -> Qwen (the demo's stage 1 is a small Qwen2: docs/learning.md).
    train(
        1,
        s1,
        shards,
        "model=tiny_opt",
        "compute.attn_implementation=sdpa",
        "train.max_steps=3",
        "train.save_every=2",
        "eval.every=3",
        f"eval.data=[{shards}/*.tar]",
        "eval.num_samples=4",
        "eval.max_new_tokens=6",
    )
    assert (s1 / "checkpoints/latest").read_text() == "step00000003"
    assert sorted(p.name for p in (s1 / "checkpoints").glob("step*")) == ["step00000003"]  # keep_last: 1
    assert (s1 / "checkpoints/step00000003/export/model.safetensors").is_file()
    assert (s1 / "config.yaml").is_file() and (s1 / "checkpoints/step00000003/config.yaml").is_file()
    assert sorted(losses(s1)) == [1, 2, 3] and all(v == v for v in losses(s1).values())
    stage1 = load_file(s1 / "final/model.safetensors")
    evals = [r for r in map(json.loads, (s1 / "metrics.jsonl").read_text().splitlines()) if "eval/edit_dist" in r]
    assert [r["step"] for r in evals] == [3] and 0 <= evals[0]["eval/edit_dist"] <= 1
    steps = [r for r in map(json.loads, (s1 / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert len(steps) == 3 and all(r["s/step"] > 0 for r in steps)  # what a step costs, for budgeting runs
    assert json.loads((s1 / "best/scores.json").read_text())["step"] == 3  # the first evaluation is the best so far
    assert (s1 / "best/model.safetensors").is_file()
    assert json.loads((s1 / "final/config.json").read_text())["model"]["decoder"]["model_type"] == "opt"

    train(2, s2, shards, "train.max_steps=2", f"init.encoder_from={s1}/final")
    stage2 = load_file(s2 / "final/model.safetensors")
    assert json.loads((s2 / "final/config.json").read_text())["model"]["decoder"]["model_type"] == "qwen2"
    assert not any(k.startswith("decoder.model.decoder.") for k in stage2)  # OPT's decoder was dropped

    train(3, s3, shards, "train.max_steps=2", f"init.model_from={s2}/final")
    stage3 = load_file(s3 / "final/model.safetensors")
    vision = [k for k in stage3 if k.startswith("vision.")]
    assert vision and all(torch.equal(stage3[k], stage2[k]) for k in vision)  # frozen in stage 3
    assert not torch.equal(stage3["projector.linear.weight"], stage2["projector.linear.weight"])  # trained
    assert not torch.equal(stage2["vision.pos_embed"], stage1["vision.pos_embed"])  # stage 2 trains the encoder


def test_config_errors_are_clear(tmp_path, shards):
    for override, expected in [
        ("train.max_stepz=3", "max_stepz"),
        ("train.max_steps=many", "max_steps"),
        ("data.length_policy=bogus", "length_policy"),
        ("init.model_from=/nonexistent/ckpt", "does not exist"),
    ]:
        result = subprocess.run(
            command(1, tmp_path / "bad", shards, override, procs=1), capture_output=True, text=True, timeout=300
        )
        assert result.returncode != 0
        assert expected in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_diverged_run_stops_with_a_clear_error(tmp_path, shards):
    result = subprocess.run(
        command(1, tmp_path / "nan", shards, "optim.lr=1e30", "train.max_nonfinite=2", "train.max_steps=20", procs=1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "2 micro-batches in a row had a NaN/inf loss" in result.stderr, result.stderr[-2000:]


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_nonfinite_guard_skips_counts_and_stops(process_group):
    guard = NonFiniteGuard(limit=3)
    nan, ok = torch.tensor(float("nan")), torch.tensor(1.0)
    assert [guard.ok(x, 1) for x in (ok, nan, ok, nan, nan)] == [True, False, True, False, False]
    assert guard.total == 3 and guard.in_a_row == 2
    with pytest.raises(NonFiniteLossError, match="3 micro-batches in a row"):
        guard.ok(torch.tensor(float("inf")), 7)


def test_stage_policies(tmp_path):
    tokenizer = GOTTokenizer.default()
    torch.manual_seed(0)
    stage1 = GOTModel(load_model_config("tiny_opt"))
    save_checkpoint(checkpoint_from_model(stage1, tokenizer), tmp_path / "s1", "got")

    model, _ = build_model(
        load_model_config("tiny_qwen"),
        ComputeConfig(),
        InitConfig(encoder_from=str(tmp_path / "s1")),
        FreezeConfig(),
        LoraConfig(),
    )
    assert all(
        torch.equal(a, b) for a, b in zip(model.vision.state_dict().values(), stage1.vision.state_dict().values())
    )
    assert model.decoder.config.model_type == "qwen2"
    save_checkpoint(checkpoint_from_model(model, tokenizer), tmp_path / "s2", "got")

    model, _ = build_model(
        load_model_config("tiny_qwen"),
        ComputeConfig(),
        InitConfig(model_from=str(tmp_path / "s2")),
        FreezeConfig(vision=True),
        LoraConfig(),
    )
    assert not any(p.requires_grad for p in model.vision.parameters())
    assert all(p.requires_grad for p in model.projector.parameters())
    names = [g["name"] for g in param_groups(model, OptimConfig())]
    assert not any(n.startswith("vision") for n in names) and "projector.no_decay" in names

    lora, _ = build_model(
        load_model_config("tiny_qwen"),
        ComputeConfig(),
        InitConfig(model_from=str(tmp_path / "s2")),
        FreezeConfig(vision=True),
        LoraConfig(enabled=True, r=4),
    )
    trainable = [n for n, p in lora.decoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    blind = load_model_config("tiny_qwen")
    blind.zero_image_features = True  # the no-image baseline trains the decoder alone
    model, _ = build_model(blind, ComputeConfig(), InitConfig(), FreezeConfig(), LoraConfig())
    assert not any(p.requires_grad for m in (model.vision, model.projector) for p in m.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())

    wrong = load_model_config("tiny_qwen")
    wrong.vision.width = 96
    with pytest.raises(ValueError, match="encoder in .* has config"):
        build_model(wrong, ComputeConfig(), InitConfig(encoder_from=str(tmp_path / "s1")), FreezeConfig(), LoraConfig())
    mismatched = load_model_config("tiny_qwen")
    mismatched.image_token_id = 5
    with pytest.raises(ValueError, match="image_token_id=5 but the tokenizer says 8216"):
        build_model(mismatched, ComputeConfig(), InitConfig(), FreezeConfig(), LoraConfig())


def test_lr_schedule_with_a_delayed_module():
    from got.train.optim import build_optimizer, lr_factor

    assert [round(lr_factor(s, 4, 20, 0.1), 3) for s in (0, 3)] == [0.25, 1.0]
    assert lr_factor(19, 4, 20, 0.1) == pytest.approx(0.1, abs=0.02)
    assert [lr_factor(s, 4, 20, 0.1, delay=10) for s in (0, 9)] == [0.0, 0.0]
    assert lr_factor(10, 4, 20, 0.1, delay=10) == 0.25  # its own warmup starts after the delay
    model = GOTModel(load_model_config("tiny_qwen"))
    optimizer, schedule = build_optimizer(model, OptimConfig(lr=1e-3, warmup_steps=2, delay={"vision": 3}), 10)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["vision"] == 0.0 and lrs["decoder"] == pytest.approx(5e-4)
    for _ in range(3):
        optimizer.step()
        schedule.step()
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["vision"] == pytest.approx(5e-4) and lrs["projector"] == pytest.approx(lrs["decoder"])
    with pytest.raises(ValueError, match="optim.delay has unknown modules"):
        param_groups(model, OptimConfig(delay={"encoder": 5}))


@pytest.mark.parametrize(
    "env, share",
    [
        ({"LOCAL_SIZE": "2"}, 2),  # the deepspeed launcher's 2 ranks: half the cores each
        ({"LOCAL_WORLD_SIZE": "4"}, 4),  # torchrun's name for it
        ({}, 1),  # a plain `python` run: all the cores
        ({"LOCAL_SIZE": "2", "OMP_NUM_THREADS": "3"}, None),  # the user's setting wins
    ],
)
def test_each_cpu_rank_gets_its_share_of_the_cores(monkeypatch, env, share):
    for key in ("LOCAL_SIZE", "LOCAL_WORLD_SIZE", "OMP_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cores = len(os.sched_getaffinity(0))
    assert cpu_threads() == (3 if share is None else max(1, cores // share))
