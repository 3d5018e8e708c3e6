"""Stage 4 (RL): `deepspeed train/stage4.py +experiment=NAME`, train/train.py for a stage-4 experiment (docs/rl.md)."""

from got.train.launch import main

if __name__ == "__main__":
    main(stage=4)
