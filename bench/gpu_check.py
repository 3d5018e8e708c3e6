"""One prepared check for a lent GPU (docs/performance.md#gpu): install what the machine lacks, then correctness on
the device, a real-size stage-2 run, a SIGKILL-and-resume, and the benches against transformers. Each part runs in
its own process under a time box; a part that fails or runs out of time is reported (status, seconds, the tail of
its output) and the next one runs. The whole check stays within --budget seconds.

    bash bench/gpu_wheels.sh                          # here, once: wheels and shards into .gpu_carry (git-ignored)
    python bench/gpu_check.py                         # on the GPU machine: writes gpu_check_cuda.{json,md} to $OUT
    python bench/gpu_check.py --device cpu --quick    # the same parts at tiny shapes: a dry run on a CPU machine
    python bench/gpu_check.py --parts install,stage2  # a selection, in the given order

Parts (in the default order):
  install      the carried wheels into a fresh target (pip, no index), and what the GPU path then imports
  correctness  in fp32 and bf16 on the device: packed rows against per-sample runs (logits, loss), sdpa_varlen
               against sdpa (loss, gradients), chunked against full cross-entropy, greedy generate against
               transformers' on the hf export
  stage2       train/train.py +experiment=paper_stage2 at the released shapes (random init, bf16, ZeRO-2, one
               process, 8,192-token rows) on the carried shards: tokens/s, MFU, peak GPU memory, JIT-built ops
  resume       a tiny run killed with SIGKILL after its first checkpoint, resumed, against an uninterrupted run
  benches      bench/train_step.py, bench/loss.py (with and without Liger) and bench/generate.py on the device
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TRAIN = ROOT / "train/train.py"  # the public training command (the experiment names the stage)
PAPER, TINY = "paper_stage2", "demo_stage2"  # the runs start from these experiments: released shapes, tiny
WHEEL_PYTHON = "3.12"  # the GPU image's CPython, for which bench/gpu_wheels.sh downloads
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, per device
# The most seconds a part may take (device cuda, then device cpu with --quick); the budget trims the later ones.
LIMITS = {
    "install": (60, 180),
    "correctness": (70, 600),
    "stage2": (170, 600),
    "resume": (80, 600),
    "benches": (200, 1200),
}
# Relative errors (norm of the difference over the norm of the reference) that count as equal.
TOLERANCE = {"float32": 1e-5, "bfloat16": 3e-2}
RESUME_TOLERANCE = {"cpu": 0.0, "cuda": 1e-2}  # CUDA's atomics-based backward kernels are not bitwise reproducible
# The targets, read off the findings: (part, key, at least or at most, value, what).
TARGETS = [
    ("stage2", "mfu", ">=", 0.35, "stage-2 MFU at 8,192-token rows"),
    ("benches", "train_step/speedup_real_tokens", ">=", 1.5, "real tokens/s against transformers' GotOcr2 + padding"),
    ("benches", "train_step/tensor_memory_ratio", "<=", 0.7, "peak allocated memory against transformers'"),
]


class CheckError(RuntimeError):
    """A failure the part explains in one message (no traceback)."""


@dataclass
class Context:
    device: str
    quick: bool
    carry: str  # what bench/gpu_wheels.sh wrote: wheels/, liger/, shards/
    installed: str  # where the install part puts the wheels (core/, liger/); kept for a rerun of other parts
    scratch: str  # the runs and bench outputs of this check, removed at its end
    logs: str  # the parts' output and the stage-2 metrics
    peak_tflops: float  # 0: by the device's name
    deadline: float = 0.0  # when the running part must end (epoch seconds)
    result: str = ""  # where the running part records what it found

    @property
    def site(self) -> Path:
        return Path(self.installed) / "core"

    @property
    def liger_site(self) -> Path:
        return Path(self.installed) / "liger"

    @property
    def shards(self) -> str:
        return str(Path(self.carry) / "shards" / "*.tar")

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def env(self, liger: bool = False) -> dict[str, str]:
        """The environment of every process a part starts: the installed wheels first (where they fit this
        interpreter), the repository (got is not installed there), no network, no wandb."""
        paths = [str(self.site)] if site_fits() else []
        paths += [str(self.liger_site)] if liger else []
        paths += [str(ROOT), os.environ.get("PYTHONPATH", "")]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "PYTHONUNBUFFERED": "1",
            "NO_ALBUMENTATIONS_UPDATE": "1",
            "HF_HUB_OFFLINE": "1",
            "WANDB_MODE": "disabled",
        }
        if self.cuda:  # a fresh extensions folder: whatever DeepSpeed JIT-builds lands there and is listed
            env["TORCH_EXTENSIONS_DIR"] = str(Path(self.scratch) / "torch_extensions")
        return env


def site_fits() -> bool:
    return f"{sys.version_info.major}.{sys.version_info.minor}" == WHEEL_PYTHON


def tail(text: str, chars: int = 2000) -> str:
    return text[-chars:].strip()


class Recorder:
    """What a part found so far, rewritten after every entry: a part killed at its time box keeps it."""

    def __init__(self, path: str):
        self.path, self.data = Path(path), {}

    def __call__(self, key: str, value) -> None:
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def run_tree(cmd: list[str], timeout: float, env: dict) -> tuple[int | None, str]:
    """Run cmd with its output captured; at `timeout` kill it and every process under it (a bench's workers, a
    run's data loaders). Its exit code (None when killed) and output."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        output = proc.communicate(timeout=timeout)[0]
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for member in [proc, *family]:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        return None, proc.communicate()[0]


def run_logged(
    cmd: list[str], ctx: Context, *, env: dict | None = None, limit: float | None = None, name: str | None = None
) -> str:
    """Run cmd to the part's deadline (or `limit` seconds), echo its output, and return it; CheckError with the
    output's tail if it fails or runs out of time. `name`: what messages call it (default: the script's name)."""
    timeout = max(1.0, ctx.deadline - time.time() - 3)
    timeout = min(timeout, limit) if limit else timeout
    name = name or Path(cmd[1]).name
    print("$", shlex.join(cmd), flush=True)
    code, output = run_tree(cmd, timeout, env or ctx.env())
    print(output, flush=True)
    if code is None:
        raise CheckError(f"{name} ran out of its {timeout:.0f} s: ...{tail(output, 800)}")
    if code:
        raise CheckError(f"{name} exited with {code}: ...{tail(output, 800)}")
    return output


def require_device(ctx: Context) -> None:
    import torch

    if ctx.cuda and not torch.cuda.is_available():
        raise CheckError("--device cuda, but torch sees no CUDA device (torch.cuda.is_available() is False)")


def read_metrics(run_dir: Path) -> dict[int, dict]:
    """metrics.jsonl of a training run, by step (training lines only)."""
    path = run_dir / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    return {r["step"]: r for r in lines if "loss" in r}


def train_command(out: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, str(TRAIN), *overrides, f"train.out_dir={out}"]


def tokenizer_ids() -> list[str]:
    """The shipped tokenizer's special ids for the model config (the real Qwen vocabulary is not carried)."""
    from got.tokenizer import GOTTokenizer

    tok = GOTTokenizer.default()
    ids = {"image_token_id": tok.imgpad_id, "eos_token_id": tok.im_end_id, "pad_token_id": tok.pad_id}
    return [f"model.{k}={v}" for k, v in ids.items()]


def tiny_run(ctx: Context, steps: int, save_every: int) -> list[str]:
    """Overrides of a tiny stage-2 run on the carried shards, on the check's device (bf16 on CUDA, as trained there)."""
    return [
        f"+experiment={TINY}",
        "init.encoder_from=null",
        f"data.sets=[{{urls: [{ctx.shards}]}}]",
        "data.num_workers=1",
        f"train.max_steps={steps}",
        f"train.save_every={save_every}",
        "train.keep_last=2",
        f"train.device={ctx.device}",
        f"deepspeed.bf16={str(ctx.cuda).lower()}",
        "log.wandb=disabled",
        "eval.every=0",
        *tokenizer_ids(),
    ]


# --- install ---------------------------------------------------------------------------------------------------

# What the GPU path imports, run in a fresh interpreter (one started before the install would not see the site).
PROBE = """
import importlib, importlib.metadata as md, importlib.util, json, shutil, torch, transformers
for module in ("got.train.launch", "got.train.loop", "got.data.pipeline", "got.model.generate",
               "transformers.models.got_ocr2"):
    importlib.import_module(module)
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
names = ("torch", "transformers", "deepspeed", "hydra-core", "webdataset", "albumentations", "pydantic", "triton")
print(json.dumps({"versions": {n: version(n) for n in names}, "transformers_from": transformers.__file__,
                  "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                  "torch_varlen_attn": importlib.util.find_spec("torch.nn.attention.varlen") is not None,
                  "dev_shm_free_gib": round(shutil.disk_usage("/dev/shm").free / 2**30, 1)}))
"""


def install(ctx: Context, record: Recorder) -> None:
    groups = {"wheels": ctx.site, "liger": ctx.liger_site}
    wheels = {group: sorted((Path(ctx.carry) / group).glob("*.whl")) for group in groups}
    if not wheels["wheels"]:
        raise CheckError(
            f"no wheels in {Path(ctx.carry) / 'wheels'}: run `bash bench/gpu_wheels.sh` on a machine "
            "with the registries first, and carry its folder"
        )
    record("wheels", [w.name for group in wheels.values() for w in group])
    record("wheels_mib", round(sum(w.stat().st_size for group in wheels.values() for w in group) / 2**20, 1))
    for group, target in groups.items():
        shutil.rmtree(target, ignore_errors=True)
        if wheels[group]:  # --python-version: the wheels are CPython 3.12's wherever this runs
            run_logged(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-index",
                    "--no-deps",
                    "--no-compile",
                    "--no-cache-dir",
                    "--only-binary=:all:",
                    "--python-version",
                    WHEEL_PYTHON,
                    "--target",
                    str(target),
                    *map(str, wheels[group]),
                ],
                ctx,
                name="pip install",
            )
    record("installed", sorted(p.name for p in ctx.site.iterdir() if not p.name.endswith(".dist-info")))
    record("site_on_path", site_fits())
    if not site_fits():
        record(
            "note",
            f"installed for CPython {WHEEL_PYTHON}; this is {sys.version.split()[0]}, so the parts use "
            "the packages installed here instead",
        )
    probe = run_logged([sys.executable, "-c", PROBE], ctx, name="the import probe")
    record("environment", json.loads(probe.strip().splitlines()[-1]))


# --- correctness -----------------------------------------------------------------------------------------------


def correctness(ctx: Context, record: Recorder) -> None:
    import torch

    require_device(ctx)
    # fp32 means fp32 here: cuDNN's convolutions (the encoder's patch embedding, neck and projector) default to TF32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    checks = {
        "packed_vs_separate": packed_vs_separate,
        "sdpa_varlen_vs_sdpa": varlen_vs_sdpa,
        "chunked_vs_full_ce": chunked_vs_full_ce,
        "generate_vs_transformers": generate_vs_transformers,
    }
    failed = []
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        for check, fn in checks.items():
            start = time.time()
            try:
                errors = fn(ctx, dtype)
            except Exception as e:  # noqa: BLE001  (one check's failure is reported; the others still run)
                traceback.print_exc()
                record(f"{name}/{check}", {"ok": False, "error": f"{type(e).__name__}: {tail(str(e), 600)}"})
                failed.append(f"{name}/{check}")
                continue
            informational = errors.get("informational", False)
            within = all(v <= TOLERANCE[name] for k, v in errors.items() if k.endswith("rel_err"))
            ok = informational or (within and errors.get("same_tokens", True))
            record(f"{name}/{check}", {"ok": ok, "seconds": round(time.time() - start, 1), **errors})
            if not ok:
                failed.append(f"{name}/{check}")
    record("tolerance", TOLERANCE)
    if failed:
        raise CheckError(f"{len(failed)} check(s) beyond tolerance or failing: {', '.join(failed)}")


def cast_parameters(model, ctx: Context, dtype):
    """On the device, parameters in dtype, as DeepSpeed's bf16 engine casts a model: buffers (the rotary inv_freq)
    keep fp32."""
    model.to(ctx.device)
    for p in model.parameters():
        p.data = p.data.to(dtype)
    return model


def tiny_model(ctx: Context, dtype, **compute):
    """tiny_qwen on the device in dtype; `compute`: ComputeConfig fields."""
    import torch

    from got.config import load_model_config
    from got.model.got import ComputeConfig, GOTModel

    torch.manual_seed(0)
    return cast_parameters(GOTModel(load_model_config("tiny_qwen"), ComputeConfig(**compute)), ctx, dtype)


def rel_err(a, b) -> float:
    a, b = a.detach().double().flatten(), b.detach().double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_samples(model, seed: int, n: int = 4):
    """GOT-like samples (bench/train_step.py's mix), answers scaled down to keep the rows short."""
    sys.path.insert(0, str(BENCH))
    from train_step import samples

    return samples(n, 0.05, model.cfg, seed=seed)


def on_device(batch: dict, ctx: Context) -> dict:
    return {k: v.to(ctx.device) for k, v in batch.items()}


def packed_vs_separate(ctx: Context, dtype) -> dict:
    """A packed row gives each sample the logits and (token-weighted) loss it gets alone."""
    import torch

    from got.data.packing import collate_packed

    model = tiny_model(ctx, dtype).eval()
    data, pad = check_samples(model, seed=1), model.cfg.pad_token_id
    packed = on_device(collate_packed([data], pad), ctx)
    alone = [on_device(collate_packed([[s]], pad), ctx) for s in data]
    with torch.no_grad():
        logits = model(**{k: v for k, v in packed.items() if k != "labels"})[0]
        logits_alone = torch.cat([model(**{k: v for k, v in b.items() if k != "labels"})[0] for b in alone])
        counts = [int((b["labels"][:, 1:] != -100).sum()) for b in alone]
        loss_alone = sum(model(**b) * n for b, n in zip(alone, counts)) / sum(counts)
        loss = model(**packed)
    return {
        "logits_rel_err": rel_err(logits, logits_alone),
        "loss_rel_err": rel_err(loss, loss_alone),
        "loss": float(loss),
    }


def varlen_vs_sdpa(ctx: Context, dtype) -> dict:
    """Two packed rows (the second padded) through sdpa_varlen and transformers' sdpa: loss and every gradient."""
    import torch

    from got.data.packing import collate_packed

    found = {}
    for impl in ("sdpa", "sdpa_varlen"):
        model = tiny_model(ctx, dtype, attn_implementation=impl).train()
        data = check_samples(model, seed=2, n=6)
        batch = on_device(collate_packed([data[:4], data[4:]], model.cfg.pad_token_id), ctx)
        loss = model(**batch)
        loss.backward()
        found[impl] = (loss, torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    (loss, grads), (loss_ref, grads_ref) = found["sdpa_varlen"], found["sdpa"]
    return {"loss_rel_err": rel_err(loss, loss_ref), "grad_rel_err": rel_err(grads, grads_ref)}


def chunked_vs_full_ce(ctx: Context, dtype) -> dict:
    """got.model.loss.linear_cross_entropy (chunked; Liger's kernel where it is importable on CUDA) against the
    full fp32 logits, at the released head (hidden 1024, vocabulary 151,860): loss and both gradients."""
    import torch

    from got.model.loss import linear_cross_entropy, reference_cross_entropy

    g = torch.Generator().manual_seed(0)
    tokens = 256 if ctx.quick else 2048
    hidden = (torch.randn(tokens, 1024, generator=g) * 0.5).to(ctx.device, dtype).requires_grad_()
    weight = (torch.randn(151860, 1024, generator=g) * 0.02).to(ctx.device, dtype).requires_grad_()
    labels = torch.randint(0, 151860, (tokens,), generator=g)
    labels[::7] = -100
    labels = labels.to(ctx.device)
    found = {}
    for name, fn in (("ours", linear_cross_entropy), ("full", reference_cross_entropy)):
        loss = fn(hidden, weight, labels)
        loss.backward()
        found[name] = (loss.detach(), hidden.grad, weight.grad)
        hidden.grad = weight.grad = None
    (loss, gh, gw), (loss_ref, gh_ref, gw_ref) = found["ours"], found["full"]
    path = "liger" if ctx.cuda and importlib.util.find_spec("liger_kernel") else "chunked"
    return {
        "path": path,
        "loss_rel_err": rel_err(loss, loss_ref),
        "grad_hidden_rel_err": rel_err(gh, gh_ref),
        "grad_weight_rel_err": rel_err(gw, gw_ref),
    }


def generate_vs_transformers(ctx: Context, dtype) -> dict:
    """Greedy tokens of got.model.generate against transformers' GotOcr2 generate on our hf export
    (bench/generate.py's models and calls). bf16 is informational: two summation orders in bf16 part ways at the
    first near-tie of a random model's logits."""
    import torch

    sys.path.insert(0, str(BENCH))
    from generate import build, inputs, ours, theirs

    from got.tokenizer import GOTTokenizer

    tokenizer = GOTTokenizer.default()
    with tempfile.TemporaryDirectory() as tmp:
        model, hf = build("tiny", tokenizer, Path(tmp), None)
    model, hf = cast_parameters(model, ctx, dtype), cast_parameters(hf, ctx, dtype)
    prompts, images = inputs(model, tokenizer, 4)
    new = 16 if ctx.quick else 48
    a, b = ours(model, prompts, images, new, 0), theirs(hf, tokenizer, prompts, images, new, 0)
    agree = [next((i for i, (x, y) in enumerate(zip(p, q)) if x != y), min(len(p), len(q))) for p, q in zip(a, b)]
    return {
        "same_tokens": a == b,
        "agreeing_prefix": agree,
        "new_tokens": new,
        "informational": dtype == torch.bfloat16,
    }


# --- stage 2 ---------------------------------------------------------------------------------------------------


def stage2(ctx: Context, record: Recorder) -> None:
    import torch

    require_device(ctx)
    out = Path(ctx.scratch) / "stage2"
    shutil.rmtree(out, ignore_errors=True)
    if ctx.cuda:
        name = torch.cuda.get_device_name()
        peak = ctx.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), 0.0)
        workers = 6 if shutil.disk_usage("/dev/shm").free > 4 * 2**30 else 2  # each in-flight batch sits in /dev/shm
        overrides = [
            f"+experiment={PAPER}",
            "init.encoder_from=null",
            f"data.sets=[{{urls: [{ctx.shards}]}}]",
            "data.max_tokens=8192",
            f"data.num_workers={workers}",
            "data.pin_memory=true",
            "train.max_steps=40",
            "train.grad_accum=1",
            "train.save_every=40",
            "train.keep_last=1",
            "train.device=cuda",
            "log.wandb=disabled",
            f"log.peak_tflops={peak}",
            "eval.every=0",
            *tokenizer_ids(),
        ]
        record(
            "setup",
            {
                "device": name,
                "peak_tflops": peak,
                "num_workers": workers,
                "steps": 40,
                "model": "qwen05b (released shapes, random init)",
                "rows": "8,192 tokens, 1 per micro-batch, grad_accum 1",
            },
        )
    else:
        overrides = tiny_run(ctx, steps=4, save_every=4)
        record("setup", {"device": "cpu", "model": "tiny_qwen (the --quick stand-in)", "steps": 4})
    smi, smi_path = None, Path(ctx.scratch) / "nvidia_smi.csv"
    if ctx.cuda and shutil.which("nvidia-smi"):  # the device's memory in use, sampled: a peak the run does not log
        with open(smi_path, "w") as smi_log:
            smi = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "250"],
                stdout=smi_log,
                stderr=subprocess.DEVNULL,
            )
    try:
        run_logged(train_command(out, overrides), ctx)
    finally:
        if smi is not None:
            smi.terminate()
            smi.wait()
            used = [int(x) for x in smi_path.read_text().split() if x.isdigit()]
            record("nvidia_smi_peak_used_mib", max(used, default=None))
        if (out / "metrics.jsonl").is_file():
            shutil.copy(out / "metrics.jsonl", Path(ctx.logs) / "stage2_metrics.jsonl")
    steps = read_metrics(out)
    warm = 5 if ctx.cuda else 1  # kernel selection and the allocator's growth stay out of the medians
    steady = [steps[s] for s in sorted(steps)[warm:]] or list(steps.values())

    def median(key: str) -> float | None:
        return statistics.median(r[key] for r in steady) if steady and all(key in r for r in steady) else None

    record("steps", len(steps))
    record("tokens_per_s", median("tok/s"))
    record("samples_per_s", median("samples/s"))
    record("mfu", median("mfu"))
    record("packing_efficiency", median("eff"))
    logged = [r["max_mem_gib"] for r in steps.values() if "max_mem_gib" in r]
    record("max_memory_allocated_gib", max(logged, default=None))
    record("loss_first_last", [steps[min(steps)]["loss"], steps[max(steps)]["loss"]] if steps else None)
    if ctx.cuda:
        ext = Path(ctx.scratch) / "torch_extensions"
        record("jit_built_ops", sorted(p.name for p in ext.iterdir()) if ext.is_dir() else [])


# --- resume ----------------------------------------------------------------------------------------------------


def resume(ctx: Context, record: Recorder) -> None:
    require_device(ctx)
    steps = 6
    overrides = tiny_run(ctx, steps=steps, save_every=2)
    full, killed = Path(ctx.scratch) / "resume_full", Path(ctx.scratch) / "resume_killed"
    for d in (full, killed):
        shutil.rmtree(d, ignore_errors=True)
    run_logged(train_command(full, overrides), ctx)
    # Our own rendezvous, so that the killed run's DeepSpeed shared-memory buffer (CPU) can be found and removed.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    rendezvous = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    proc = subprocess.Popen(
        train_command(killed, overrides),
        env={**ctx.env(), **rendezvous},
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while proc.poll() is None and time.time() < ctx.deadline - 30 and not (killed / "checkpoints/latest").is_file():
        time.sleep(0.05)  # killed as soon as its first checkpoint is complete
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    os.environ.update(rendezvous)
    from got.train.loop import release_shm_buffer

    release_shm_buffer()
    killed_at = max(read_metrics(killed), default=0)
    record("killed_after_step", killed_at)
    if not 2 <= killed_at < steps:
        raise CheckError(
            f"the run to kill had logged {killed_at} steps when it was killed: it must have saved its "
            f"step-2 checkpoint and not finished its {steps} steps"
        )
    output = run_logged(train_command(killed, overrides), ctx)
    found = re.search(r"resumed from \S+ at step (\d+)", output)
    record("resumed_at_step", int(found.group(1)) if found else None)
    a, b = read_metrics(full), read_metrics(killed)
    if not found or not sorted(a) == sorted(b) == list(range(1, steps + 1)):
        raise CheckError(f"the rerun did not resume and finish: steps {sorted(b)} against {sorted(a)}")
    same_data = all(a[s]["eff"] == b[s]["eff"] and a[s]["lr"] == b[s]["lr"] for s in a)  # the stream and schedule
    loss_err = max(abs(a[s]["loss"] - b[s]["loss"]) / abs(a[s]["loss"]) for s in a)
    record("same_data_and_lr", same_data)
    record("loss_max_rel_diff", loss_err)
    record("identical_losses", loss_err == 0)
    if not same_data or loss_err > RESUME_TOLERANCE[ctx.device]:
        raise CheckError(f"the resumed run differs: same data and lr {same_data}, losses up to {loss_err:.2e} apart")


# --- benches ---------------------------------------------------------------------------------------------------


def bench_runs(ctx: Context) -> dict[str, tuple[list[str], bool, float]]:
    """name: (arguments of a bench script, whether Liger is on the path, its share of the part's time)."""
    device = ["--device", ctx.device]
    if ctx.quick:
        return {
            "train_step": (["train_step.py", "--quick", *device, "--variants", "hf", "ours"], False, 0.4),
            "loss": (["loss.py", "--quick", *device], False, 0.3),
            "generate": (["generate.py", "--quick", *device, "--models", "tiny", "--batches", "1"], False, 0.3),
        }
    return {
        "train_step": (
            [
                "train_step.py",
                *device,
                "--dtype",
                "bfloat16",
                "--model",
                "qwen05b",
                "--samples",
                "16",
                "--length-scale",
                "1",
                "--max-tokens",
                "8192",
                "--warmup",
                "--iters",
                "1",
                "--variants",
                "hf",
                "ours",
            ],
            False,
            0.5,
        ),
        "loss": (["loss.py", *device, "--dtype", "bfloat16", "--tokens", "8192"], False, 0.1),
        "loss_liger": (["loss.py", *device, "--dtype", "bfloat16", "--tokens", "8192"], True, 0.1),
        "generate": (
            ["generate.py", *device, "--models", "qwen05b-shaped", "--batches", "1", "8", "32", "--reps", "1"],
            False,
            0.3,
        ),
    }


def bench_summary(name: str, report: dict) -> dict:
    if name == "train_step":
        keys = ("speedup_real_tokens", "tensor_memory_ratio", "memory_ratio", "step0_loss_rel_diff")
    elif name.startswith("loss"):
        keys = ("time_ratio", "tensor_memory_ratio", "loss_rel_diff", "grad_norm_rel_diff")
    else:
        keys = ("speedup", "same_tokens", "ours_tok_s")
        return {f"{r['model']}/batch{r['batch']}": {k: r[k] for k in keys} for r in report["results"]}
    return {k: report.get(k) for k in keys}


def benches(ctx: Context, record: Recorder) -> None:
    require_device(ctx)
    failed, runs = [], bench_runs(ctx)
    shares_left = sum(share for _, _, share in runs.values())
    for name, (args, liger, share) in runs.items():
        limit = (ctx.deadline - time.time()) * share / shares_left  # what the ones before left unused is shared out
        shares_left -= share
        if liger and not any(ctx.liger_site.glob("liger_kernel*")):
            record(name, {"ok": False, "error": f"liger-kernel is not installed in {ctx.liger_site}"})
            failed.append(name)
            continue
        report_path = Path(ctx.scratch) / f"{name}.json"
        cmd = [sys.executable, str(BENCH / args[0]), *args[1:], "--out", str(report_path)]
        try:
            run_logged(cmd, ctx, env=ctx.env(liger=liger), limit=limit)
            record(name, {"ok": True, **bench_summary(name, json.loads(report_path.read_text()))})
        except (CheckError, OSError, KeyError, ValueError) as e:
            record(name, {"ok": False, "error": tail(str(e), 800)})
            failed.append(name)
    if failed:
        raise CheckError(f"bench(es) failed: {', '.join(failed)}")


PARTS = {"install": install, "correctness": correctness, "stage2": stage2, "resume": resume, "benches": benches}


# --- the driver ------------------------------------------------------------------------------------------------


def run_part(name: str, ctx: Context, limit: float, log) -> dict:
    """One part in its own process, killed with everything it started at its time box; its status, seconds,
    findings and error tail."""
    ctx.deadline = time.time() + limit
    ctx.result = str(Path(ctx.scratch) / f"part_{name}.json")
    Path(ctx.result).unlink(missing_ok=True)
    context = Path(ctx.scratch) / f"context_{name}.json"
    context.write_text(json.dumps(asdict(ctx)))
    start = time.time()
    code, output = run_tree([sys.executable, __file__, "--run-part", name, str(context)], limit, ctx.env())
    status = "timeout" if code is None else "failed" if code else "ok"
    seconds = time.time() - start
    log.write(f"\n===== {name}: {status} after {seconds:.0f} s =====\n{output}\n")
    log.flush()
    results = json.loads(Path(ctx.result).read_text()) if Path(ctx.result).is_file() else {}
    report = {"status": status, "seconds": round(seconds, 1), "limit_s": round(limit), "results": results}
    if status != "ok":
        lines = [line for line in output.splitlines() if line.strip()]
        report["error"] = f"killed at its {limit:.0f} s time box" if status == "timeout" else ""
        report["error_tail"] = "\n".join(lines[-15:])[-3000:]
    return report


def child(name: str, context_path: str) -> None:
    ctx = Context(**json.loads(Path(context_path).read_text()))
    try:
        PARTS[name](ctx, Recorder(ctx.result))
    except CheckError as e:
        print(f"error: {e}", flush=True)
        sys.exit(1)


def flat(value, prefix: str = "") -> list[str]:
    """Nested findings as `key/subkey: value` lines for the markdown."""
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in flat(v, f"{prefix}{k}/")]
    return [f"{prefix[:-1]}: {f'{value:.4g}' if isinstance(value, float) else value}"]


def targets(report: dict) -> list[dict]:
    """Each target with its measured value and whether it is met (None where not measured, or not at the real
    setting: a --quick or CPU run)."""
    rows = []
    for part, key, op, goal, what in TARGETS:
        value = report["parts"].get(part, {}).get("results", {})
        for k in key.split("/"):
            value = value.get(k) if isinstance(value, dict) else None
        real = report["meta"]["device"] == "cuda" and not report["meta"]["quick"]
        met = (value >= goal if op == ">=" else value <= goal) if real and isinstance(value, (int, float)) else None
        rows.append({"target": what, "value": value, "goal": f"{op} {goal}", "met": met})
    return rows


def markdown(report: dict) -> str:
    meta = report["meta"]
    lines = [
        f"# GPU check: device {meta['device']}{' (--quick)' if meta['quick'] else ''}",
        "",
        f"{meta['started']}, {meta['host']}, Python {meta['python']}; {meta['seconds']:.0f} s in all "
        f"(budget {meta['budget_s']} s).",
        "",
        "| part | status | seconds | time box |",
        "|---|---|---|---|",
    ]
    for name, part in report["parts"].items():
        lines.append(f"| {name} | {part['status']} | {part['seconds']:.0f} | {part['limit_s']} |")
    lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        value = f"{t['value']:.3g}" if isinstance(t["value"], float) else t["value"]
        lines.append(f"| {t['target']} | {value} | {t['goal']} | {t['met']} |")
    for name, part in report["parts"].items():
        lines += ["", f"## {name}: {part['status']}", ""]
        lines += [f"- {line}" for line in flat(part["results"])]
        if part["status"] != "ok":
            lines += ["", f"{part.get('error') or 'error'}:", "", "```", part["error_tail"], "```"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny shapes and few steps (the CPU dry run)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, in order, of: {','.join(PARTS)}")
    p.add_argument(
        "--budget", type=float, default=None, help="seconds for the whole check (default: 465 on cuda, 3600 on cpu)"
    )
    p.add_argument("--carry", default=str(ROOT / ".gpu_carry"), help="what bench/gpu_wheels.sh wrote")
    p.add_argument(
        "--installed",
        default=str(Path(tempfile.gettempdir()) / "gpu_check_site"),
        help="where the install part puts the wheels; a rerun without it uses what is there",
    )
    p.add_argument(
        "--out",
        default=os.environ.get("OUT") or str(ROOT / "bench/results/gpu"),
        help="the JSON and markdown (default: $OUT, else bench/results/gpu)",
    )
    p.add_argument("--peak-tflops", type=float, default=0.0, help="per device, for MFU (default: by the device's name)")
    p.add_argument("--run-part", nargs=2, metavar=("PART", "CONTEXT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.run_part:
        return args
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if unknown := [x for x in args.parts if x not in PARTS]:
        p.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if not args.parts or len(set(args.parts)) != len(args.parts):
        p.error("--parts needs at least one part, each at most once")
    args.budget = args.budget if args.budget is not None else (465.0 if args.device == "cuda" else 3600.0)
    if args.budget <= 0 or args.peak_tflops < 0:
        p.error("--budget must be positive and --peak-tflops at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_part:
        child(*args.run_part)
        return 0
    start = time.time()
    out = Path(args.out)
    logs = out if os.environ.get("OUT") else ROOT / "bench/results/tmp"  # here: the logs stay out of git
    out.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    tag = f"gpu_check_{args.device}{'_quick' if args.quick else ''}"
    scratch = tempfile.mkdtemp(prefix="gpu_check_")
    ctx = Context(
        device=args.device,
        quick=args.quick,
        carry=str(Path(args.carry).resolve()),
        installed=str(Path(args.installed).resolve()),
        scratch=scratch,
        logs=str(logs),
        peak_tflops=args.peak_tflops,
    )
    report = {
        "meta": {
            "device": args.device,
            "quick": args.quick,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "host": socket.gethostname(),
            "python": sys.version.split()[0],
            "budget_s": args.budget,
            "parts": args.parts,
            "seconds": 0.0,
        },
        "parts": {},
    }
    try:
        with open(logs / f"{tag}.log", "w") as log:
            for name in args.parts:
                left = start + args.budget - time.time()
                limit = min(LIMITS[name][0 if args.device == "cuda" else 1], left)
                if limit < 5:
                    report["parts"][name] = {
                        "status": "skipped",
                        "seconds": 0.0,
                        "limit_s": 0,
                        "results": {},
                        "error": "no time left in the budget",
                        "error_tail": "",
                    }
                else:
                    print(f"[{time.time() - start:5.0f} s] {name} (time box {limit:.0f} s)", flush=True)
                    report["parts"][name] = run_part(name, ctx, limit, log)
                report["meta"]["seconds"] = time.time() - start
                report["targets"] = targets(report)
                (out / f"{tag}.json").write_text(json.dumps(report, indent=1, default=str))  # after every part
                (out / f"{tag}.md").write_text(markdown(report))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(markdown(report), flush=True)
    return 0 if all(p["status"] == "ok" for p in report["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
