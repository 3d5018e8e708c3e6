"""Are the rendered labels true to the images? Tesseract reads N clean (degradation off) plain-text document pages and
line slices per language; the character error rate against our targets must stay under 5% (English pages) and
10% (Chinese pages). Multi-column pages are read with Tesseract's automatic page segmentation, so a wrong reading
order in our targets shows up as errors. Tesseract's own mistakes count too: the CER is an upper bound on ours.

    python bench/label_fidelity.py            # 20 pages and 40 lines per language
    python bench/label_fidelity.py --quick    # 6 and 12
Writes bench/results/label_fidelity.json.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from got.render import document, effects, fidelity, sample_rng  # noqa: E402

LIMITS = {("en", "page"): 0.05, ("zh", "page"): 0.10}
TARGET_X_HEIGHT = 40  # px: Tesseract reads best at roughly this body size, so small text is upscaled first


def measure(args: tuple[str, str, int, int]) -> dict:
    lang, kind, seed, index = args
    cfg = document.DocumentConfig(langs=(lang,), kinds={kind: 1.0}, format_p=0.0, degrade=effects.DegradeConfig(p=0.0))
    sample = document.render_document(sample_rng(seed, index), cfg)
    scale = max(1.0, TARGET_X_HEIGHT / sample.extra["size"])
    text = fidelity.ocr(sample.images[0], lang, psm=3 if kind == "page" else 7 if kind == "line" else 6, scale=scale)
    return {
        "lang": lang,
        "kind": kind,
        "index": index,
        "cer": fidelity.cer(sample.text, text, lang),
        "chars": len(fidelity.normalize(sample.text, lang)),
        **sample.extra,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--lines", type=int, default=40)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "label_fidelity.json"))
    args = p.parse_args()
    pages, lines = (6, 12) if args.quick else (args.pages, args.lines)
    langs = [lang for lang in ("en", "zh") if fidelity.available(lang)]
    if not langs:
        sys.exit("tesseract with eng/chi_sim is not installed: run scripts/setup_system.sh")
    jobs = [
        (lang, kind, args.seed, i) for lang in langs for kind, n in (("page", pages), ("line", lines)) for i in range(n)
    ]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(measure, jobs))
    print(f"{'lang':5} {'kind':5} {'n':>4} {'CER (char-weighted)':>20} {'mean CER':>9} {'worst':>7} {'limit':>6}")
    summary = {}
    for lang in langs:
        for kind in ("page", "line"):
            got = [r for r in rows if r["lang"] == lang and r["kind"] == kind]
            weighted = sum(r["cer"] * r["chars"] for r in got) / max(1, sum(r["chars"] for r in got))
            mean = sum(r["cer"] for r in got) / len(got)
            limit = LIMITS.get((lang, kind))
            summary[f"{lang}/{kind}"] = {
                "n": len(got),
                "cer": weighted,
                "mean_cer": mean,
                "max_cer": max(r["cer"] for r in got),
                "limit": limit,
            }
            print(
                f"{lang:5} {kind:5} {len(got):4d} {weighted:20.4f} {mean:9.4f} {max(r['cer'] for r in got):7.3f} {limit or '-':>6}"
            )
    ok = all(s["cer"] < s["limit"] for s in summary.values() if s["limit"])
    print(f"{'PASS' if ok else 'FAIL'} ({time.time() - start:.0f} s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "samples": rows, "seed": args.seed}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
