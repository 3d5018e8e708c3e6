"""Training: the DeepSpeed loop, stage policies, optimisation, checkpoints and logging."""
