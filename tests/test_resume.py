"""Resume that is proven, not assumed: a killed run resumes from its checkpoint (it says so, and does not replay
the steps before it), and ends exactly where an uninterrupted run ends; a kill in the middle of a save, at each of
its points, loses nothing; a torn `latest` falls back; nothing is unpickled that could run code."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from datagen import free_port, losses
from test_train import command, shards, train  # noqa: F401  (shards: the module-scoped shard fixture)

STEPS = (
    "train.max_steps=6",
    "train.save_every=2",
    "train.keep_last=2",
    "train.grad_accum=2",
    "eval.every=2",
    "eval.num_samples=4",
    "eval.max_new_tokens=6",
    "data.num_workers=2",
)
QUICK = ("train.max_steps=4", "train.save_every=2", "train.keep_last=1", "data.max_tokens=256")


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def trained(out: Path) -> dict:
    """What a run ends with: per step its loss and LR, its evaluations and best model, and each rank's data
    position in the last checkpoint."""
    final = sorted((out / "checkpoints").glob("step*"))[-1]
    data = [torch.load(f, weights_only=True)["data"] for f in sorted(final.glob("rank*.pt"))]
    steps = [{k: r[k] for k in ("step", "loss", "lr") if k in r} for r in records(out) if "loss" in r]
    evals = [
        {k: v for k, v in r.items() if k.startswith("eval/") or k == "step"}
        for r in records(out)
        if "eval/edit_dist" in r
    ]
    return {"steps": steps, "evals": evals, "best": json.loads((out / "best/scores.json").read_text()), "data": data}


def kill_after(out: Path, cmd: list[str], step: int) -> None:
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").is_file() and max(losses(out), default=0) >= step:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for buffer in Path("/dev/shm").glob(f"deepspeed_allreduce_buffer_*_{cmd[cmd.index('--master_port') + 1]}_*"):
        buffer.unlink()  # a killed run cannot remove its own


def resumed_at(out: Path, logs: str, first_session: set[str]) -> int:
    """The step the run said it resumed at; the steps up to it were written by the first process (not replayed),
    the rest by the second."""
    at = int(re.search(r"resumed from \S+ at step (\d+)", logs)[1])
    sessions = {r["step"]: r["session"] for r in records(out)}
    assert all((sessions[s] in first_session) == (s <= at) for s in sessions)
    return at


def test_a_killed_zero3_run_resumes_exactly(tmp_path, shards):  # noqa: F811
    """ZeRO-3, grad_accum 2, two data workers per rank, evaluation every 2 steps, 2 ranks; killed after step 3.
    (ZeRO-2 is proven the same way by the two-node test below.)"""
    args = (*STEPS, f"eval.data=[{shards}/*.tar]", "deepspeed.zero_stage=3")
    train(1, tmp_path / "full", shards, *args)
    killed = tmp_path / "killed"
    kill_after(killed, command(1, killed, shards, *args), 3)
    first_session = {r["session"] for r in records(killed)}
    assert 3 <= max(losses(killed)) < 6, "the run was not killed in the middle"
    result = train(1, killed, shards, *args)
    assert resumed_at(killed, result.stdout + result.stderr, first_session) in (2, 4)
    assert trained(killed) == trained(tmp_path / "full")


def crash(tmp_path: Path, shards: Path, point: str, *args: str) -> Path:  # noqa: F811
    out = tmp_path / point
    env = {**os.environ, "GOT_CRASH_DURING_SAVE": f"{point}:4"}
    result = subprocess.run(command(1, out, shards, *QUICK, *args, procs=1), env=env, capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, shards):  # noqa: F811
    out = tmp_path_factory.mktemp("baseline")
    train(1, out, shards, *QUICK, procs=1)
    return out


@pytest.mark.parametrize("point", ["engine_saved", "renamed", "latest_written"])
def test_a_kill_in_the_middle_of_a_save_loses_nothing(tmp_path, shards, baseline, point):  # noqa: F811
    """Killed during the step-4 save (keep_last 1): the step-2 checkpoint survives until step 4's is whole."""
    out = crash(tmp_path, shards, point)
    complete = sorted(p.name for p in (out / "checkpoints").glob("step*") if (p / "COMPLETE").is_file())
    assert complete == (["step00000002"] if point == "engine_saved" else ["step00000002", "step00000004"])
    result = train(1, out, shards, *QUICK, procs=1)
    resumed_at = int(re.search(r"resumed from \S+ at step (\d+)", result.stdout + result.stderr)[1])
    assert resumed_at == (4 if point == "latest_written" else 2)  # until `latest` moves, step 2 is the one
    assert losses(out) == losses(baseline)
    assert (out / "final/model.safetensors").read_bytes() == (baseline / "final/model.safetensors").read_bytes()


def test_a_torn_latest_falls_back_to_the_newest_complete_checkpoint(tmp_path, shards, baseline):  # noqa: F811
    out = tmp_path / "run"
    shutil.copytree(baseline, out)
    (out / "checkpoints/latest").write_bytes(b"step000\x00\xff")  # torn mid-write
    result = train(1, out, shards, *QUICK, "train.max_steps=6", procs=1)
    logs = result.stdout + result.stderr
    assert "resuming from step00000004 instead" in logs and "resumed from" in logs


class Payload:
    """A pickle that runs code when loaded: it creates the file its path names."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.mark.parametrize("victim", ["rank000.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt"])
def test_resume_never_unpickles_code(tmp_path, shards, baseline, victim):  # noqa: F811
    out = tmp_path / "run"
    shutil.copytree(baseline, out)
    planted = tmp_path / "pwned"
    checkpoint = out / "checkpoints/step00000004"
    state = torch.load(checkpoint / victim, weights_only=False)
    state["extra"] = Payload(str(planted))
    torch.save(state, checkpoint / victim)
    result = subprocess.run(
        command(1, out, shards, *QUICK, "train.max_steps=6", procs=1), capture_output=True, text=True, timeout=300
    )
    logs = result.stdout + result.stderr
    assert result.returncode != 0 and not planted.exists()
    assert "train.trust_checkpoint_pickle=true" in logs and "Traceback" not in logs


def test_resume_errors_are_one_line(tmp_path, shards, baseline):  # noqa: F811
    out = tmp_path / "run"
    shutil.copytree(baseline, out)
    result = subprocess.run(
        command(1, out, shards, *QUICK, "train.max_steps=6", procs=2), capture_output=True, text=True, timeout=300
    )
    logs = result.stdout + result.stderr
    assert result.returncode != 0 and "saved by 1 ranks; this run has 2" in logs and "Traceback" not in logs
    model_states = out / "checkpoints/step00000004/mp_rank_00_model_states.pt"
    model_states.write_bytes(model_states.read_bytes()[:1000])
    result = subprocess.run(
        command(1, out, shards, *QUICK, "train.max_steps=6", procs=1), capture_output=True, text=True, timeout=300
    )
    logs = result.stdout + result.stderr
    assert result.returncode != 0 and "is not a readable checkpoint file" in logs and "Traceback" not in logs


def launch_node(
    rank: int,
    hosts: Path,
    port: int,
    out: Path,
    shards: Path,  # noqa: F811
    env: dict,
    args: tuple[str, ...],
) -> subprocess.Popen:
    """One "node" of a 2-node world on this machine: DeepSpeed's launcher without ssh, 1 process."""
    cmd = [
        shutil.which("deepspeed"),
        "--no_ssh",
        "--hostfile",
        str(hosts),
        "--node_rank",
        str(rank),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        *command(1, out, shards, *args, procs=1)[1:],
    ]
    return subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


NODE_RUN = (*STEPS, "train.keep_last=1")


def two_nodes(tmp_path: Path, out: Path, shards: Path, crash: str | None = None) -> list[str]:  # noqa: F811
    hosts = tmp_path / "hosts"
    hosts.write_text("node0 slots=1\nnode1 slots=1\n")
    env = {**os.environ, **({"GOT_CRASH_DURING_SAVE": crash} if crash else {})}
    port = free_port()
    extra = (*NODE_RUN, f"eval.data=[{shards}/*.tar]")
    nodes = [launch_node(rank, hosts, port, out, shards, env, extra) for rank in (0, 1)]
    logs = [nodes[0].communicate(timeout=400)[0]]
    try:
        logs.append(nodes[1].communicate(timeout=120)[0])
    except subprocess.TimeoutExpired:  # its peer was killed: it may wait in a collective
        os.killpg(nodes[1].pid, signal.SIGKILL)
        logs.append(nodes[1].communicate()[0])
    for buffer in Path("/dev/shm").glob(f"deepspeed_allreduce_buffer_*_{port}_*"):
        buffer.unlink()
    return logs


def test_two_nodes_train_and_resume_as_one_node_with_two_processes(tmp_path, shards):  # noqa: F811
    """Two launchers with --node_rank 0 and 1 against 127.0.0.1 (the multi-node command of docs/training.md),
    ZeRO-2, grad_accum 2, two data workers per rank, evaluation every 2 steps, killed in the middle of the step-4
    save and resumed across that world: it ends exactly as one node with 2 processes does."""
    one_node = tmp_path / "one_node"
    train(1, one_node, shards, *NODE_RUN, f"eval.data=[{shards}/*.tar]", procs=2)
    out = tmp_path / "two_nodes"
    two_nodes(tmp_path, out, shards, crash="engine_saved:4")
    first_session = {r["session"] for r in records(out)}
    assert max(losses(out)) == 4 and not (out / "final").exists()
    logs = two_nodes(tmp_path, out, shards)
    assert resumed_at(out, logs[0], first_session) == 2
    assert trained(out) == trained(one_node)
