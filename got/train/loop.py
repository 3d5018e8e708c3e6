"""The training loop on plain `deepspeed.initialize`: the same code under `deepspeed --num_gpus N`, under
`deepspeed` with CPU processes (gloo), and as a single `python train/train.py` process.

`train` reads on one screen: `setup` (model, engine, loader), `resume`, then per step `train_step`, `step_metrics`
and `cadence` (log, save, evaluate), then the final export.

One optimizer step = grad_accum micro-batches of packed rows on every rank. A micro-batch whose loss is NaN/inf
on any rank is skipped on all of them (and counted); max_nonfinite of them in a row stop the run.
"""

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import deepspeed
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf

from got.data.pipeline import Loader
from got.data.shards import expand_urls
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer
from got.train import checkpoint, grpo
from got.train.config import TrainConfig, deepspeed_config
from got.train.flops import train_flops
from got.train.logging import RunLogger
from got.train.optim import build_optimizer
from got.train.periodic_eval import PeriodicEval
from got.train.stages import build_model, check_init, check_tokenizer_early

log = logging.getLogger("got.train")
MODEL_INPUTS = ("input_ids", "images", "labels", "position_ids", "attention_mask")


class NonFiniteLossError(RuntimeError):
    pass


def setup_distributed(device: str) -> torch.device:
    """Join (or, for a plain `python` run, create) the process group; one device per local rank."""
    if "RANK" not in os.environ:  # not launched by deepspeed/torchrun: a world of one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    deepspeed.init_distributed(dist_backend="nccl" if device == "cuda" else "gloo")
    if device == "cpu":
        torch.set_num_threads(cpu_threads())
    if device == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def cpu_threads() -> int:
    """Each CPU rank's share of the cores, unless OMP_NUM_THREADS says otherwise. The deepspeed launcher leaves
    it unset (torchrun sets 1), and every rank then runs as many threads as there are cores: 2 ranks on 2 cores
    took 0.28 s a step of the demo's stage 1 against 0.23 s with 1 thread each (docs/learning.md, lesson 12)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("LOCAL_SIZE") or 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # not macOS
    return max(1, cores // local_ranks)


def release_shm_buffer() -> None:
    """DeepSpeed's CPU allreduce keeps a ~70 MB buffer per rank in /dev/shm, named after the master address and
    port, and never removes it: every run on a new port (a plain `python` run, a test) would leak one. Each rank
    unlinks its own at the end; the other ranks' mappings outlive the name."""
    addr, port, local = (os.environ.get(k, "") for k in ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"))
    for buffer in Path("/dev/shm").glob(f"deepspeed_allreduce_buffer_*_{addr}_{port}_{local}"):
        buffer.unlink(missing_ok=True)


class NonFiniteGuard:
    """Agrees across ranks whether a micro-batch's loss is usable; counts the ones that are not, and stops the
    run after `limit` in a row (a run that has diverged, rather than one bad batch)."""

    def __init__(self, limit: int, total: int = 0):
        self.limit, self.total, self.in_a_row = limit, total, 0

    def ok(self, loss: torch.Tensor, step: int) -> bool:
        # On the loss's device: NCCL reduces only CUDA tensors (gloo takes CPU ones).
        flag = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        if flag.item():
            self.in_a_row = 0
            return True
        self.in_a_row += 1
        self.total += 1
        if self.in_a_row >= self.limit:
            raise NonFiniteLossError(
                f"{self.in_a_row} micro-batches in a row had a NaN/inf loss (step {step}); "
                "stopping. Lower the learning rate or check the data."
            )
        return False


@dataclass
class Run:
    """What a training run holds from one step to the next."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    engine: object  # deepspeed.DeepSpeedEngine
    schedule: object
    tokenizer: GOTTokenizer
    loader: Loader | grpo.PromptStream  # packed training rows (stages 1-3), or samples to roll out (stage 4)
    config_yaml: str
    guard: NonFiniteGuard
    reference: GOTModel | None = None  # stage 4: the frozen starting model of the KL penalty
    logger: RunLogger | None = None
    periodic_eval: PeriodicEval | None = None
    step: int = 0

    @property
    def model(self) -> GOTModel:
        return self.engine.module

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"


def preflight(cfg: TrainConfig) -> None:
    """What can be checked before anything expensive (the model, the process group), each with its fix."""
    check_init(cfg.stage, cfg.init)
    if cfg.stage == 4 and cfg.train.grad_accum != 1:
        raise ValueError("stage 4 updates once per batch of rollouts: set rl.prompts_per_step, not train.grad_accum")
    if not cfg.data.sets:
        raise ValueError("data.sets is empty: give at least one shard set (urls and weight)")
    if cfg.compute.attn_implementation == "flash_attention_2" and cfg.data.packing and cfg.data.batch_rows > 1:
        raise ValueError(
            "flash_attention_2 keeps packed samples apart only in batches of one row: set "
            "data.batch_rows=1, or use compute.attn_implementation=sdpa_varlen"
        )
    for urls in [s.urls for s in cfg.data.sets] + ([cfg.eval.data] if cfg.eval.every else []):
        expand_urls(urls)  # a pattern that matches nothing raises, naming it
    check_tokenizer_early(cfg.model, cfg.init)


def setup(node: DictConfig) -> Run:
    """The model, its DeepSpeed engine and the data loader, before any resume; rank 0 writes OUT/config.yaml."""
    cfg: TrainConfig = OmegaConf.to_object(node)
    preflight(cfg)
    device = setup_distributed(cfg.train.device)
    rank, world = dist.get_rank(), dist.get_world_size()
    out = Path(cfg.train.out_dir)
    torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
    model, tokenizer = build_model(cfg.model, cfg.compute, cfg.init, cfg.freeze, cfg.lora)
    cfg.model = model.cfg  # resolved (e.g. a decoder loaded from a path)
    node.model = OmegaConf.structured(model.cfg)
    config_yaml = OmegaConf.to_yaml(node, resolve=True)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(config_yaml)
    model.to(device)
    reference = grpo.reference_model(model, cfg.rl.beta) if cfg.stage == 4 else None
    optimizer, schedule = build_optimizer(model, cfg.optim, cfg.train.max_steps)
    engine, _, _, schedule = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=schedule, config=deepspeed_config(cfg)
    )
    engine.checkpoint_engine = checkpoint.SafeCheckpointEngine(engine._config, cfg.train.trust_checkpoint_pickle)
    torch.manual_seed(cfg.train.seed * 1000 + rank)  # per-rank randomness (dropout) from here on
    if cfg.stage == 4:
        loader = grpo.PromptStream(cfg.data, rank, world)
    else:
        loader = Loader(cfg.data, tokenizer, model.cfg.views, rank=rank, world_size=world)  # the model's views
    guard = NonFiniteGuard(cfg.train.max_nonfinite)
    return Run(cfg, out, device, engine, schedule, tokenizer, loader, config_yaml, guard, reference)


def resume(run: Run, node: DictConfig) -> None:
    """Continue from the latest complete checkpoint (resume=auto), then open the logs and the periodic eval."""
    cfg = run.cfg
    if cfg.eval.every:
        run.periodic_eval = PeriodicEval(cfg.eval, run.tokenizer, run.out)
    tag = checkpoint.latest_tag(run.checkpoints) if cfg.train.resume == "auto" else None
    if tag is not None:
        state = checkpoint.load(run.engine, run.checkpoints, tag)
        run.loader.load_state_dict(state["data"])
        run.step, run.guard.total = state["step"], state["skipped_nonfinite"]
        if run.periodic_eval is not None:
            run.periodic_eval.best = state.get("best_eval")
        if dist.get_rank() == 0:
            log.info("resumed from %s at step %d", run.checkpoints / tag, run.step)
    if dist.get_rank() == 0:
        run.logger = RunLogger(
            cfg.log, run.out, cfg.train.max_steps, run.step, OmegaConf.to_container(node, resolve=True)
        )


def train_step(run: Run, batches: Iterator[dict]) -> dict[str, torch.Tensor | float]:
    """One optimizer step: grad_accum usable micro-batches on every rank (a NaN/inf one is skipped on all)."""
    cfg, device = run.cfg, run.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no host sync
    views = labelled = context = 0
    micro = 0
    while micro < cfg.train.grad_accum:
        batch = next(batches)
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in MODEL_INPUTS}
        loss = run.engine(**inputs)
        if not run.guard.ok(loss, run.step + 1):
            continue
        run.engine.backward(loss)
        # After every micro-batch, as DeepSpeed expects: it counts them and updates the weights (and the LR
        # schedule) only at the accumulation boundary, every grad_accum-th call.
        run.engine.step()
        micro += 1
        loss_sum += loss.detach().double()
        views += len(batch["images"])
        labelled += int((batch["labels"] != -100).sum())
        if "position_ids" in batch:
            context += float(batch["position_ids"].double().sum())
    return {"loss": loss_sum, "views": views, "labelled": labelled, "context": context}


def step_metrics(run: Run, sums: dict, before: dict, start: float) -> dict[str, float]:
    """The step's metrics, summed over ranks in one reduction (the step's one host sync besides the NaN guard).
    The step's time is read after that sync: on a GPU its last kernels (the optimizer's) have run only then."""
    cfg, world = run.cfg, dist.get_world_size()
    after = run.loader.stats()
    data = [after.get(k, 0) - before.get(k, 0) for k in ("samples", "tokens", "capacity")]
    local = [sums["views"], sums["labelled"], sums["context"], *data]
    totals = torch.cat([sums["loss"].reshape(1), torch.tensor(local, dtype=torch.float64, device=run.device)])
    dist.all_reduce(totals)  # on the device: NCCL reduces only device tensors
    loss, views, labelled, context, samples, tokens, capacity = totals.tolist()
    elapsed = time.perf_counter() - start
    metrics = {
        "loss": loss / (cfg.train.grad_accum * world),
        "lr": max(run.schedule.get_last_lr()),  # the largest group LR (a delayed module sits at 0)
        "grad_norm": float(run.engine.get_global_grad_norm() or 0.0),
        "tok/s": tokens / elapsed,
        "samples/s": samples / elapsed,
        "s/step": elapsed,  # as stage 4 logs it: what a step costs, for budgeting a run's steps
        "eff": tokens / capacity if capacity else 0.0,
        "skipped_nonfinite": run.guard.total,
        **{f"skipped/{k}": v for k, v in after["skipped"].items()},
    }
    if run.device.type == "cuda":  # this rank's peak of live tensors so far (the caching allocator's count)
        metrics["max_mem_gib"] = torch.cuda.max_memory_allocated(run.device) / 2**30
    if cfg.log.peak_tflops:
        model = run.model
        trains = [any(p.requires_grad for p in m.parameters()) for m in (model.vision, model.decoder)]
        flops = train_flops(model.cfg, int(tokens), int(views), context / max(tokens, 1), int(labelled), *trains)
        metrics["mfu"] = flops / elapsed / (cfg.log.peak_tflops * 1e12 * world)
    return metrics


def rl_step(run: Run) -> dict[str, float]:
    """Stage 4: one GRPO step (got/train/grpo.py) and its metrics."""
    start = time.perf_counter()
    metrics = grpo.rl_step(
        run.engine, run.reference, run.tokenizer, run.loader, run.cfg.rl, run.cfg.train.seed, run.step, run.device
    )
    run.step += 1
    return {
        **metrics,
        "lr": max(run.schedule.get_last_lr()),
        "grad_norm": float(run.engine.get_global_grad_norm() or 0.0),
        "s/step": time.perf_counter() - start,
    }


def cadence(run: Run, metrics: dict) -> None:
    """What happens after a step: log it, evaluate every eval.every steps, save a checkpoint every save_every
    steps (and at the end)."""
    cfg, step = run.cfg, run.step
    if run.logger:
        run.logger.step(step, metrics)
    # Evaluate before saving: the checkpoint of a step then holds that step's best-eval state.
    if run.periodic_eval is not None and step % cfg.eval.every == 0:
        scores = run.periodic_eval(run.engine, step)
        if run.logger:
            run.logger.write(step, scores)
    if step % cfg.train.save_every == 0 or step == cfg.train.max_steps:
        best = run.periodic_eval.best if run.periodic_eval is not None else None
        rank_state = {
            "step": step,
            "skipped_nonfinite": run.guard.total,
            "data": run.loader.state_dict(),
            "rng": checkpoint.rng_state(),
            "best_eval": best,
        }
        checkpoint.save(
            run.engine, run.checkpoints, step, rank_state, run.tokenizer, run.config_yaml, cfg.train.keep_last
        )


def train(node: DictConfig) -> None:
    """Train the composed config: setup, resume, then steps until max_steps, then the final export."""
    run = setup(node)
    try:
        resume(run, node)
        batches = iter(run.loader) if run.cfg.stage != 4 else None
        while run.step < run.cfg.train.max_steps:
            if batches is None:
                cadence(run, rl_step(run))
                continue
            start, before = time.perf_counter(), run.loader.stats()
            sums = train_step(run, batches)
            run.step += 1
            cadence(run, step_metrics(run, sums, before, start))
        checkpoint.export_model(run.engine, run.tokenizer, run.out / "final")
    finally:
        if run.logger:
            run.logger.close()
        if run.device.type == "cpu":
            release_shm_buffer()
    if dist.get_rank() == 0:
        log.info("done: %d steps; final model in %s", run.step, run.out / "final")
