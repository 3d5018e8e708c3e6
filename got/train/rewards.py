"""Verifiable OCR rewards for stage 4 (GRPO): each a plain function of (sample, rollout) registered in REWARDS by
name, composed with the weights of a RewardConfig by `score` (docs/rl.md).

Every reward is in [0, 1], 1 best; the penalties (repetition, length) are written as 1 - penalty, so the weighted
total is a mean in [0, 1] too. A reward that does not apply to a sample returns None and drops out of the total.
Whether a reward applies depends on the sample alone (its source and its kind), never on the output: every
rollout of a GRPO group is scored on the same rewards, and no output can earn or dodge a reward by its form.

The format rewards run each output through the engine the renderer used (RDKit, verovio, MathJax), the last two in
their persistent child processes (got.render.engines), so model garbage that crashes or hangs an engine costs one
child restart and scores 0. An output longer than ENGINE_SLACK times its label is scored 0 without asking the
engine: it is no reading of the image, and engine time grows faster than its length (MathJax took 1.7 s on 12k
characters, verovio 30 s on one measure of 5000 notes).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from rapidfuzz.distance import LCSseq, Levenshtein

from got.data.sample import Sample
from got.eval.metrics import LOOP, repetition
from got.infer.html import TABULAR, aligns, group, spans, spine_problem, split_tabular
from got.render import engines

# Which format reward checks the outputs of which renderer's samples.
FORMATS = {
    "render/molecule": "smiles",
    "render/music": "kern",
    "render/formula": "latex",
    "render/chart": "chart",
    "render/table": "table",
}
ENGINE_SLACK = (4, 200)  # an output over 4 x its label's length + 200 characters skips the engine and scores 0
KERN_OPTIONS = {"inputFrom": "humdrum", "breaks": "none"}  # one system: no page layout to compute
# verovio engraves anything; a score has a note or a rest (an element may carry more classes: "note placed")
ENGRAVED = re.compile(r'class="(?:[^"]* )?(?:note|rest|mRest)(?: [^"]*)?"')
UNDEFINED = 'data-mml-node="mtext" fill="red"'  # how MathJax (noundefined) typesets an unknown macro
LATEX_TOKEN = re.compile(r"\\\\|\\[{}]|\\(begin|end)\{([^{}]*)\}|\\(left|right)(?![a-zA-Z])|[{}]")
WRAPPED = re.compile(r"\\\[(.*)\\\]|\\\((.*)\\\)", re.S)  # the formula renderer's display and inline wrappers


@dataclass(frozen=True)
class Rollout:
    """What a reward sees of one generated output."""

    text: str  # decoded, without the final <|im_end|>
    stopped: bool  # it ended with <|im_end|> before the token budget ran out


def _format(sample: Sample) -> str | None:
    return FORMATS.get(sample.source)


def _too_long(sample: Sample, text: str) -> bool:
    return len(text) > ENGINE_SLACK[0] * len(sample.text) + ENGINE_SLACK[1]


def similarity(sample: Sample, out: Rollout) -> float:
    """1 - the metric's edit distance to the label: character Levenshtein / the longer length (DESIGN §7)."""
    return 1.0 - Levenshtein.normalized_distance(sample.text, out.text)


# stop and no_repetition both need the output's and the label's (~20 ms on 10k repeated tokens, pure Python): once
_repetition = lru_cache(maxsize=256)(repetition)


def stop(sample: Sample, out: Rollout) -> float:
    """1 if the output ended with <|im_end|> within the budget and does not loop, else 0. Looping is the metric's
    `looping`: its repeated tail covers at least LOOP of it while the label's does not."""
    loops = _repetition(out.text) >= LOOP and _repetition(sample.text) < LOOP
    return float(out.stopped and not loops)


def no_repetition(sample: Sample, out: Rollout) -> float:
    """Penalty, as 1 - p: p is the share of the output that its repeated tail covers (the metric's repetition
    detector) beyond the label's own, so a label that repeats itself costs an exact reading nothing."""
    return 1.0 - max(0.0, _repetition(out.text) - _repetition(sample.text))


def length(sample: Sample, out: Rollout) -> float:
    """Penalty, as 1 - p: the shorter of output and label over the longer, in characters (1 when both are empty)."""
    longer = max(len(out.text), len(sample.text))
    return min(len(out.text), len(sample.text)) / longer if longer else 1.0


def region(sample: Sample, out: Rollout) -> float | None:
    """Box and colour prompts: the share of the output that is the region's text, i.e. its characters that align,
    in order, with the label's (longest common subsequence / output length). Reading the whole page instead of
    the region scores about region length / page length; a misread region scores what it gets right. Whether
    the rest came from the page or from nowhere is not told apart: the sample does not carry the page's text.
    None for samples without a box or colour."""
    if sample.kind not in ("box", "color"):
        return None
    return LCSseq.similarity(sample.text, out.text) / len(out.text) if out.text else 0.0


def _canonical_smiles(text: str) -> str | None:
    if not text.isascii():  # SMILES is ASCII; RDKit raises on a lone surrogate rather than rejecting it
        return None
    from rdkit import Chem, rdBase  # on first use: every training run imports this module

    with rdBase.BlockLogs():  # an unparsable SMILES is an expected outcome here, not news for stderr
        mol = Chem.MolFromSmiles(text)
    return None if mol is None else Chem.MolToSmiles(mol)


@lru_cache(maxsize=4096)
def _label_smiles(label: str) -> str:
    canonical = _canonical_smiles(label.strip())
    if canonical is None:
        raise ValueError(f"the label is not a SMILES RDKit parses: {label[:80]!r}")
    return canonical


def smiles(sample: Sample, out: Rollout) -> float | None:
    """Molecules: 1 if the output parses with RDKit and is the label's molecule (equal canonical SMILES), else 0."""
    if _format(sample) != "smiles":
        return None
    target = _label_smiles(sample.text)
    return float(not _too_long(sample, out.text) and _canonical_smiles(out.text.strip()) == target)


def kern(sample: Sample, out: Rollout) -> float | None:
    """Sheet music: 1 if the output is whole Humdrum (every record has one field per open spine, the spines all
    closed by the end: got.infer.html.spine_problem) that verovio, in its child, engraves into at least one note
    or rest, else 0. verovio alone engraves junk and cut-off files without complaint."""
    if _format(sample) != "kern":
        return None
    if _too_long(sample, out.text) or spine_problem(out.text.strip("\n")) != (None, False):
        return 0.0
    try:
        svg, _ = engines.verovio(out.text, KERN_OPTIONS)
    except engines.RenderError:  # the child died on it or refused it
        return 0.0
    return float(ENGRAVED.search(svg) is not None)


def balanced(latex: str) -> bool:
    """Braces, \\left ... \\right and \\begin{env} ... \\end{env} pair up and nest (escaped braces are text)."""
    stack: list[str] = []
    for m in LATEX_TOKEN.finditer(latex):
        token, env, side = m[0], m[2], m[3]
        if token in ("\\\\", "\\{", "\\}"):
            continue
        opener = "{" if token == "{" else f"env {env}" if m[1] == "begin" else "left" if side == "left" else None
        if opener is not None:
            stack.append(opener)
            continue
        closes = "{" if token == "}" else f"env {env}" if m[1] == "end" else "left"
        if not stack or stack.pop() != closes:
            return False
    return not stack


def _unwrap(text: str) -> str | None:
    m = WRAPPED.fullmatch(text.strip())
    return None if m is None else (m[1] if m[1] is not None else m[2])


def latex(sample: Sample, out: Rollout) -> float | None:
    """Formulas: 1 if the output is a formula, wrapped in \\[ \\] or \\( \\) when the label is, non-empty and
    balanced, that MathJax (in its child) typesets with no error and no undefined macro, else 0."""
    if _format(sample) != "latex":
        return None
    body = _unwrap(out.text) if _unwrap(sample.text) is not None else out.text
    if body is None or not body.strip() or _too_long(sample, out.text) or not balanced(body):
        return 0.0
    try:
        svg = engines.mathjax_svg(body)
    except engines.RenderError:  # MathJax's own error (a missing argument, a misplaced &, ...)
        return 0.0
    return float(UNDEFINED not in svg)


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _key_paths(d: dict, prefix: tuple = ()) -> set[tuple]:
    paths = set()
    for k, v in d.items():
        paths.add(prefix + (k,))
        if isinstance(v, dict):
            paths |= _key_paths(v, prefix + (k,))
    return paths


@lru_cache(maxsize=4096)
def _label_keys(label: str) -> frozenset:
    d = _literal(label)
    if not isinstance(d, dict):
        raise ValueError(f"the label is not a python dict literal: {label[:80]!r}")
    return frozenset(_key_paths(d))


def chart(sample: Sample, out: Rollout) -> float | None:
    """Charts: the output must be a python dict literal with the label's keys, at every depth (title, ...,
    values, each category, each series' categories): Jaccard similarity of the two sets of key paths, 0 for
    anything that is not a dict. Values are left to `similarity`."""
    if _format(sample) != "chart":
        return None
    want = _label_keys(sample.text)
    d = None if _too_long(sample, out.text) else _literal(out.text)
    if not isinstance(d, dict):
        return 0.0
    have = _key_paths(d)
    return len(want & have) / len(want | have)


def table(sample: Sample, out: Rollout) -> float | None:
    """Tables: the share of the output's tabular rows that fill exactly the columns of their tabular's spec
    (\\multicolumn{n} counts n), rows and cells split as got.infer.html reads a tabular. 0 when a tabular is not
    closed, its braces or math do not balance, or the output holds no tabular row."""
    if _format(sample) != "table":
        return None
    if _too_long(sample, out.text):
        return 0.0
    full = count = 0
    for m in TABULAR.finditer(out.text):
        inner = m["table"]
        pos = group(inner, 0, "[", "]")
        spec = group(inner, pos[1] if pos else 0)
        rows = split_tabular(inner[spec[1] :]) if spec else None
        if not m["end"] or rows is None:
            return 0.0
        columns = len(aligns(spec[0]))
        count += len(rows)
        full += sum(sum(spans(cell)[0] for cell in row) == columns for row in rows)
    return full / count if count else 0.0


REWARDS: dict[str, Callable[[Sample, Rollout], float | None]] = {
    "similarity": similarity,
    "stop": stop,
    "repetition": no_repetition,
    "length": length,
    "region": region,
    "smiles": smiles,
    "kern": kern,
    "latex": latex,
    "chart": chart,
    "table": table,
}
ALWAYS = ("similarity", "stop", "repetition", "length")  # the rewards that apply to every sample


@dataclass
class RewardConfig:
    """Weights of the rewards to compute, by name; a weight of 0 computes and reports a reward outside the total."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "similarity": 1.0,
            "stop": 0.2,
            "repetition": 0.2,
            "length": 0.1,
            "region": 0.5,
            "smiles": 0.5,
            "kern": 0.5,
            "latex": 0.5,
            "chart": 0.5,
            "table": 0.5,
        }
    )

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(REWARDS))
        if unknown:
            raise ValueError(f"unknown reward(s) {', '.join(unknown)}; known: {', '.join(REWARDS)}")
        bad = {
            k: w for k, w in self.weights.items() if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0)
        }
        if bad:
            raise ValueError(f"reward weights must be finite numbers >= 0, got {bad}")
        if not any(self.weights.get(name, 0) > 0 for name in ALWAYS):
            raise ValueError(
                f"give one of the rewards every sample has ({', '.join(ALWAYS)}) a weight > 0, "
                "or a sample with none of the others would have no total"
            )


def score(sample: Sample, out: Rollout, cfg: RewardConfig) -> dict[str, float]:
    """Each reward of cfg that applies to the sample, and "total": their weighted mean, sum(w * r) / sum(w) over
    the rewards that apply. A reward that does not apply drops out with its weight, so the total stays in [0, 1]
    and is neither raised nor lowered by it."""
    values = {}
    for name in cfg.weights:
        value = REWARDS[name](sample, out)
        if value is not None:
            values[name] = float(value)
    weight = sum(cfg.weights[name] for name in values)
    return {**values, "total": sum(cfg.weights[name] * v for name, v in values.items()) / weight}
