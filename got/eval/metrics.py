"""OCR metrics: edit distance, CER/WER, BLEU, METEOR, token precision/recall/F1 and a repetition rate.

Three modes, and every result names the one that produced it (definitions and sources: docs/metrics.md):
  got     GOT's and Fox's published eval scripts, number for number, argument swap included
  nougat  Nougat's scripts: strings under 4 characters skipped, arguments in the right order
  strict  right order, multiset P/R/F, an empty prediction is scored (not skipped), micro and macro averages
"""

import logging
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nltk
from nltk.translate.bleu_score import sentence_bleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz.distance import Levenshtein

# Where scripts/setup_wordnet.sh puts WordNet. Adding it to nltk's path here means no env var is needed.
NLTK_DATA = Path(os.environ.get("NLTK_DATA", "").split(os.pathsep)[0] or Path.home() / ".cache/got/nltk_data")
if str(NLTK_DATA) not in nltk.data.path:
    nltk.data.path.insert(0, str(NLTK_DATA))
WORDNET_MISSING = f"METEOR needs WordNet, which nltk cannot find (looked in {NLTK_DATA}): run scripts/setup_wordnet.sh"

KINDS = ("page", "scene")
PARTS = ("text", "math", "table")
LOOP = 0.5  # a prediction whose repeated tail covers at least this fraction of it counts as looping
CJK = re.compile(r"[\u4e00-\u9fa5]")  # GOT's and Fox's test for "use jieba"
# Nougat's patterns, which GOT copied; $$...$$ is ours (strict only).
INLINE = re.compile(r"\\\((.*?)(?<!\\)\\\)")
DISPLAY = re.compile(r"\\\[(.+?)(?<!\\)\\\]")
DOLLARS = re.compile(r"\$\$(.+?)\$\$", re.S)
TABLE = re.compile(r"\\begin\{tabular\}(.+?)(?:\\end\{tabular\}|$)", re.S)


@dataclass(frozen=True)
class Rules:
    """Everything a mode changes; the rest of the code is shared."""

    min_label: int  # skip a sample whose label has fewer characters
    min_pred: int  # same for the prediction; 0 scores an empty prediction as all wrong
    swap: bool  # GOT/Fox pass (label, answer) into f(pred, gt): BLEU, METEOR and P/R run with roles reversed
    multiset: bool  # P/R/F over token counts; GOT and Nougat use sets, so "a a a" matches "a" perfectly
    keep_space: bool  # GOT keeps jieba's and list()'s whitespace tokens
    whole_text: bool  # format split: GOT scores the whole page as "text"; Nougat cuts math and tables out
    dollars: bool  # format split also takes $$...$$ as math


MODES = {
    "got": Rules(min_label=1, min_pred=1, swap=True, multiset=False, keep_space=True, whole_text=True, dollars=False),
    "nougat": Rules(
        min_label=4, min_pred=4, swap=False, multiset=False, keep_space=False, whole_text=False, dollars=False
    ),
    "strict": Rules(
        min_label=1, min_pred=0, swap=False, multiset=True, keep_space=False, whole_text=False, dollars=True
    ),
}
GOT_NOTE = (
    "got mode reproduces GOT/Fox, which swap label and prediction: 'precision' is the true recall, "
    "'recall' the true precision, and BLEU/METEOR take the label as the hypothesis"
)


def _rules(mode: str, kind: str) -> Rules:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    return MODES[mode]


def _jieba():
    try:
        import jieba
    except ImportError as e:
        raise RuntimeError("text with Chinese characters is scored on jieba words: pip install jieba") from e
    jieba.setLogLevel(logging.WARNING)  # it logs the dictionary build at INFO on first use
    return jieba


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def tokenize(text: str, *, cjk: bool, kind: str = "page", keep_space: bool = False) -> list[str]:
    """Characters for scene text, jieba words when either string of the pair has CJK, else whitespace words."""
    if kind == "scene":
        tokens = list(text)
    elif cjk:
        tokens = _jieba().lcut(text)
    else:
        return text.split()
    return tokens if keep_space else [t for t in tokens if not t.isspace()]


def repeated_tail(text: str) -> int:
    """Characters at the end of `text` that repeat a unit after its first copy: 0 for ordinary text.

    A tail with period p that spans p + z characters holds z characters of repetition after the first copy of
    its unit; z is the Z-function of the reversed text at p. Only z >= p counts (two full copies or more), so
    'ab' + 'cd' * 5 gives 8 (text[:-8] == 'abcd' keeps the first copy) while ordinary text gives about 0.
    """
    s, n = text[::-1], len(text)
    z, left, right, best = [0] * n, 0, 0, 0
    for i in range(1, n):
        if i < right:
            z[i] = min(right - i, z[i - left])
        while i + z[i] < n and s[z[i]] == s[i + z[i]]:
            z[i] += 1
        if i + z[i] > right:
            left, right = i, i + z[i]
        if z[i] >= i:
            best = max(best, z[i])
    return best


def repetition(text: str) -> float:
    """Fraction of `text` spent repeating a unit at its end, the signature of a decoder stuck in a loop."""
    return repeated_tail(text) / len(text) if text else 0.0


def cut_loop(text: str) -> tuple[str, bool]:
    """`text` cut back to the first copy of its looping unit, and whether it looped (repetition >= LOOP);
    the inference-time guard of got.eval.generate, on the same definition the `looping` metric uses."""
    repeated = repeated_tail(text)
    if not text or repeated / len(text) < LOOP:
        return text, False
    return text[: len(text) - repeated], True


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    # nltk's f_measure with alpha=0.5, written the same way so got mode matches GOT to the last bit
    return 0.0 if p == 0 or r == 0 else 1.0 / (0.5 / p + 0.5 / r)


def _require_wordnet() -> None:
    # nltk opens WordNet only when exact and stem matches leave words over; fail on every call, not some
    try:
        nltk.corpus.wordnet.ensure_loaded()
    except LookupError as e:
        raise RuntimeError(WORDNET_MISSING) from e


def _meteor(ref: list[str], hyp: list[str]) -> float:
    _require_wordnet()
    return meteor_score([ref], hyp)


def _score(label: str, pred: str, mode: str, kind: str) -> tuple[dict[str, float], Counter] | str:
    """Per-sample metrics and the counts that micro averages sum, or the reason the mode skips the sample."""
    rules = _rules(mode, kind)
    if not isinstance(label, str) or not isinstance(pred, str):
        raise TypeError(f"label and prediction must be strings, got {type(label).__name__} and {type(pred).__name__}")
    for name, text, least in (("label", label, rules.min_label), ("pred", pred, rules.min_pred)):
        if len(text) < least:
            return f"{'short' if text else 'empty'}_{name}"
    cjk = has_cjk(label) or has_cjk(pred)
    label_t, pred_t = (tokenize(s, cjk=cjk, kind=kind, keep_space=rules.keep_space) for s in (label, pred))
    # nltk's P/R return None on an empty side and crash GOT's and Nougat's averages; skip instead
    if not label_t or (rules.min_pred and not pred_t):
        return f"no_tokens_{'label' if not label_t else 'pred'}"

    ref, hyp = (pred_t, label_t) if rules.swap else (label_t, pred_t)
    with warnings.catch_warnings():  # nltk warns on every sentence with no 4-gram match; the score says it
        warnings.simplefilter("ignore")
        bleu = float(sentence_bleu([ref], hyp))  # nltk returns int 0 when nothing matches
    ref_bag, hyp_bag = (Counter(t if rules.multiset else set(t)) for t in (ref, hyp))
    edits, word_edits = Levenshtein.distance(label, pred), Levenshtein.distance(label_t, pred_t)
    counts = Counter(
        edits=edits,
        max_chars=max(len(label), len(pred)),
        label_chars=len(label),
        word_edits=word_edits,
        label_words=len(label_t),
        overlap=sum((ref_bag & hyp_bag).values()),
        ref_tokens=sum(ref_bag.values()),
        hyp_tokens=sum(hyp_bag.values()),
    )
    rep = repetition(pred)
    metrics = dict(
        edit_dist=edits / counts["max_chars"],
        **_ratios(counts),
        bleu=bleu,
        meteor=_meteor(ref, hyp),
        repetition=rep,
        looping=float(rep >= LOOP and repetition(label) < LOOP),
    )  # loops, label doesn't
    return metrics, counts


def _ratios(c: Counter) -> dict[str, float]:
    p, r = _div(c["overlap"], c["hyp_tokens"]), _div(c["overlap"], c["ref_tokens"])
    return dict(
        cer=_div(c["edits"], c["label_chars"]),
        wer=_div(c["word_edits"], c["label_words"]),
        precision=p,
        recall=r,
        f1=_f1(p, r),
    )


def score_pair(label: str, pred: str, *, mode: str = "strict", kind: str = "page") -> dict:
    """Metrics of one sample: {"mode", metric: value...}, or {"mode", "skipped": reason} if the mode skips it."""
    out = _score(label, pred, mode, kind)
    return {"mode": mode, "skipped": out} if isinstance(out, str) else {"mode": mode, **out[0]}


def format_parts(page: str, *, mode: str = "strict") -> dict[str, str]:
    """Text, math and tables of a formatted (markdown/LaTeX) page, split the way `mode`'s scripts split them."""
    rules = _rules(mode, "page")
    rest, math = page, []
    for reg in (INLINE, DISPLAY, DOLLARS) if rules.dollars else (INLINE, DISPLAY):
        math.append("\n".join(reg.findall(rest)))
        rest = rest if rules.whole_text else reg.sub("", rest)
    table = "\n".join(TABLE.findall(rest))
    rest = rest if rules.whole_text else TABLE.sub("", rest)
    # GOT and Nougat glue inline and display math together with no separator; strict keeps blocks apart
    math_text = "\n".join(m for m in math if m) if rules.dollars else "".join(math)
    return {"text": rest.strip(), "math": math_text, "table": table}


def _aggregate(scored: list[tuple[dict[str, float], Counter] | str], mode: str) -> dict:
    skipped, totals, pooled, n = Counter(), {}, Counter(), 0
    for out in scored:
        if isinstance(out, str):
            skipped[out] += 1
            continue
        n += 1
        pooled.update(out[1])
        for k, v in out[0].items():  # in order, one by one, like GOT's loop, so the float sums match
            totals[k] = totals.get(k, 0.0) + v
    micro = dict(edit_dist=pooled["edits"] / pooled["max_chars"], **_ratios(pooled)) if n else {}
    return {
        "mode": mode,
        "n": n,
        "skipped": dict(skipped),
        "macro": {k: v / n for k, v in totals.items()},
        "micro": micro,
    }


def score_corpus(
    pairs: Iterable[tuple[str, ...]],
    *,
    mode: str = "strict",
    kind: str = "page",
    split_format: bool = False,
    groups: dict[str, list[str]] | None = None,
) -> dict:
    """Averages over (label, pred) pairs; a pair may carry its own kind as a third item.

    Returns {"mode", "n", "skipped": {reason: count}, "macro": {...}, "micro": {...}}: macro is the mean of
    per-sample scores (what GOT and Nougat publish), micro pools the counts (edits, tokens) over the corpus.
    split_format adds "parts": the same for the text, math and tables of each page. groups, e.g.
    {"lang": ["en", "zh", ...]} with one name per pair, adds "by_lang": {"en": {...}, "zh": {...}}.
    """
    _rules(mode, kind)
    items = [(pair[0], pair[1], pair[2] if len(pair) > 2 else kind) for pair in pairs]
    for field, names in (groups or {}).items():
        if len(names) != len(items):
            raise ValueError(f"groups[{field!r}] has {len(names)} names for {len(items)} pairs")
    scored = [_score(label, pred, mode, k) for label, pred, k in items]
    parts = {}
    if split_format:
        splits = [(format_parts(label, mode=mode), format_parts(pred, mode=mode), k) for label, pred, k in items]
        parts = {part: [_score(lab[part], pre[part], mode, k) for lab, pre, k in splits] for part in PARTS}

    def summary(keep: list[int]) -> dict:
        out = _aggregate([scored[i] for i in keep], mode)
        if parts:
            out["parts"] = {part: _aggregate([s[i] for i in keep], mode) for part, s in parts.items()}
        return out

    result = summary(list(range(len(items))))
    if mode == "got":
        result["note"] = GOT_NOTE
    for field, names in (groups or {}).items():
        members = {}
        for i, name in enumerate(names):
            members.setdefault(name, []).append(i)
        result[f"by_{field}"] = {name: summary(keep) for name, keep in sorted(members.items())}
    return result


def check_requirements(labels: Iterable[str], preds: Iterable[str], *, kind: str = "page") -> None:
    """Fail up front, with the fix in the message, rather than after scoring half a corpus."""
    if kind != "scene" and any(has_cjk(s) for group in (labels, preds) for s in group):
        _jieba()
    _require_wordnet()
