"""Evaluation during training: greedy generation on a fixed held-out shard set, the paper's metrics, and the
best model kept in OUT/best by a chosen metric.

Collective: every rank calls it (ZeRO-3 gathers the parameters on all of them); rank 0 generates and scores.
"""

import json
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import torch.distributed as dist

from got.data.shards import read_samples
from got.eval.generate import GOTEngine, predict
from got.eval.inputs import EvalItem
from got.eval.metrics import score_corpus
from got.infer.api import GOT
from got.tokenizer import GOTTokenizer
from got.train.checkpoint import TMP_PREFIX, export_model, generation_model, replace_dir

LOWER_IS_BETTER = {"edit_dist", "cer", "wer", "repetition"}
LOGGED = ("edit_dist", "f1", "bleu")


@dataclass
class PeriodicEvalConfig:
    """Evaluation during training; the eval CLI's own config is got.eval.evaluate.EvalConfig."""

    every: int = 0  # optimizer steps between evaluations; 0 = none during training
    data: list[str] = field(default_factory=list)  # held-out shard URLs
    num_samples: int = 32
    batch_size: int = 8
    max_new_tokens: int = 256
    no_repeat_ngram_size: int = 0
    mode: str = "strict"
    best_metric: str = "edit_dist"  # edit_dist (lower is better), f1 or bleu: the best checkpoint is kept

    def __post_init__(self) -> None:
        if self.every and not self.data:
            raise ValueError(
                "eval.every is set but eval.data names no held-out shards: give eval.data=[PATTERN] or eval.every=0"
            )


class PeriodicEval:
    def __init__(self, cfg: PeriodicEvalConfig, tokenizer: GOTTokenizer, out: Path):
        if not cfg.data:
            raise ValueError("eval.every is set but eval.data names no held-out shards")
        self.cfg, self.tokenizer, self.out = cfg, tokenizer, out
        samples = islice(read_samples(cfg.data), cfg.num_samples)
        self.items = [EvalItem(id=key, sample=sample, index=i) for i, (key, sample) in enumerate(samples)]
        if not self.items:
            raise ValueError(f"eval.data {cfg.data} holds no valid samples")
        self.best: float | None = None

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.cfg.best_metric in LOWER_IS_BETTER else value > self.best

    def __call__(self, engine, step: int) -> dict:
        """Scores of the current model (on rank 0; {} elsewhere); a new best is exported to OUT/best."""
        scores, improved = {}, [False]
        engine.module.eval()
        model = generation_model(engine)  # rank 0 only
        if model is not None:
            reader = GOTEngine(
                GOT(model, self.tokenizer),
                max_new_tokens=self.cfg.max_new_tokens,
                no_repeat_ngram_size=self.cfg.no_repeat_ngram_size,
            )
            pairs = [
                (item.sample.text, pred.text)
                for item, pred in predict(reader, self.items, self.cfg.batch_size, {}, progress=False)
            ]
            result = score_corpus(pairs, mode=self.cfg.mode, kind="page")
            scores = {f"eval/{k}": result["macro"][k] for k in LOGGED if k in result["macro"]}
            value = result["macro"][self.cfg.best_metric]
            improved[0] = self._better(value)
            if improved[0]:
                self.best = value
        del model
        dist.barrier()
        engine.module.train()
        dist.broadcast_object_list(improved, src=0)
        if improved[0]:
            tmp = self.out / f"{TMP_PREFIX}best"
            export_model(engine, self.tokenizer, tmp, replace=False)
            if dist.get_rank() == 0:
                (tmp / "scores.json").write_text(json.dumps({"step": step, **scores}, indent=2))
                replace_dir(tmp, self.out / "best")  # the previous best stays until this one is whole
            dist.barrier()
        return scores
