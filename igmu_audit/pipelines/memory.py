"""GPU-scale generation: memory options applied once per pipeline, and the OOM back-off.

Why here and not in loading: the options are run settings (``cpu_offload``,
``attention_slicing``, ``vae_tiling``), not part of what a model *is*; generation applies
them to the pipeline it is about to call, once. On CUDA out-of-memory the batch is
halved and retried: every image has its own generator, so a smaller batch draws the same
images, only slower; the reduction is warned about, never silent.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from igmu_audit.errors import ConfigError

logger = logging.getLogger("igmu_audit.pipelines")


class BatchSizeReduced(UserWarning):
    """Generation ran out of GPU memory and continued with a smaller batch."""


#: every back-off of this process, in order: an assertion records the ones it caused
#: (``reductions_since``) in its result's settings, so the record says it happened
REDUCTIONS: list[dict[str, Any]] = []


def reductions_since(mark: int) -> list[dict[str, Any]]:
    """The back-offs after the first ``mark`` (``len(REDUCTIONS)`` when an audit began)."""
    return [dict(r) for r in REDUCTIONS[mark:]]


def apply_memory_options(
    pipe: Any, *, cpu_offload: bool, attention_slicing: bool, vae_tiling: bool
) -> None:
    """Enable the asked-for memory savers on ``pipe``, once (later calls are no-ops).

    Raises:
        ConfigError: ``cpu_offload`` on a pipeline that is not on a CUDA device, or an
            option the pipeline does not support.
    """
    wanted = (cpu_offload, attention_slicing, vae_tiling)
    if getattr(pipe, "_igmu_memory_options", None) == wanted or not any(wanted):
        return
    cls = type(pipe).__name__
    if attention_slicing:
        if not hasattr(pipe, "enable_attention_slicing"):
            raise ConfigError(
                f"attention_slicing: {cls} does not support it; set it false"
            )
        pipe.enable_attention_slicing()
    if vae_tiling:
        vae = getattr(pipe, "vae", None)
        if vae is None or not hasattr(vae, "enable_tiling"):
            raise ConfigError(
                f"vae_tiling: {cls}'s VAE does not support tiling; set it false"
            )
        vae.enable_tiling()
    if cpu_offload:
        device = str(getattr(pipe, "device", "cpu"))
        if not device.startswith("cuda"):
            raise ConfigError(
                f"cpu_offload: model CPU offload moves each component to a CUDA device "
                f"only while it runs, but the pipeline is on {device!r}; set cpu_offload "
                "false or audit on a CUDA device (devices: cuda)"
            )
        pipe.enable_model_cpu_offload(device=device)
    object.__setattr__(pipe, "_igmu_memory_options", wanted)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device out-of-memory error (CUDA or a backend's RuntimeError)."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def reduced_batch(exc: BaseException, size: int, desc: str) -> int:
    """The batch size to retry with after ``exc``; re-raise when there is nothing to halve.

    Raises:
        BaseException: ``exc`` itself when it is not out-of-memory, or when one image
            alone does not fit (with advice chained on top).
    """
    if not is_out_of_memory(exc):
        raise exc
    if size <= 1:
        raise RuntimeError(
            "igmu-audit: out of GPU memory generating a single image; enable "
            "cpu_offload, attention_slicing or vae_tiling, use dtype float16/bfloat16, "
            "or lower resolution"
        ) from exc
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    smaller = max(1, size // 2)
    message = (
        f"igmu-audit: {desc}: out of memory at batch size {size}; retrying with "
        f"{smaller} (images are unchanged: one generator per image)"
    )
    logger.warning(message)
    REDUCTIONS.append({"where": desc, "from": size, "to": smaller})
    warnings.warn(message, BatchSizeReduced, stacklevel=3)
    return smaller
