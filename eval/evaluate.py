"""Evaluate a GOT checkpoint, or a peer OCR engine, on shards or an image folder (docs/evaluation.md).

    python eval/evaluate.py model=DIR data=SHARDS_OR_FOLDER [mode=strict|got|nougat] [task=ocr|format]
        [engine=got|tesseract|ppocr] [out=outputs/eval] [max_new_tokens=4096] [no_repeat_ngram_size=20]
        [cut_loops=true] [batch_size=8] [limit=N] ...   (every field of got.eval.evaluate.EvalConfig, as key=value)

Writes predictions.jsonl, metrics.json, report.md and report.html to out/. Under torchrun, the ranks share the
samples and rank 0 merges the outputs: torchrun --nproc_per_node 8 eval/evaluate.py model=... data=...
"""

import sys

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from got.eval.evaluate import EvalConfig, SetupError, run


def parse(argv: list[str]) -> EvalConfig:
    """key=value arguments checked against EvalConfig: an unknown key, a wrong type or value fails with its name."""
    if bad := [a for a in argv if "=" not in a or a.startswith("-")]:
        raise ValueError(f"arguments are key=value, got {bad}")
    overrides = []
    for arg in argv:  # one at a time, so that a value YAML cannot parse is named
        try:
            overrides.append(OmegaConf.from_dotlist([arg]))
        except yaml.YAMLError as e:
            raise ValueError(f"cannot parse {arg!r}: {getattr(e, 'problem', None) or e}") from None
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(EvalConfig), *overrides))
    except OmegaConfBaseException as e:  # its message is the problem, then lines of context: keep it to one line
        problem, key = str(e).strip().splitlines()[0], getattr(e, "full_key", None)
        raise ValueError(problem if not key or key in problem else f"{key}: {problem}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        cfg = parse(argv)
        metrics = run(cfg)
    except (ValueError, OSError, SetupError) as e:  # bad arguments or data, a missing path, an out that is a file
        print(f"evaluate.py: {e}", file=sys.stderr)
        return 2
    if metrics is not None:
        summary = {k: round(metrics["macro"].get(k, 0.0), 4) for k in ("edit_dist", "f1", "bleu", "meteor")}
        bad = metrics["input"]["bad"]
        reasons = f" ({', '.join(f'{k} {v}' for k, v in sorted(bad.items()))})" if bad else ""
        print(
            f"{metrics['input']['read']} samples read, {sum(bad.values())} skipped{reasons}, {metrics['n']} scored "
            f"({metrics['mode']} mode; unscored {metrics['skipped'] or 'none'}): {summary}; outputs in {cfg.out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
