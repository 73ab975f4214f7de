"""Seeded generation through the cache: determinism, cache hits, what changes an image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from igmu_audit.pipelines.cache import ImageCache
from igmu_audit.pipelines.generation import (
    GenerationSettings,
    generate,
    generate_pairs,
    image_fields,
    to_batch,
)

SETTINGS = GenerationSettings(steps=3, guidance_scale=5.0, batch_size=4)
PROMPTS = ["a red circle", "a blue square", "a green triangle"]


@pytest.fixture
def counted(tiny_model, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the batch size of every real pipeline call."""
    calls: list[int] = []
    cls = type(tiny_model.pipeline)
    original = cls.__call__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(kwargs["prompt"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    return calls


def pixels(images) -> dict[tuple[str, int], np.ndarray]:  # type: ignore[no-untyped-def]
    return {(im.prompt, im.seed): im.pixels for im in images}


def test_image_depends_on_its_fields_not_on_batching(tiny_model) -> None:
    one_by_one = pixels(
        generate(
            tiny_model,
            PROMPTS,
            [0, 1],
            settings=replace(SETTINGS, batch_size=1),
            progress=False,
        )
    )
    batched = pixels(
        generate(
            tiny_model,
            PROMPTS,
            [0, 1],
            settings=replace(SETTINGS, batch_size=6),
            progress=False,
        )
    )
    pairs = [(p, s) for s in (1, 0) for p in reversed(PROMPTS)]
    shuffled = pixels(
        generate_pairs(
            tiny_model, pairs, settings=replace(SETTINGS, batch_size=4), progress=False
        )
    )
    for key, image in one_by_one.items():
        np.testing.assert_array_equal(image, batched[key])
        np.testing.assert_array_equal(image, shuffled[key])
    assert not np.array_equal(
        one_by_one[("a red circle", 0)], one_by_one[("a red circle", 1)]
    )


def test_second_run_hits_the_cache_and_generates_nothing(
    tiny_model, tmp_path: Path, counted: list[int]
) -> None:
    cache = ImageCache(tmp_path)
    first = generate(
        tiny_model, PROMPTS, [0, 1], settings=SETTINGS, cache=cache, progress=False
    )
    assert counted == [4, 2]
    assert not any(im.cached for im in first)
    second = generate(
        tiny_model, PROMPTS, [0, 1], settings=SETTINGS, cache=cache, progress=False
    )
    assert counted == [4, 2]
    assert all(im.cached for im in second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
        assert a.path == b.path
    # a new seed generates only the new images
    generate(
        tiny_model, PROMPTS, [0, 1, 2], settings=SETTINGS, cache=cache, progress=False
    )
    assert counted == [4, 2, 3]


def test_duplicates_are_generated_once(tiny_model, counted: list[int]) -> None:
    images = generate_pairs(
        tiny_model, [("a red circle", 0)] * 3, settings=SETTINGS, progress=False
    )
    assert counted == [1]
    assert len(images) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"steps": 4},
        {"guidance_scale": 3.0},
        {"negative_prompt": "blurry"},
        {"height": 24, "width": 24},
    ],
)
def test_every_generation_field_is_in_the_key(tiny_model, change: dict) -> None:
    base = image_fields(tiny_model, "a red circle", 0, SETTINGS)
    other = image_fields(tiny_model, "a red circle", 0, replace(SETTINGS, **change))
    assert base != other
    assert (
        image_fields(tiny_model, "a red circle", 0, replace(SETTINGS, batch_size=1))
        == base
    )


def test_sidecar_records_every_field(tiny_model, tmp_path: Path) -> None:
    import json

    (image,) = generate(
        tiny_model,
        ["a red circle"],
        [7],
        settings=SETTINGS,
        cache=ImageCache(tmp_path),
        progress=False,
    )
    meta = json.loads(image.path.with_suffix(".json").read_text())
    for field in (
        "model",
        "prompt",
        "negative_prompt",
        "seed",
        "steps",
        "guidance_scale",
        "scheduler",
        "height",
        "width",
        "dtype",
    ):
        assert field in meta
    assert meta["seed"] == 7
    assert meta["model"] == tiny_model.fingerprint
    assert meta["scheduler"].startswith("DDIMScheduler:")


def test_to_batch_is_the_canonical_layout(tiny_model) -> None:
    images = generate(tiny_model, PROMPTS[:2], [0], settings=SETTINGS, progress=False)
    batch = to_batch(images)
    assert batch.shape == (2, 3, 16, 16)
    assert float(batch.min()) >= 0.0
    assert float(batch.max()) <= 1.0
    np.testing.assert_allclose(
        batch[0].permute(1, 2, 0).numpy() * 255, images[0].pixels, atol=1e-4
    )
