"""Stage 2. `deepspeed train/stage2.py +experiment=NAME [key=value ...]`, or plain `python` for one process.

The config is configs/stage2.yaml composed with its groups; see docs/training.md.
"""

import hydra
from omegaconf import DictConfig

from got.train.launch import run_stage, strip_launcher_args


@hydra.main(config_path="../configs", config_name="stage2", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_stage(cfg)


if __name__ == "__main__":
    strip_launcher_args()
    main()
