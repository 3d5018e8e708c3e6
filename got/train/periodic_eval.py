"""Evaluation during training: greedy generation on a fixed held-out shard set, the paper's metrics, and the
best model kept in OUT/best by a chosen metric. Named sets (eval.names) are also scored one by one, so that a run
on a mixture sees each held-out set's own curve.

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
LOGGED = ("edit_dist", "cer", "f1", "bleu")


@dataclass
class PeriodicEvalConfig:
    """Evaluation during training; the eval CLI's own config is got.eval.evaluate.EvalConfig."""

    every: int = 0  # optimizer steps between evaluations; 0 = none during training
    data: list[str] = field(default_factory=list)  # held-out shard URLs
    # one name per pattern of `data`: each pattern is then a set of its own, its first num_samples read, and
    # scored alone as well as together (logged as eval/NAME/METRIC beside eval/METRIC)
    names: list[str] = field(default_factory=list)
    num_samples: int = 32  # the first num_samples of `data`; with names, of each set
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
        if self.names and len(self.names) != len(self.data):
            raise ValueError(f"eval.names has {len(self.names)} names for {len(self.data)} eval.data patterns")


class PeriodicEval:
    def __init__(self, cfg: PeriodicEvalConfig, tokenizer: GOTTokenizer, out: Path):
        if not cfg.data:
            raise ValueError("eval.every is set but eval.data names no held-out shards")
        self.cfg, self.tokenizer, self.out = cfg, tokenizer, out
        self.items: list[EvalItem] = []
        self.sets: list[str] = []  # each item's set name ("" without eval.names)
        for name, urls in zip(cfg.names, ([u] for u in cfg.data)) if cfg.names else [("", cfg.data)]:
            samples = list(islice(read_samples(urls), cfg.num_samples))
            if not samples:
                raise ValueError(f"eval.data {urls} holds no valid samples")
            start = len(self.items)
            self.items += [EvalItem(id=key, sample=s, index=start + i) for i, (key, s) in enumerate(samples)]
            self.sets += [name] * len(samples)
        self.best: float | None = None

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.cfg.best_metric in LOWER_IS_BETTER else value > self.best

    def score(self, preds: list[str]) -> dict[str, float]:
        """The logged metrics of the items' predictions, in order: eval/METRIC over all, eval/NAME/METRIC per set."""
        pairs = [(item.sample.text, pred) for item, pred in zip(self.items, preds, strict=True)]
        groups = {"set": self.sets} if self.cfg.names else None
        result = score_corpus(pairs, mode=self.cfg.mode, kind="page", groups=groups)
        logged = (*LOGGED, self.cfg.best_metric)
        scores = {}
        for prefix, part in [("eval", result)] + [(f"eval/{n}", r) for n, r in result.get("by_set", {}).items()]:
            scores.update({f"{prefix}/{k}": v for k, v in part["macro"].items() if k in logged})
        return scores

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
            preds = [pred.text for _, pred in predict(reader, self.items, self.cfg.batch_size, {}, progress=False)]
            scores = self.score(preds)
            value = scores[f"eval/{self.cfg.best_metric}"]
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
