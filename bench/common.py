"""What the bench scripts share: each variant runs in its own subprocess, so its peak resident memory is its own.

A worker resets the kernel's peak counter (VmHWM) just before its timed passes and reports the rise above the
resident size at that moment: activations, gradients and workspace, not the weights or the interpreter.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(step: Callable[[], object], iters: int, warmup: bool) -> dict:
    """Median seconds of `step` over iters, and the peak memory it added (MiB); returns step's last result."""
    if warmup:
        step()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    base = memory_kib("VmRSS")
    times, result = [], None
    for _ in range(iters):
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
    return {"seconds": sorted(times)[len(times) // 2], "peak_mib": (memory_kib("VmHWM") - base) / 1024, "result": result}


def run_worker(script: str, args: list[str]) -> dict:
    """Run `script --variant ... args` in a fresh interpreter; its last stdout line is its JSON report."""
    result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_report(report: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))
