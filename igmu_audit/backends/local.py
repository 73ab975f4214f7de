"""The ``local`` backend: this process's pipeline generates, as igmu-audit always did.

``run_batches`` is also what each Ray actor runs on the batches it is handed, so the
two backends share one generation loop: the memory options, the out-of-memory
back-off (``memory.py``: a smaller batch draws the same images) and the degenerate
image check (``generation._checked_batch``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from igmu_audit.backends import GeneratedBatch

if TYPE_CHECKING:
    from igmu_audit.pipelines.generation import GenerationSettings

__all__ = ["LocalBackend", "prepare", "run_batches"]


def prepare(pipe: Any, settings: GenerationSettings) -> None:
    """Apply the memory options and silence diffusers' own progress bar."""
    from igmu_audit.pipelines.memory import apply_memory_options

    apply_memory_options(
        pipe,
        cpu_offload=settings.cpu_offload,
        attention_slicing=settings.attention_slicing,
        vae_tiling=settings.vae_tiling,
    )
    pipe.set_progress_bar_config(disable=True)


def run_batches(
    model: Any,
    fields: Sequence[Mapping[str, Any]],
    batch_size: int,
    desc: str,
    device: str,
) -> Iterator[GeneratedBatch]:
    """Generate ``fields`` in batches of ``batch_size``, halving it on out-of-memory."""
    from igmu_audit.pipelines import generation
    from igmu_audit.pipelines.memory import reduced_batch

    pipe, _ = generation.unwrap(model)
    size, start = batch_size, 0
    while start < len(fields):
        chunk = [dict(f) for f in fields[start : start + size]]
        try:
            pixels = generation._checked_batch(model, pipe, chunk)
        except (RuntimeError, MemoryError) as exc:
            size = reduced_batch(exc, size, desc)
            continue
        yield GeneratedBatch(tuple(range(start, start + len(chunk))), pixels, device)
        start += len(chunk)


class LocalBackend:
    """Generate in this process, on the model's own device."""

    name = "local"

    def batches(
        self,
        model: Any,
        fields: Sequence[Mapping[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> Iterator[GeneratedBatch]:
        """Batches of ``settings.batch_size`` from this process's pipeline."""
        from igmu_audit.devices import limit_cpu_threads
        from igmu_audit.pipelines.generation import unwrap

        pipe, _ = unwrap(model)
        limit_cpu_threads()  # also outside pytest: generation never oversubscribes the CPU
        prepare(pipe, settings)
        device = str(getattr(pipe, "device", "cpu"))
        yield from run_batches(model, fields, settings.batch_size, desc, device)

    def describe(self) -> dict[str, Any]:
        """``{"name": "local"}``: the workers and devices are in the rest of ``run``."""
        return {"name": "local"}

    def close(self) -> None:
        """Nothing to release: the pipeline belongs to the session."""
