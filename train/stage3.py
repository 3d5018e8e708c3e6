"""Stage 3: `deepspeed train/stage3.py +experiment=NAME`, train/train.py for a stage-3 experiment (docs/training.md)."""

from got.train.launch import main

if __name__ == "__main__":
    main(stage=3)
