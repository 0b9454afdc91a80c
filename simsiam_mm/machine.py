"""One line describing the machine a measurement ran on, for the tables the analysis tools write."""
import os
import platform
from pathlib import Path

import torch


def machine_description(threads: int | None = None) -> str:
    """CPU model, core count, load at the start (the CPU may be shared), torch threads and version.

    Examples:
        >>> machine_description(2)  # doctest: +SKIP
        'Intel(R) Xeon(R) Processor, 2 cores (1-min load average 0.3 at the start), 2 torch thread(s), torch 2.14.1'
    """
    model = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    threads = torch.get_num_threads() if threads is None else threads
    return (f'{model}, {os.cpu_count()} cores (1-min load average {load:.1f} at the start), {threads} torch '
            f'thread(s), torch {torch.__version__}')
