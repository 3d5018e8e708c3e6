"""Rendering speed per type, on one core: samples per wall-clock second of one process, and samples per CPU second
(the process plus its MathJax/verovio children), which is what one core sustains when the machine is shared; and
the share of the wall time spent sampling the content (the rest is drawing it).
Targets: documents >= 10/s/core, other types >= 20/s/core.

    python bench/render.py            # ~12 s of rendering per type
    python bench/render.py --quick    # ~3 s per type (< 3 min in all)
    python bench/render.py --sheet docs/render-contact-sheet.png   # 2 samples of every type, no timing
Writes bench/results/render.json.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from got.render import RENDERERS, engines, render, sample_rng  # noqa: E402

TARGETS = {"document": 10.0}  # samples/s/core (issue 5); every other type, multi-page and multi-crop included: 20


def cpu_seconds() -> float:
    """CPU time of this process and of its live engine children (read from /proc)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for worker in engines._workers.values():
        if worker.proc is not None and worker.proc.poll() is None:
            fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def bench(name: str, seconds: float, seed: int) -> dict:
    for i in range(3):  # warm-up: corpora, fonts, engine children (and render()'s GC freeze)
        render(name, sample_rng(seed, -1 - i))
    r, cfg = RENDERERS[name], RENDERERS[name].config()
    n, pages, failed, sampling, start, cpu0 = 0, 0, 0, 0.0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds or n < 5:
        try:
            t0 = time.perf_counter()
            content = r.sample(sample_rng(seed, n), cfg)
            sampling += time.perf_counter() - t0
            pages += r.draw(content).extra.get("pages", 1)
        except engines.RenderError:
            failed += 1
        n += 1
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    target = TARGETS.get(name, 20.0)
    return {
        "samples": n,
        "failed": failed,
        "per_s": n / wall,
        "per_cpu_s": n / cpu,
        "pages_per_cpu_s": pages / cpu,
        "sample_share": sampling / wall,
        "target": target,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--types", default=",".join(RENDERERS))
    p.add_argument("--seconds", type=float, default=12.0, help="rendering time per type")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "render.json"))
    p.add_argument("--sheet", help="write a contact sheet of every type to this PNG instead of timing")
    args = p.parse_args()
    if args.sheet:
        from got.data.gallery import contact_sheet

        names = args.types.split(",")
        picked = [
            (name, render(name, sample_rng(args.seed, 2 * t + i))) for t, name in enumerate(names) for i in range(2)
        ]
        contact_sheet(picked, thumb=320, columns=6).save(args.sheet, optimize=True)
        return
    seconds = 3.0 if args.quick else args.seconds
    load0 = os.getloadavg()
    results = {}
    print(
        f"{'type':12} {'samples':>7} {'fail':>4} {'per s (wall)':>12} {'per CPU s':>10} {'pages/CPU s':>11} {'sampling':>8} {'target':>6}"
    )
    for name in args.types.split(","):
        r = results[name] = bench(name, seconds, args.seed)
        ok = "ok" if r["per_cpu_s"] >= r["target"] else "BELOW"
        print(
            f"{name:12} {r['samples']:7d} {r['failed']:4d} {r['per_s']:12.1f} {r['per_cpu_s']:10.1f} {r['pages_per_cpu_s']:11.1f} {r['sample_share']:8.1%} {r['target']:6.0f} {ok}"
        )
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} -> {load1[0]:.2f} on {os.cpu_count()} cores")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpu_count": os.cpu_count(),
        "load_before": load0,
        "load_after": load1,
        "python": platform.python_version(),
        "processor": platform.processor(),
    }
    Path(args.out).write_text(
        json.dumps({"machine": machine, "seconds_per_type": seconds, "results": results}, indent=1)
    )


if __name__ == "__main__":
    main()
