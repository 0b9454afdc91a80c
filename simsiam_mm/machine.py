"""The machine a measurement ran on: one line for the tables the analysis tools write, the same as JSON fields, and
its matmul peak (what achieved FLOP/s are compared against)."""
import os
import platform
import time
from pathlib import Path

import torch


def machine_description(threads: int | None = None) -> str:
    """CPU model, core count, load at the start (the CPU may be shared), torch threads and version.

    Examples:
        >>> machine_description(2)  # doctest: +SKIP
        'Intel(R) Xeon(R) Processor, 2 cores (1-min load average 0.3 at the start), 2 torch thread(s), torch 2.14.1'
    """
    model = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    threads = torch.get_num_threads() if threads is None else threads
    return (f'{model}, {os.cpu_count()} cores (1-min load average {load:.1f} at the start), {threads} torch '
            f'thread(s), torch {torch.__version__}')


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere what :mod:`platform` says)."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(threads: int | None = None) -> dict:
    """The same description as fields, for a tool's JSON: ``device`` (the GPU's name, else the CPU model),
    ``cpu_count``, ``threads`` (torch) and ``torch`` (version)."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_model()
    return dict(device=device, cpu_count=os.cpu_count(),
                threads=torch.get_num_threads() if threads is None else threads, torch=torch.__version__)


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> dict[str, float]:
    """The machine's achievable FLOP/s per dtype (float32, bfloat16): best of ``reps`` timings of an n x n
    ``torch.mm``."""
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        best = float('inf')
        for _ in range(reps):
            t = time.perf_counter()
            torch.mm(a, b)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        peaks[str(dtype).replace('torch.', '')] = 2 * n ** 3 / best
    return peaks
