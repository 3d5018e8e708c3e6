"""Stage 2: `deepspeed train/stage2.py +experiment=NAME`, train/train.py for a stage-2 experiment (docs/training.md)."""

from got.train.launch import main

if __name__ == "__main__":
    main(stage=2)
