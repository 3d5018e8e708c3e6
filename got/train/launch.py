"""Entry-point glue shared by train/stage{1,2,3}.py."""

import logging
import os
import sys

import got.config  # noqa: F401  (registers the config schema with Hydra before @hydra.main composes)


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


def run_stage(cfg) -> None:
    """Run a stage; problems the user can fix (config values, missing files, a diverged run) end the process
    with their message instead of a traceback."""
    from got.model.convert import CheckpointError
    from got.train.engine import NonFiniteLossError, run

    quiet_other_ranks()
    try:
        run(cfg)
    except (ValueError, FileNotFoundError, CheckpointError, NonFiniteLossError) as e:
        rank = os.environ.get("RANK", "0")
        sys.exit(f"error (rank {rank}): {e}")
