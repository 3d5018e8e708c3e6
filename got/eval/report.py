"""The evaluation report: report.md, and report.html that opens offline as a single file.

The HTML inlines all it shows: thumbnails, KaTeX (script, stylesheet and fonts, from the npm package under
got.render.engines.NODE_DIR) and verovio's SVG. Format outputs are shown rendered: markdown through
markdown-it, math through KaTeX in the page, LaTeX tabular as an HTML table, **kern through verovio.
Samples are listed worst first (by edit distance), with the differences between label and prediction marked.
"""

import base64
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from PIL import Image
from rapidfuzz.distance import Levenshtein

from got.eval.metrics import DISPLAY, DOLLARS, INLINE, LOOP, TABLE, repetition, score_pair
from got.render import engines

KATEX = engines.NODE_DIR / "node_modules" / "katex" / "dist"
COLUMNS = ("edit_dist", "f1", "precision", "recall", "bleu", "meteor", "cer", "wer", "repetition", "looping")
THUMB_SIDE = 256
EXCERPT = 600  # characters of label and prediction quoted in report.md
MATH = re.compile("|".join(f"(?:{r.pattern})" for r in (DISPLAY, INLINE, DOLLARS)), re.S)  # groups 1, 2, 3
FORMATTED = re.compile(f"(?:{TABLE.pattern})|{MATH.pattern}", re.S)  # tables first: their cells may hold math
TABLE_RULES = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|cline\{[^}]*\})")
SPAN = re.compile(r"\\(multicolumn|multirow)\{(\d+)\}\{[^}]*\}\{(.*)\}\s*$", re.S)
LATEX_ESCAPES = re.compile(r"\\([%&_#$])")
VEROVIO = {"inputFrom": "humdrum", "pageWidth": 2100, "pageHeight": 60000, "adjustPageHeight": True, "scale": 40,
           "header": "none", "footer": "none"}  # fmt: skip


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
    overall = [["macro", str(metrics["n"]), *(_fmt(metrics["macro"].get(c, "")) for c in COLUMNS)],
               ["micro", str(metrics["n"]), *(_fmt(metrics["micro"].get(c, "")) for c in COLUMNS)]]  # fmt: skip
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
    lines.append(f"- inputs read: {report.inputs.get('read', len(report.records))}; bad inputs: "
                 f"{report.inputs.get('bad') or 'none'}")  # fmt: skip
    if report.speed.get("new_tokens"):
        s = report.speed
        lines.append(f"- generation: {s['new_tokens']} tokens in {s['seconds']:.1f} s "
                     f"({s['new_tokens'] / s['seconds']:.1f} tokens/s)")  # fmt: skip
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


def _tex(m: re.Match, first: int) -> str:
    """A KaTeX span for a MATH match whose groups start at `first` (display, inline, $$)."""
    display, inline, dollars = m[first], m[first + 1], m[first + 2]
    latex = html.escape(display or inline or dollars)
    return f'<span class="tex" data-display="{int(inline is None)}">{latex}</span>'


def _inline(text: str) -> str:
    """Escaped text with its math as KaTeX spans (a table cell)."""
    out, last = [], 0
    for m in MATH.finditer(text):
        out.append(html.escape(LATEX_ESCAPES.sub(r"\1", text[last : m.start()])))
        out.append(_tex(m, 1))
        last = m.end()
    return "".join(out) + html.escape(LATEX_ESCAPES.sub(r"\1", text[last:]))


def tabular_html(body: str) -> str:
    """The body of a LaTeX tabular (after \\begin{tabular}) as an HTML table; multicolumn and multirow become
    colspan and rowspan."""
    depth, start = 0, 0
    for i, c in enumerate(body):  # skip the column spec: a balanced {...} group
        depth += (c == "{") - (c == "}")
        if depth == 0:
            start = i + 1
            break
    rows = [r for r in re.split(r"(?<!\\)\\\\", TABLE_RULES.sub("", body[start:])) if r.strip()]
    out = ["<table class='tabular'>"]
    for row in rows:
        cells = []
        for cell in re.split(r"(?<!\\)&", row):
            span, cell = "", cell.strip()
            if m := SPAN.match(cell):
                span, cell = f" {'colspan' if m[1] == 'multicolumn' else 'rowspan'}='{m[2]}'", m[3]
            cells.append(f"<td{span}>{_inline(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def kern_svg(text: str) -> str:
    try:
        return engines.verovio(text, VEROVIO)[0]
    except engines.RenderError as e:  # malformed kern: the child died or refused it, the report goes on
        return f"<p class='note'>verovio could not engrave this: {html.escape(str(e))}</p>"


_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in outputs is shown, not run


def render_format(text: str) -> str:
    """A formatted output as HTML: **kern engraved, otherwise markdown with its math and tables."""
    if text.lstrip().startswith("**kern"):
        return kern_svg(text)
    pieces: list[str] = []

    def hold(m: re.Match) -> str:  # placeholders keep math and tables away from the markdown parser
        pieces.append(tabular_html(m[1]) if m[1] is not None else _tex(m, 2))
        return f"GOTPIECE{len(pieces) - 1}X"

    rendered = _markdown.render(FORMATTED.sub(hold, text))
    return re.sub(r"GOTPIECE(\d+)X", lambda m: pieces[int(m[1])], rendered)


def _katex() -> tuple[str, str]:
    """KaTeX's stylesheet (fonts inlined as data URIs) and script, or empty strings if it is not installed."""
    if not (KATEX / "katex.min.js").is_file():
        return "", ""
    css = (KATEX / "katex.min.css").read_text()

    def woff2(m: re.Match) -> str:
        data = base64.b64encode((KATEX / "fonts" / f"{m[1]}.woff2").read_bytes()).decode()
        return f'src:url(data:font/woff2;base64,{data}) format("woff2")'

    css = re.sub(r'src:url\(fonts/([\w-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("[^"]*"\))*', woff2, css)
    return css, (KATEX / "katex.min.js").read_text()


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
    if r["task"] == "format":
        rendered = (f"<div class='pair rendered'><div>{render_format(r['label'])}</div>"
                    f"<div>{render_format(r['pred'])}</div></div>")  # fmt: skip
    return (f"<section class='sample'><h3>{html.escape(r['id'])} <small>{html.escape(r['task'])} · "
            f"{html.escape(r['lang'])} · {html.escape(r['kind'])} · {html.escape(summary)}</small> {badge}</h3>"
            f"<div class='row'>{img}<div class='pair'><div><b>label</b><pre>{label}</pre></div>"
            f"<div><b>prediction</b><pre>{pred}</pre></div></div></div>{rendered}</section>")  # fmt: skip


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
.rendered svg{max-width:100%;height:auto}
table.tabular{border-collapse:collapse}
table.tabular td{border:1px solid #999;padding:2px 6px}
.note{color:#a60}
"""
SCRIPT = """
document.querySelectorAll('.tex').forEach(function (el) {
  katex.render(el.textContent, el, {displayMode: el.dataset.display === '1', throwOnError: false, strict: 'ignore'});
});
"""


def to_html(report: Report) -> str:
    m = report.metrics
    css, js = _katex()
    parts = [f"<h1>Evaluation of {html.escape(report.title)}</h1>", "<ul>",
             f"<li>data: <code>{html.escape(report.data)}</code></li>",
             f"<li>metrics mode: <b>{html.escape(m['mode'])}</b>{' — ' + html.escape(m['note']) if 'note' in m else ''}</li>",
             f"<li>scored {m['n']} samples; skipped by the metrics: {html.escape(json.dumps(_skipped(m)))}</li>",
             f"<li>inputs read: {report.inputs.get('read', len(report.records))}; bad inputs: "
             f"{html.escape(json.dumps(report.inputs.get('bad') or {}))}</li>"]  # fmt: skip
    if report.speed.get("new_tokens"):
        s = report.speed
        parts.append(f"<li>generation: {s['new_tokens']} tokens in {s['seconds']:.1f} s "
                     f"({s['new_tokens'] / s['seconds']:.1f} tokens/s)</li>")  # fmt: skip
    if not js:
        parts.append(f"<li class='note'>KaTeX is not installed under {KATEX}, so math shows as LaTeX source "
                     f"(npm install --prefix {engines.NODE_DIR} katex)</li>")  # fmt: skip
    parts.append("</ul>")
    parts += [_table_html(*t) for t in tables(m)]
    ranked = report.ranked()
    shown = ranked[: report.max_samples]
    parts.append(f"<h2>Samples ({len(shown)} of {len(ranked)}, worst first)</h2>")
    parts += [_sample_html(r, m["mode"]) for r in shown]
    script = f"<script>{js}</script><script>{SCRIPT}</script>" if js else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation of {html.escape(report.title)}"
            f"</title><style>{css}{STYLE}</style></head><body>{''.join(parts)}{script}</body></html>")  # fmt: skip


def write_reports(report: Report, out: Path) -> None:
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    (out / "report.html").write_text(to_html(report), encoding="utf-8")

