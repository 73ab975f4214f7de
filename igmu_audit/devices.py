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
    if os.environ.get("IGMU_PHYSICAL_GPU"):
        return "cuda:0"  # pin_worker_gpu narrowed this worker to its one GPU
    index = worker_index(worker_id)
    choice = devices[index % len(devices)] if devices else "auto"
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return f"cuda:{index % torch.cuda.device_count()}"
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return "mps"
    return "cpu"


def pin_worker_gpu(
    devices: Sequence[str], worker_id: str | None, environ: dict[str, str] | None = None
) -> str | None:
    """Make this xdist worker see only its GPU, before CUDA is initialised.

    Maps the worker's ``cuda:N`` (round-robin over ``devices``; ``auto`` = over all GPUs)
    through an outer ``CUDA_VISIBLE_DEVICES`` to the physical id and narrows
    ``CUDA_VISIBLE_DEVICES`` to it, so every library in the worker (torch, onnxruntime)
    uses that GPU as ``cuda:0``. Returns the physical id, or ``None`` when the worker
    audits on the CPU or outside xdist.
    """
    env = os.environ if environ is None else environ
    if worker_id is None:
        return None
    index = worker_index(worker_id)
    choice = devices[index % len(devices)] if devices else "auto"
    outer = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if choice == "auto":
        count = len(outer) if "CUDA_VISIBLE_DEVICES" in env else _gpu_count()
        if count == 0:
            return None
        logical = index % count
    elif choice.startswith("cuda"):
        logical = int(choice.partition(":")[2] or 0)
    else:
        return None
    physical = outer[logical] if outer else str(logical)
    env["CUDA_VISIBLE_DEVICES"] = physical
    env["IGMU_PHYSICAL_GPU"] = physical
    return physical


def _gpu_count() -> int:
    # NVML-based count: does not create a CUDA context, so pinning still works afterwards.
    import torch

    return int(torch.cuda.device_count())


def plan_threads(
    cores: int, workers: int, busy: float = 0.0, explicit: str | None = None
) -> int:
    """How many intra-op threads one process should use.

    Args:
        cores: CPU cores this process may run on (its affinity mask).
        workers: processes sharing them (xdist workers; 1 in a plain run).
        busy: cores already kept busy by other processes (the 1-minute load average).
        explicit: ``IGMU_CPU_THREADS`` / ``OMP_NUM_THREADS`` when set; it wins.

    Why the load counts: torch's default (one thread per core) on a machine other jobs
    already load makes every thread wait for a core; on a loaded 2-core machine 8 toy
    images took 133 s with the default and 15 s with one thread (REFERENCE §6).
    """
    if explicit is not None and explicit.strip():
        try:
            value = int(explicit)
        except ValueError:
            value = 0
        if value < 1:
            from igmu_audit.errors import ConfigError

            raise ConfigError(
                "IGMU_CPU_THREADS / OMP_NUM_THREADS: expected an integer >= 1 but "
                f"got {explicit!r}"
            )
        return value
    free = max(1, cores - int(busy))
    return max(1, min(cores // max(1, workers), free // max(1, workers)))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy() -> float:
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)  # minus this process itself
    except (AttributeError, OSError):
        return 0.0


def limit_cpu_threads() -> int:
    """Set this process's torch threads (see :func:`plan_threads`); return the number.

    Applied by the session and by every generation call, so assertions used outside
    pytest do not oversubscribe the CPU either. ``IGMU_CPU_THREADS`` (else a set
    ``OMP_NUM_THREADS``) overrides the plan.
    """
    import torch

    explicit = os.environ.get("IGMU_CPU_THREADS") or os.environ.get("OMP_NUM_THREADS")
    threads = plan_threads(_cores(), worker_count(), _busy(), explicit)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
