"""The training loop on plain `deepspeed.initialize`: the same code under `deepspeed --num_gpus N`, under
`deepspeed` with CPU processes (gloo), and as a single `python train/stageN.py` process.

One optimizer step = grad_accum micro-batches of packed rows on every rank. A micro-batch whose loss is NaN/inf
on any rank is skipped on all of them (and counted); max_nonfinite of them in a row stop the run.
"""

import logging
import os
import socket
import time
from pathlib import Path

import deepspeed
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf

from got.config import TrainConfig, deepspeed_config
from got.data.pipeline import Loader
from got.train import checkpoint
from got.train.evaluate import Evaluator
from got.train.flops import train_flops
from got.train.logging import RunLogger
from got.train.optim import build_optimizer
from got.train.stages import build_model, check_init

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
    if device == "cuda":
        local = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


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
            raise NonFiniteLossError(f"{self.in_a_row} micro-batches in a row had a NaN/inf loss (step {step}); "
                                     "stopping. Lower the learning rate or check the data.")
        return False


def run(node: DictConfig) -> None:
    cfg: TrainConfig = OmegaConf.to_object(node)
    check_init(cfg.stage, cfg.init)
    device = setup_distributed(cfg.train.device)
    rank, world = dist.get_rank(), dist.get_world_size()
    out = Path(cfg.train.out_dir)
    root = out / "checkpoints"

    torch.manual_seed(cfg.train.seed)  # the same initial weights on every rank
    model, tokenizer = build_model(cfg.model, cfg.init, cfg.freeze, cfg.lora)
    cfg.model = model.cfg  # resolved (e.g. a decoder loaded from a path)
    node.model = OmegaConf.structured(model.cfg)
    config_yaml = OmegaConf.to_yaml(node, resolve=True)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(config_yaml)
    model.to(device)
    optimizer, schedule = build_optimizer(model, cfg.optim, cfg.train.max_steps)
    engine, _, _, schedule = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=schedule, config=deepspeed_config(cfg)
    )
    torch.manual_seed(cfg.train.seed * 1000 + rank)  # per-rank randomness (dropout) from here on

    # The views the loader cuts are the model's: its image size and tokens per view are derived, not knobs.
    cfg.data.image_size, cfg.data.image_tokens = model.cfg.vision.image_size, model.cfg.vision.tokens_per_view
    loader = Loader(cfg.data, tokenizer, rank=rank, world_size=world)
    step, skipped_nonfinite = 0, 0
    tag = checkpoint.latest_tag(root) if cfg.train.resume == "auto" else None
    if tag is not None:
        state = checkpoint.load(engine, root, tag)
        loader.load_state_dict(state["data"])
        step, skipped_nonfinite = state["step"], state["skipped_nonfinite"]
        if rank == 0:
            log.info("resumed from %s at step %d", root / tag, step)

    logger = RunLogger(cfg.log, out, cfg.train.max_steps, step, OmegaConf.to_container(node, resolve=True)) if rank == 0 else None
    evaluator = Evaluator(cfg.eval, tokenizer, out) if cfg.eval.every else None
    batches = iter(loader)
    guard = NonFiniteGuard(cfg.train.max_nonfinite, skipped_nonfinite)
    trains_vision = any(p.requires_grad for p in model.vision.parameters())
    trains_decoder = any(p.requires_grad for p in model.decoder.parameters())
    try:
        while step < cfg.train.max_steps:
            start, before = time.perf_counter(), loader.stats()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync
            views = labelled = context = 0
            micro = 0
            while micro < cfg.train.grad_accum:
                batch = next(batches)
                inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in MODEL_INPUTS}
                loss = engine(**inputs)
                if not guard.ok(loss, step + 1):
                    continue
                engine.backward(loss)
                engine.step()
                micro += 1
                loss_sum += loss.detach().double()
                views += len(batch["images"])
                labelled += int((batch["labels"] != -100).sum())
                if "position_ids" in batch:
                    context += float(batch["position_ids"].double().sum())
            step += 1
            after = loader.stats()
            local = [views, labelled, context] + [after.get(k, 0) - before.get(k, 0) for k in ("samples", "tokens", "capacity")]
            # NCCL reduces only device tensors; this reduction is the step's one host sync besides the NaN guard
            totals = torch.cat([loss_sum.reshape(1), torch.tensor(local, dtype=torch.float64, device=device)])
            dist.all_reduce(totals)
            elapsed = time.perf_counter() - start
            loss_total, views, labelled, context, samples, tokens, capacity = totals.tolist()
            metrics = {
                "loss": loss_total / (cfg.train.grad_accum * world),
                "lr": max(schedule.get_last_lr()),  # the largest group LR (a delayed module sits at 0)
                "grad_norm": float(engine.get_global_grad_norm() or 0.0),
                "tok/s": tokens / elapsed,
                "samples/s": samples / elapsed,
                "eff": tokens / capacity if capacity else 0.0,
                "skipped_nonfinite": guard.total,
                **{f"skipped/{k}": v for k, v in after["skipped"].items()},
            }
            if cfg.log.peak_tflops:
                flops = train_flops(model.cfg, int(tokens), int(views), context / max(tokens, 1), int(labelled),
                                    trains_vision, trains_decoder)
                metrics["mfu"] = flops / elapsed / (cfg.log.peak_tflops * 1e12 * world)
            if logger:
                logger.step(step, metrics)
            if step % cfg.train.save_every == 0 or step == cfg.train.max_steps:
                rank_state = {"step": step, "skipped_nonfinite": guard.total, "data": loader.state_dict(),
                              "rng": checkpoint.rng_state()}
                checkpoint.save(engine, root, step, rank_state, tokenizer, config_yaml, cfg.train.keep_last)
            if evaluator is not None and step % cfg.eval.every == 0:
                scores = evaluator(engine, step)
                if logger:
                    logger.write(step, scores)
        checkpoint.export_model(engine, tokenizer, out / "final")
    finally:
        if logger:
            logger.close()
        if device.type == "cpu":
            release_shm_buffer()
    if rank == 0:
        log.info("done: %d steps; final model in %s", step, out / "final")
