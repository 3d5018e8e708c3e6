"""The training command: `deepspeed train/train.py +experiment=NAME [key=value ...]` (train/stage{1,2,3}.py are
the same command, checking that the experiment is a run of that stage)."""

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import got.train.config  # noqa: F401  (registers the schema with Hydra before it composes)
from got.config import CONFIG_DIR


def strip_launcher_args() -> None:
    """The deepspeed launcher appends `--local_rank=N`, which Hydra's command line rejects; the rank is
    also in the environment (LOCAL_RANK), so the argument is moved there and dropped."""
    kept = []
    args = iter(sys.argv[1:])
    for arg in args:
        if arg.startswith("--local_rank"):
            value = arg.split("=", 1)[1] if "=" in arg else next(args)
            os.environ.setdefault("LOCAL_RANK", value)
        else:
            kept.append(arg)
    sys.argv[1:] = kept


def quiet_other_ranks() -> None:
    """Only rank 0 talks; the others log warnings and errors."""
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)


def experiments() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def run_experiment(cfg: DictConfig, stage: int | None) -> None:
    """Run the composed experiment; problems the user can fix (no experiment, config values, missing files, a
    diverged run) end the process with their message instead of a traceback."""
    from got.model.checkpoint import CheckpointError
    from got.train.loop import NonFiniteLossError, train

    quiet_other_ranks()
    rank = os.environ.get("RANK", "0")
    name = HydraConfig.get().runtime.choices.get("experiment")
    if name is None:
        sys.exit(f"error: name a run: +experiment=NAME, one of {', '.join(experiments())} (configs/experiment/)")
    if stage is not None and cfg.stage != stage:
        sys.exit(
            f"error: experiment {name} is a stage-{cfg.stage} run; start it with train/stage{cfg.stage}.py "
            "or train/train.py"
        )
    try:
        train(cfg)
    except (ValueError, FileNotFoundError, CheckpointError, NonFiniteLossError) as e:
        sys.exit(f"error (rank {rank}): {e}")


def main(stage: int | None = None) -> None:
    strip_launcher_args()

    @hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
    def composed(cfg: DictConfig) -> None:
        run_experiment(cfg, stage)

    composed()
