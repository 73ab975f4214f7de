"""GPU-scale generation on CPU: out-of-memory back-off (injected), memory options,
scoring that overlaps generation, and CPU thread planning."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.tiny_sd import tiny_components

from igmu_audit.config import load_config
from igmu_audit.devices import limit_cpu_threads, plan_threads
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.cache import ImageCache
from igmu_audit.pipelines.generation import GenerationSettings, generate, generate_pairs
from igmu_audit.pipelines.memory import BatchSizeReduced
from igmu_audit.pipelines.overlap import generate_scored

PROMPTS = ["a red circle", "a blue square"]
SETTINGS = GenerationSettings(steps=2, batch_size=4)


def _pipeline(
    fits: int | None = None, error: BaseException | None = None, delay: float = 0.0
) -> Any:
    """A tiny SD pipeline that runs out of memory above ``fits`` images per call."""
    from diffusers import StableDiffusionPipeline

    class Instrumented(StableDiffusionPipeline):
        calls: list[int]
        events: list[tuple[str, int]]

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            n = len(kwargs["prompt"])
            self.calls.append(n)
            if error is not None:
                raise error
            if fits is not None and n > fits:
                raise torch.cuda.OutOfMemoryError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB"
                )
            self.events.append(("start", len(self.calls)))
            time.sleep(delay)
            out = super().__call__(*args, **kwargs)
            self.events.append(("end", len(self.calls)))
            return out

    pipe = Instrumented(**tiny_components(0))
    pipe.calls, pipe.events = [], []
    return pipe


def test_out_of_memory_halves_the_batch_and_keeps_every_image(tmp_path: Path) -> None:
    reference = generate(
        _pipeline(), PROMPTS, [0, 1], settings=SETTINGS, progress=False
    )
    pipe = _pipeline(fits=1)
    cache = ImageCache(tmp_path / "cache")
    with pytest.warns(BatchSizeReduced) as record:
        images = generate(
            pipe, PROMPTS, [0, 1], settings=SETTINGS, cache=cache, progress=False
        )
    assert pipe.calls == [4, 2, 1, 1, 1, 1]
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "out of memory at batch size 4; retrying with 2" in messages[0]
    assert "out of memory at batch size 2; retrying with 1" in messages[1]
    for a, b in zip(reference, images, strict=True):
        assert a.key == b.key
        assert np.abs(a.pixels.astype(int) - b.pixels.astype(int)).max() <= 1
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 4


def test_out_of_memory_at_one_image_fails_with_advice_and_caches_nothing(
    tmp_path: Path,
) -> None:
    pipe = _pipeline(fits=0)
    with (
        pytest.raises(RuntimeError, match="single image; enable cpu_offload") as info,
        pytest.warns(BatchSizeReduced),
    ):
        generate(
            pipe,
            PROMPTS,
            [0],
            settings=SETTINGS,
            cache=ImageCache(tmp_path / "c"),
            progress=False,
        )
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    assert not list(tmp_path.rglob("*.png"))


def test_other_runtime_errors_are_not_retried() -> None:
    pipe = _pipeline(error=RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        generate(pipe, PROMPTS, [0], settings=SETTINGS, progress=False)
    assert pipe.calls == [2]


def test_cpu_offload_on_cpu_is_refused_before_any_image() -> None:
    pipe = _pipeline()
    with pytest.raises(ConfigError, match=r"cpu_offload.*CUDA"):
        generate(
            pipe,
            PROMPTS,
            [0],
            settings=GenerationSettings(steps=2, cpu_offload=True),
            progress=False,
        )
    assert pipe.calls == []


def test_attention_slicing_keeps_images_and_vae_tiling_is_keyed() -> None:
    plain = generate(_pipeline(), PROMPTS[:1], [0], settings=SETTINGS, progress=False)
    sliced = generate(
        _pipeline(),
        PROMPTS[:1],
        [0],
        settings=GenerationSettings(steps=2, attention_slicing=True),
        progress=False,
    )
    tiled = generate(
        _pipeline(),
        PROMPTS[:1],
        [0],
        settings=GenerationSettings(steps=2, vae_tiling=True),
        progress=False,
    )
    assert plain[0].key == sliced[0].key
    assert np.abs(plain[0].pixels.astype(int) - sliced[0].pixels.astype(int)).max() <= 1
    assert tiled[0].key != plain[0].key


def test_scoring_overlaps_generation_in_order() -> None:
    pipe = _pipeline(delay=0.3)
    scored_at: list[int] = []

    def score(batch: list) -> torch.Tensor:
        scored_at.append(sum(1 for e in pipe.events if e[0] == "end"))
        return torch.tensor([float(im.seed) for im in batch])

    pairs = [(p, s) for p in PROMPTS for s in (0, 1, 2)]
    images, scores = generate_scored(
        pipe,
        pairs,
        score,
        settings=GenerationSettings(steps=2, batch_size=2),
        progress=False,
    )
    assert [(im.prompt, im.seed) for im in images] == pairs
    assert scores.tolist() == [float(s) for _, s in pairs]
    # the first batch was scored before the last batch finished generating
    assert scored_at[0] < 3
    plain = generate_pairs(
        _pipeline(),
        pairs,
        settings=GenerationSettings(steps=2, batch_size=2),
        progress=False,
    )
    assert all(
        np.array_equal(a.pixels, b.pixels) for a, b in zip(images, plain, strict=True)
    )


def test_a_scoring_error_stops_generation_and_propagates() -> None:
    pipe = _pipeline(delay=0.2)

    def score(batch: list) -> torch.Tensor:
        raise ValueError("detector exploded")

    pairs = [(p, s) for p in PROMPTS for s in range(4)]
    with pytest.raises(ValueError, match="detector exploded"):
        generate_scored(
            pipe,
            pairs,
            score,
            settings=GenerationSettings(steps=2, batch_size=1),
            progress=False,
        )
    assert len(pipe.calls) < len(pairs)
    assert not any(t.name == "igmu-generate" for t in threading.enumerate())


def test_a_generation_error_reaches_the_caller() -> None:
    pipe = _pipeline(error=RuntimeError("boom in the denoiser"))
    with pytest.raises(RuntimeError, match="boom in the denoiser"):
        generate_scored(
            pipe,
            [("a", 0)],
            lambda b: torch.zeros(len(b)),
            settings=SETTINGS,
            progress=False,
        )


@pytest.mark.parametrize(
    ("cores", "workers", "busy", "explicit", "expected"),
    [
        (2, 1, 0.0, None, 2),
        (2, 1, 1.5, None, 1),  # a loaded 2-core machine: one thread, not two
        (2, 2, 0.0, None, 1),
        (16, 4, 0.0, None, 4),
        (16, 4, 12.0, None, 1),
        (16, 1, 0.0, "3", 3),
        (1, 8, 0.0, None, 1),
    ],
)
def test_thread_plan(
    cores: int, workers: int, busy: float, explicit: str | None, expected: int
) -> None:
    assert plan_threads(cores, workers, busy, explicit) == expected


def test_bad_explicit_thread_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="IGMU_CPU_THREADS"):
        plan_threads(2, 1, 0.0, "many")


def test_generation_outside_pytest_limits_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("IGMU_CPU_THREADS", "1")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    seen: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    generate(_pipeline(), PROMPTS[:1], [0], settings=SETTINGS, progress=False)
    assert seen == [1]
    assert limit_cpu_threads() == 1
    monkeypatch.undo()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("key", "value", "mentions"),
    [
        (
            "generation_args",
            {"orignal_size": [64, 64]},
            ["orignal_size", "original_size"],
        ),
        (
            "generation_args",
            {"max_sequence_length": 0},
            ["max_sequence_length", "[1, 512]"],
        ),
        ("generation_args", {"target_size": [64]}, ["target_size", "[height, width]"]),
        ("generation_args", {"true_cfg_scale": float("nan")}, ["true_cfg_scale"]),
        ("generation_args", "original_size=64", ["generation_args", "mapping"]),
        ("cpu_offload", "sometimes", ["cpu_offload", "true or false"]),
        ("vae_tiling", 1.5, ["vae_tiling"]),
    ],
)
def test_gpu_keys_are_range_checked(
    tmp_path: Path, key: str, value: object, mentions: list[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    import yaml

    spec.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, spec=str(spec))
    for text in mentions:
        assert text in str(info.value)


def test_gpu_keys_reach_the_generation_settings(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "generation_args: {original_size: [64, 64], max_sequence_length: 77}\nvae_tiling: true\n",
        encoding="utf-8",
    )
    settings = GenerationSettings.from_config(load_config(tmp_path, spec=str(spec)))
    assert settings.arguments == (
        ("max_sequence_length", 77),
        ("original_size", (64, 64)),
    )
    assert settings.vae_tiling
    assert not settings.cpu_offload


def test_an_audit_records_the_out_of_memory_back_off(audit_session) -> None:
    from igmu_audit import assert_forgotten

    with pytest.warns(BatchSizeReduced):
        result = assert_forgotten(
            _pipeline(fits=2),
            PROMPTS,
            detector=lambda images: torch.zeros(len(images)),
            seeds=[0, 1],
            max_rate=0.99,
            min_effective_prompts=1,
            interval="independent",
        )
    reduced = result.settings["batch_size_reduced"]
    # halved from the session's batch size until two images fit, each step recorded
    assert [r["to"] for r in reduced][-1] == 2
    assert all(r["to"] == r["from"] // 2 for r in reduced)
    assert result.to_json()["settings"]["batch_size_reduced"] == reduced
