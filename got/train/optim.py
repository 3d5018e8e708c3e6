"""Parameter groups (per-module learning rates, no decay on norms/biases/positions) and the LR schedule."""

import math
from dataclasses import dataclass, field
from functools import partial

import torch

from got.model.got import GOTModel

MODULES = ("vision", "projector", "decoder")


@dataclass
class OptimConfig:
    lr: float = 1e-4
    lr_mult: dict[str, float] = field(default_factory=lambda: {"vision": 1.0, "projector": 1.0, "decoder": 1.0})
    # Steps a module waits at LR 0 before its own warmup and cosine start. A fresh decoder's first gradients are
    # large and image-independent; an encoder/projector trained through them collapses (docs/learning.md).
    delay: dict[str, int] = field(default_factory=lambda: {"vision": 0, "projector": 0, "decoder": 0})
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    grad_clip: float = 1.0


def no_decay(name: str, param: torch.Tensor) -> bool:
    """Biases, norm scales, position tables and relative-position tables are not decayed."""
    return param.ndim < 2 or name.endswith(("pos_embed", "rel_pos_h", "rel_pos_w")) or "embed_positions" in name


def param_groups(model: GOTModel, cfg: OptimConfig) -> list[dict]:
    for knob in ("lr_mult", "delay"):
        unknown = sorted(set(getattr(cfg, knob)) - set(MODULES))
        if unknown:
            raise ValueError(f"optim.{knob} has unknown modules {unknown}; expected {list(MODULES)}")
    groups = []
    for module in MODULES:
        params = [(n, p) for n, p in getattr(model, module).named_parameters() if p.requires_grad]
        lr = cfg.lr * cfg.lr_mult.get(module, 1.0)
        for decay in (True, False):
            chosen = [p for n, p in params if no_decay(n, p) != decay]
            if chosen:
                groups.append(
                    {
                        "name": f"{module}{'' if decay else '.no_decay'}",
                        "module": module,
                        "params": chosen,
                        "lr": lr,
                        "weight_decay": cfg.weight_decay if decay else 0.0,
                    }
                )
    if not groups:
        raise ValueError("no trainable parameters: every module is frozen")
    return groups


def lr_factor(step: int, warmup: int, total: int, min_ratio: float, delay: int = 0) -> float:
    """0 for `delay` steps, then a linear warmup to 1, then cosine down to min_ratio at `total` steps."""
    if step < delay:
        return 0.0
    step, total = step - delay, total - delay
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: GOTModel, cfg: OptimConfig, total_steps: int):
    groups = param_groups(model, cfg)
    fused = all(p.is_cuda for g in groups for p in g["params"])
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused or None)
    schedules = [
        partial(
            lr_factor,
            warmup=cfg.warmup_steps,
            total=total_steps,
            min_ratio=cfg.min_lr_ratio,
            delay=cfg.delay.get(group["module"], 0),
        )
        for group in groups
    ]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, schedules)
    return optimizer, schedule
