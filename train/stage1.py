"""Stage 1: `deepspeed train/stage1.py +experiment=NAME`, train/train.py for a stage-1 experiment (docs/training.md)."""

from got.train.launch import main

if __name__ == "__main__":
    main(stage=1)
