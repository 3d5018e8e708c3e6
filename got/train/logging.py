"""Console progress, a metrics.jsonl per run, and wandb (offline unless configured; never blocks on network)."""

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger("got.train")


@dataclass
class LogConfig:
    wandb: str = "offline"  # offline | online | disabled
    project: str = "got"
    run_name: str | None = None
    every: int = 1  # optimizer steps between console/metrics lines
    peak_tflops: float = 0.0  # per device, for MFU (989 for H100 dense bf16); 0 hides MFU


def _step(line: str) -> float:
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return float("inf")


class RunLogger:
    """Rank 0 only: a progress bar, metrics.jsonl (truncated to the resume step) and the wandb run."""

    def __init__(self, cfg: LogConfig, out_dir: Path, total_steps: int, start_step: int, config: dict):
        self.cfg = cfg
        self.session = f"{os.getpid()}-{time.time_ns()}"
        self.path = out_dir / "metrics.jsonl"
        self._truncate(start_step)
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", dynamic_ncols=True)
        self.wandb = None
        if cfg.wandb != "disabled":
            try:
                import wandb
            except ImportError:
                log.warning("wandb is not installed: logging to metrics.jsonl only")
            else:
                os.environ.setdefault("WANDB_SILENT", "true")
                self.wandb = wandb.init(
                    project=cfg.project,
                    name=cfg.run_name,
                    dir=str(out_dir),
                    config=config,
                    mode=cfg.wandb,
                    resume="allow",
                )

    def _truncate(self, start_step: int) -> None:
        """A resumed run replays the steps after its checkpoint: drop their old lines (and a line torn by a kill)."""
        if self.path.is_file():
            lines = [line for line in self.path.read_text().splitlines() if _step(line) <= start_step]
            self.path.write_text("".join(line + "\n" for line in lines))

    def step(self, step: int, metrics: dict) -> None:
        self.bar.update(1)
        if step % self.cfg.every:
            return
        self.write(step, metrics)
        shown = {k: metrics[k] for k in ("loss", "lr", "grad_norm", "tok/s", "eff", "mfu") if k in metrics}
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)

    def write(self, step: int, metrics: dict) -> None:
        with self.path.open("a") as f:  # `session`: which process wrote a step, so a resume can be audited
            f.write(json.dumps({"step": step, **metrics, "session": self.session}) + "\n")
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def close(self) -> None:
        self.bar.close()
        if self.wandb is not None:
            self.wandb.finish()
