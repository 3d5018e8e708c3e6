"""The evaluation report: report.md, and report.html that opens offline as a single file.

The HTML inlines all it shows (thumbnails as data URIs, every rendering as inline SVG or HTML) and runs no script.
Format outputs are shown rendered by got.infer.html (markdown, MathJax math, tabular, SMILES, **kern, chart dicts,
TikZ), label and prediction each as the kind the label is. Samples are listed worst first (by edit distance), with
the differences between label and prediction marked.
"""

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from rapidfuzz.distance import Levenshtein

from got.eval.metrics import LOOP, repetition, score_pair
from got.infer.html import detect_kind, document, render_output

COLUMNS = ("edit_dist", "f1", "precision", "recall", "bleu", "meteor", "cer", "wer", "repetition", "looping")
THUMB_SIDE = 256
EXCERPT = 600  # characters of label and prediction quoted in report.md


@dataclass
class Report:
    title: str  # what was evaluated: the model directory or the engine
    data: str
    metrics: dict  # score_corpus(...) with by_task and by_lang
    records: list[dict]  # predictions: id, task, lang, kind, label, pred, and "thumb" (a JPEG path) if any
    inputs: dict = field(default_factory=dict)  # {"read": n, "bad": {reason: count}}
    speed: dict = field(default_factory=dict)  # samples, new_tokens, seconds
    max_samples: int = 200  # samples shown in full, worst first

    def ranked(self) -> list[dict]:
        """Records worst first: looping outputs, then by edit distance."""
        return sorted(self.records, key=lambda r: (looping(r), edit_distance(r)), reverse=True)


def looping(record: dict) -> bool:
    """Cut by the repetition guard at generation ("looping": true), or the metrics' looping flag: the prediction
    ends in a long repeat that the label does not have."""
    return bool(record.get("looping")) or repetition(record["pred"]) >= LOOP > repetition(record["label"])


def loop_note(record: dict) -> str:
    if record.get("looping"):
        return "ran to max_new_tokens in a loop; cut back to the loop's first copy"
    return f"repetition {repetition(record['pred']):.2f}"


def edit_distance(record: dict) -> float:
    return Levenshtein.normalized_distance(record["label"], record["pred"])  # the metrics' edit_dist


def thumbnail(images: list[Image.Image], path: Path) -> None:
    """A JPEG of the first image (page), at most THUMB_SIDE on its long side."""
    image = images[0].convert("RGB")
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=80)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _rows(groups: dict[str, dict]) -> list[list[str]]:
    return [[name, str(s["n"]), *(_fmt(s["macro"].get(c, "")) for c in COLUMNS)] for name, s in groups.items()]


def tables(metrics: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the overall, per-task and per-language tables."""
    header = ["", "n", *COLUMNS]
    overall = [
        ["macro", str(metrics["n"]), *(_fmt(metrics["macro"].get(c, "")) for c in COLUMNS)],
        ["micro", str(metrics["n"]), *(_fmt(metrics["micro"].get(c, "")) for c in COLUMNS)],
    ]
    out = [("Overall", header, overall)]
    for key, title in (("by_task", "By task"), ("by_lang", "By language")):
        if metrics.get(key):
            out.append((title, [key[3:], *header[1:]], _rows(metrics[key])))
    return out


def _skipped(metrics: dict) -> dict:
    return metrics.get("skipped") or {}


# --- report.md --------------------------------------------------------------------------------------------------


def markdown(report: Report) -> str:
    m = report.metrics
    lines = [f"# Evaluation of {report.title}", "", f"- data: `{report.data}`", f"- metrics mode: **{m['mode']}**"]
    if "note" in m:
        lines.append(f"- note: {m['note']}")
    lines.append(f"- scored: {m['n']} samples; skipped by the metrics: {_skipped(m) or 'none'}")
    lines.append(
        f"- inputs read: {report.inputs.get('read', len(report.records))}; bad inputs: "
        f"{report.inputs.get('bad') or 'none'}"
    )
    if report.speed.get("new_tokens"):
        s = report.speed
        lines.append(
            f"- generation: {s['new_tokens']} tokens in {s['seconds']:.1f} s "
            f"({s['new_tokens'] / s['seconds']:.1f} tokens/s)"
        )
    for title, header, rows in tables(m):
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    ranked = report.ranked()
    loops = [r for r in ranked if looping(r)]
    lines += ["", f"## Looping outputs ({len(loops)})", ""]
    lines += [f"- `{r['id']}`: {loop_note(r)}" for r in loops] or ["none"]
    lines += ["", f"## Worst samples ({min(len(ranked), report.max_samples)} of {len(ranked)})"]
    for r in ranked[: report.max_samples]:
        lines += ["", f"### `{r['id']}` ({r['task']}, {r['lang']}): edit distance {edit_distance(r):.3f}"]
        for name in ("label", "pred"):
            text = r[name] if len(r[name]) <= EXCERPT else r[name][:EXCERPT] + " …"
            lines += ["", f"{name}:", "", "~~~~", text, "~~~~"]
    return "\n".join(lines) + "\n"


# --- report.html ------------------------------------------------------------------------------------------------


def _visible(changed: str) -> str:
    return changed.replace("\n", "↵\n")  # a changed line break would otherwise show as nothing


def diff_html(label: str, pred: str) -> tuple[str, str]:
    """Label and prediction as HTML, with what the prediction lacks (<del>) and adds (<ins>) marked."""
    a, b = [], []
    for op in Levenshtein.opcodes(label, pred):
        x, y = html.escape(label[op.src_start : op.src_end]), html.escape(pred[op.dest_start : op.dest_end])
        same = op.tag == "equal"
        a.append(x if same or not x else f"<del>{_visible(x)}</del>")
        b.append(y if same or not y else f"<ins>{_visible(y)}</ins>")
    return "".join(a), "".join(b)


def _data_uri(path: str | None) -> str:
    if not path or not Path(path).is_file():
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _table_html(title: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{html.escape(title)}</h2><table class='metrics'><tr>{head}</tr>{body}</table>"


def _sample_html(r: dict, mode: str) -> str:
    scores = score_pair(r["label"], r["pred"], mode=mode, kind=r["kind"])
    badge = f"<span class='loop' title='{html.escape(loop_note(r))}'>looping</span>" if looping(r) else ""
    if "skipped" in scores:
        summary = f"skipped by the metrics: {scores['skipped']}"
    else:
        summary = " · ".join(f"{c} {scores[c]:.3f}" for c in ("edit_dist", "f1", "bleu", "repetition"))
    label, pred = diff_html(r["label"], r["pred"])
    thumb = _data_uri(r.get("thumb"))
    img = f"<img src='{thumb}' alt='{html.escape(r['id'])}'>" if thumb else ""
    rendered = ""
    if r["task"] == "format":  # both as the label's kind, so that a broken prediction says why it is
        kind = detect_kind(r["label"])
        kind = "markdown" if kind == "text" else kind  # format targets are markdown, even one without markup
        rendered = (
            f"<div class='pair rendered'><div>{render_output(r['label'], kind)}</div>"
            f"<div>{render_output(r['pred'], kind)}</div></div>"
        )
    return (
        f"<section class='sample'><h3>{html.escape(r['id'])} <small>{html.escape(r['task'])} · "
        f"{html.escape(r['lang'])} · {html.escape(r['kind'])} · {html.escape(summary)}</small> {badge}</h3>"
        f"<div class='row'>{img}<div class='pair'><div><b>label</b><pre>{label}</pre></div>"
        f"<div><b>prediction</b><pre>{pred}</pre></div></div></div>{rendered}</section>"
    )


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}
table.metrics{border-collapse:collapse;margin:8px 0}
table.metrics td,table.metrics th{border:1px solid #ccc;padding:3px 8px;text-align:right}
table.metrics td:first-child{text-align:left}
.sample{border-top:1px solid #ddd;padding:10px 0}
.row{display:flex;gap:12px;align-items:flex-start}
.row img{max-width:256px;border:1px solid #ccc}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px;flex:1;min-width:0}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:6px;margin:4px 0}
del{background:#fcc;text-decoration:none}
ins{background:#cfc;text-decoration:none}
.loop{background:#c00;color:#fff;padding:1px 6px;border-radius:3px;font-size:12px}
.rendered>div{border:1px dashed #bbb;padding:6px;overflow-x:auto}
"""


def to_html(report: Report) -> str:
    m = report.metrics
    parts = [
        f"<h1>Evaluation of {html.escape(report.title)}</h1>",
        "<ul>",
        f"<li>data: <code>{html.escape(report.data)}</code></li>",
        f"<li>metrics mode: <b>{html.escape(m['mode'])}</b>{' — ' + html.escape(m['note']) if 'note' in m else ''}</li>",
        f"<li>scored {m['n']} samples; skipped by the metrics: {html.escape(json.dumps(_skipped(m)))}</li>",
        f"<li>inputs read: {report.inputs.get('read', len(report.records))}; bad inputs: "
        f"{html.escape(json.dumps(report.inputs.get('bad') or {}))}</li>",
    ]
    if report.speed.get("new_tokens"):
        s = report.speed
        parts.append(
            f"<li>generation: {s['new_tokens']} tokens in {s['seconds']:.1f} s "
            f"({s['new_tokens'] / s['seconds']:.1f} tokens/s)</li>"
        )
    parts.append("</ul>")
    parts += [_table_html(*t) for t in tables(m)]
    ranked = report.ranked()
    shown = ranked[: report.max_samples]
    parts.append(f"<h2>Samples ({len(shown)} of {len(ranked)}, worst first)</h2>")
    parts += [_sample_html(r, m["mode"]) for r in shown]
    return document(f"Evaluation of {report.title}", "".join(parts), STYLE)


def write_reports(report: Report, out: Path) -> None:
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    (out / "report.html").write_text(to_html(report), encoding="utf-8")
