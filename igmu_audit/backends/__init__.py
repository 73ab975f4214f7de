"""Generation backends: where the images that missed the cache are generated.

Generation (``pipelines/generation.py``) computes every image's cache key, serves
the cached ones and hands the rest to one seam, ``GenerationBackend.batches``; the
backend returns uint8 pixels and the device they came from, and generation caches
them (so each entry is written once, by the process that asked for it, whichever
backend drew it) and yields them to the scorer. Two backends:

- ``local`` (default): the pytest process (or xdist worker) runs its own pipeline.
- ``ray``: Ray actors, one per GPU (or CPU slot) of a cluster, each holding one loaded
  pipeline per model fingerprint (``ray_backend.py``).

Images depend only on their cache-key fields (one generator per image), never on the
backend, so verdicts and records are the same for both apart from the record's
``run.backend`` block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from igmu_audit.pipelines.generation import GenerationSettings

__all__ = [
    "BACKENDS",
    "GeneratedBatch",
    "GenerationBackend",
    "active_backend",
    "backend_problems",
    "each_once",
    "make_backend",
    "run_block",
]

#: accepted values of the ``backend`` setting
BACKENDS = ("local", "ray")


@dataclass(frozen=True, slots=True)
class GeneratedBatch:
    """Images a backend generated.

    Attributes:
        indices: positions of these images in the ``fields`` the backend was given.
        pixels: uint8 ``(N, H, W, 3)``, one per index, in the same order.
        device: where they were generated (``"cpu"``, ``"cuda:0"``, ``"ray:<node>/cuda"``).
    """

    indices: tuple[int, ...]
    pixels: np.ndarray
    device: str


class GenerationBackend(Protocol):
    """Turns image fields (``generation.image_fields``) into checked uint8 pixels."""

    name: str

    def batches(
        self,
        model: Any,
        fields: Sequence[Mapping[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> Iterator[GeneratedBatch]:
        """Generate every image of ``fields`` (all of one model), batch by batch.

        Raises:
            GenerationError: a degenerate image (nothing of its batch is returned).
        """

    def describe(self) -> dict[str, Any]:
        """The record's ``run.backend`` block (JSON types only)."""

    def close(self) -> None:
        """Release what the backend holds (Ray actors); called when the session ends."""


def make_backend(config: Any) -> GenerationBackend:
    """The backend an ``AuditConfig`` asks for (``backend``, ``ray_*`` settings).

    Raises:
        MissingDependencyError: ``backend: ray`` without the ``ray`` package.
    """
    name = getattr(config, "backend", "local")
    if name == "ray":
        from igmu_audit.backends.ray_backend import RayBackend

        return RayBackend.from_config(config)
    from igmu_audit.backends.local import LocalBackend

    return LocalBackend()


def each_once(
    backend: GenerationBackend,
    model: Any,
    fields: Sequence[Mapping[str, Any]],
    settings: GenerationSettings,
    desc: str,
) -> Iterator[GeneratedBatch]:
    """``backend.batches(...)``, refusing a backend that skips or repeats an image.

    Raises:
        GenerationError: an index returned twice or out of range, or images missing at
            the end (none of the missing ones was cached or scored).
    """
    from igmu_audit.errors import GenerationError

    left = set(range(len(fields)))
    for done in backend.batches(model, fields, settings, desc):
        if not set(done.indices) <= left or len(set(done.indices)) != len(done.indices):
            raise GenerationError(
                f"backend {backend.name!r} returned images {list(done.indices)} twice or "
                f"out of range (of {len(fields)})"
            )
        left -= set(done.indices)
        yield done
    if left:
        raise GenerationError(
            f"backend {backend.name!r} returned {len(fields) - len(left)} of {len(fields)} "
            "images; none of the missing ones was cached or scored"
        )


def active_backend() -> GenerationBackend:
    """The active session's backend, or ``local`` when no session is active.

    Assertions always have a session (the pytest run's, or one built from the cwd's
    config), so ``backend: ray`` applies to them; a bare ``generate(...)`` call outside
    any session generates locally rather than reading a config it was not given.
    """
    from igmu_audit import session

    active = session._current
    if active is None:
        from igmu_audit.backends.local import LocalBackend

        return LocalBackend()
    backend: GenerationBackend = active.backend
    return backend


def run_block(config: Any, started: GenerationBackend | None = None) -> dict[str, Any]:
    """The record's ``run.backend`` block: the live backend's, else planned from config.

    The live description (``started``: the backend this process generated with) names
    the actors and their devices; the controller of an xdist run never generates, so it
    reports the configuration and the cluster it checked at session start.
    """
    if started is not None:
        return started.describe()
    if getattr(config, "backend", "local") == "ray":
        from igmu_audit.backends.ray_preflight import planned_block

        return planned_block(config)
    return {"name": "local"}


def backend_problems(config: Any) -> list[str]:
    """Session-start problems with the configured backend (``[]``: none).

    ``backend: ray`` needs the ``ray`` package and a reachable cluster; an unreachable
    address is reported here, in seconds, not as a hang at the first generation.
    """
    if getattr(config, "backend", "local") != "ray":
        return []
    from igmu_audit.backends.ray_preflight import ray_problems

    return ray_problems(config)
