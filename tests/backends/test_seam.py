"""The generation seam fails closed: a backend that skips or repeats an image is an error."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.backends import GeneratedBatch
from igmu_audit.backends.local import LocalBackend
from igmu_audit.errors import GenerationError
from igmu_audit.pipelines.cache import ImageCache
from igmu_audit.pipelines.generation import GenerationSettings, generate_pairs

SETTINGS = GenerationSettings(steps=2, batch_size=2)
PAIRS = [("a red circle", 0), ("a red circle", 1), ("a blue square", 0)]


class Dropping(LocalBackend):
    """The real local backend, losing the last image of every batch (a buggy backend)."""

    name = "dropping"

    def batches(
        self,
        model: Any,
        fields: Sequence[Mapping[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> Iterator[GeneratedBatch]:
        for done in super().batches(model, fields, settings, desc):
            yield GeneratedBatch(done.indices[:-1], done.pixels[:-1], done.device)


class Repeating(LocalBackend):
    """The real local backend, sending its first batch twice."""

    name = "repeating"

    def batches(
        self,
        model: Any,
        fields: Sequence[Mapping[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> Iterator[GeneratedBatch]:
        first = None
        for done in super().batches(model, fields, settings, desc):
            first = first or done
            yield done
        assert first is not None
        yield first


def test_missing_images_are_an_error_and_never_cached(
    tiny_model: Any, tmp_path: Path
) -> None:
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(GenerationError, match=r"'dropping' returned 1 of 3 images"):
        generate_pairs(tiny_model, PAIRS, settings=SETTINGS, cache=cache, progress=False, backend=Dropping())  # fmt: skip
    assert cache.writes == 1  # only the image the backend did return


def test_a_repeated_image_is_an_error(tiny_model: Any, tmp_path: Path) -> None:
    with pytest.raises(
        GenerationError, match=r"'repeating' returned images \[0, 1\] twice"
    ):
        generate_pairs(tiny_model, PAIRS, settings=SETTINGS, progress=False, backend=Repeating())  # fmt: skip
