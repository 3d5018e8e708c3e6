"""What the bench scripts share: each variant runs in its own subprocess, so its peak resident memory is its own.

Two memory figures per variant:
- `peak_mib`: the worker resets the kernel's peak counter (VmHWM) just before its timed passes and reports the
  rise above the resident size at that moment: activations, gradients and workspace, not the weights or the
  interpreter. It is what the machine saw, but glibc keeps some freed blocks mapped and the rest depends on how
  they fragment, so it moves by about ±10% between runs of the same code.
- `tensor_peak_mib`: one more pass under the torch profiler, which records every tensor allocation and free; the
  highest total of live tensor bytes above those live when the pass starts. This is what
  `torch.cuda.max_memory_allocated` reports on a GPU, and it is the same in every run.
On a CUDA device both come from the caching allocator instead, above what it held when the timed passes start:
`peak_mib` from max_memory_reserved (what the process took from the GPU), `tensor_peak_mib` from
max_memory_allocated; and each timed pass ends with a synchronize, so that it times the kernels, not their launch.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def tensor_peak_mib(step: Callable[[], object]) -> float:
    """The most live CPU tensor memory one call of `step` adds (MiB), from the profiler's allocation events."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = prof.profiler.kineto_results.events()
    cpu = torch.autograd.DeviceType.CPU
    deltas = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type() == cpu)
    live = peak = 0
    for _, nbytes in deltas:
        live += nbytes
        peak = max(peak, live)
    return peak / 2**20


def measure(step: Callable[[], object], iters: int, warmup: bool, device: str = "cpu") -> dict:
    """Median seconds of `step` over iters and the peak memory it added (MiB, both figures of the module
    docstring; on CPU the tensor peak from one more call); returns step's result from the timed calls."""
    cuda = torch.device(device).type == "cuda"
    if warmup:
        step()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_reserved(device), torch.cuda.memory_allocated(device)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
        base = memory_kib("VmRSS")
    times, result = [], None
    for _ in range(iters):
        start = time.perf_counter()
        result = step()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    if cuda:
        peak = (torch.cuda.max_memory_reserved(device) - base[0]) / 2**20
        tensors = (torch.cuda.max_memory_allocated(device) - base[1]) / 2**20
    else:
        peak, tensors = (memory_kib("VmHWM") - base) / 1024, tensor_peak_mib(step)
    return {"seconds": sorted(times)[len(times) // 2], "peak_mib": peak, "tensor_peak_mib": tensors, "result": result}


def run_worker(script: str, args: list[str]) -> dict:
    """Run `script --variant ... args` in a fresh interpreter; its last stdout line is its JSON report."""
    result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_report(report: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))


def write_results(out: Path, results: list[dict], **settings) -> None:
    """A bench's JSON: its rows, and its settings with the machine's state beside them. Written after every row, so
    a run cut short keeps what it measured."""
    meta = {**settings, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "torch": torch.__version__}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
