"""Score batch *i* while batch *i + 1* generates, so the detector never waits for the last one.

Generation runs in one background thread, which yields batches (``iter_generated``)
into a bounded queue; the calling thread scores each batch as it arrives. Why it stays
correct: every image keeps its own generator (the images do not depend on timing), the
scores are put back in the order the pairs were asked for, an exception on either side
stops the other and is re-raised in the caller with its own traceback, and the queue
holds at most two batches, so memory stays bounded however far generation runs ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GeneratedImage, GenerationSettings


class _Done:
    """The producer's last item: generation finished without an error."""


_DONE = _Done()


def _produce(
    batches: Iterable[list[GeneratedImage]],
    out: queue.Queue[list[GeneratedImage] | BaseException | _Done],
    stop: threading.Event,
) -> None:
    try:
        for batch in batches:
            while not stop.is_set():
                try:
                    out.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_DONE)
    except BaseException as exc:  # handed to the consumer, re-raised there
        out.put(exc)


def generate_scored(
    model: Any,
    pairs: Iterable[tuple[str, int]],
    score: Callable[[Sequence[GeneratedImage]], torch.Tensor],
    *,
    settings: GenerationSettings | None = None,
    cache: ImageCache | None = None,
    progress: bool = True,
    desc: str = "igmu-audit generating",
) -> tuple[list[GeneratedImage], torch.Tensor]:
    """Images of ``pairs`` and their scores, scoring each batch while the next generates.

    Args:
        model: a ``LoadedPipeline`` or a diffusers pipeline.
        pairs: (prompt, seed) pairs; duplicates are generated and scored once.
        score: scores a batch of images (one float per image), e.g. ``scoring.score``.
        settings: generation settings.
        cache: the image cache, or ``None``.
        progress: show the generation progress bar.
        desc: its label.

    Returns:
        One image per pair in the order given, and a float tensor of their scores.

    Raises:
        Whatever generation or ``score`` raised (the other side is stopped first).
    """
    import torch

    from igmu_audit.pipelines.generation import iter_generated

    pairs = [(str(p), int(s)) for p, s in pairs]
    batches = iter_generated(
        model, pairs, settings=settings, cache=cache, progress=progress, desc=desc
    )
    handoff: queue.Queue[list[GeneratedImage] | BaseException | _Done] = queue.Queue(
        maxsize=2
    )
    stop = threading.Event()
    worker = threading.Thread(
        target=_produce,
        args=(batches, handoff, stop),
        name="igmu-generate",
        daemon=True,
    )
    worker.start()
    images: dict[tuple[str, int], GeneratedImage] = {}
    scores: dict[tuple[str, int], float] = {}
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _Done):
                break
            if isinstance(item, BaseException):
                raise item
            values = torch.as_tensor(score(item), dtype=torch.float32).reshape(-1)
            for image, value in zip(item, values.tolist(), strict=True):
                images[(image.prompt, image.seed)] = image
                scores[(image.prompt, image.seed)] = value
    finally:
        stop.set()
        worker.join()
    ordered = [images[pair] for pair in pairs]
    return ordered, torch.tensor([scores[pair] for pair in pairs], dtype=torch.float32)
