"""Train: `deepspeed train/train.py +experiment=NAME [key=value ...]`, or plain `python` for one process.

configs/experiment/NAME.yaml says all of the run: the stage, the model, the data, the optimizer, the loop, the
evaluation (docs/training.md).
"""

from got.train.launch import main

if __name__ == "__main__":
    main()
