"""Which device a process audits on, and how many CPU threads it may use.

Under pytest-xdist every worker is its own process with its own session fixtures, so
each worker is pinned to one device from the configured list (round-robin on its
index) before any model is loaded, and CPU threads are split between workers: on two
cores, two workers each using two threads run slower than one (REFERENCE §6).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence


def worker_index(worker_id: str | None = None) -> int:
    """The xdist worker index (``gw3`` -> 3), or 0 outside xdist."""
    worker = worker_id or os.environ.get("PYTEST_XDIST_WORKER", "")
    match = re.fullmatch(r"gw(\d+)", worker)
    return int(match[1]) if match else 0


def worker_count() -> int:
    """Number of xdist workers (1 outside xdist)."""
    return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))


def resolve_device(devices: Sequence[str], worker_id: str | None = None) -> str:
    """Pick this process's device from ``devices`` (``auto`` = next CUDA GPU, else cpu)."""
    index = worker_index(worker_id)
    choice = devices[index % len(devices)] if devices else "auto"
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return f"cuda:{index % torch.cuda.device_count()}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def limit_cpu_threads() -> int:
    """Share the CPU cores between xdist workers; return the threads this process uses."""
    import torch

    workers = worker_count()
    if workers == 1:
        return int(torch.get_num_threads())
    threads = max(1, (os.cpu_count() or 1) // workers)
    torch.set_num_threads(threads)
    return threads
