"""The Ray backend on a real local Ray cluster (2 CPUs, started once for this module).

Images from Ray actors must equal the local backend's bit for bit, survive a killed
actor with every cache entry written once, and give an audit whose record equals the
local one apart from ``run``.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from igmu_audit.backends.local import LocalBackend  # noqa: E402
from igmu_audit.backends.ray_backend import GenerationActor, RayBackend  # noqa: E402
from igmu_audit.config import load_config  # noqa: E402
from igmu_audit.errors import ConfigError  # noqa: E402
from igmu_audit.pipelines.cache import ImageCache  # noqa: E402
from igmu_audit.pipelines.generation import (  # noqa: E402
    GenerationSettings,
    generate_pairs,
    image_fields,
    iter_generated,
)
from igmu_audit.reporting.record import read_record  # noqa: E402

SETTINGS = GenerationSettings(steps=2, guidance_scale=5.0, batch_size=2)
PAIRS = [(f"a shape number {i}", seed) for i in range(3) for seed in (0, 1)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A real two-CPU Ray cluster; yields its address for backends and subprocesses."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")  # inherited by the actors' processes
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            namespace="igmu_audit",
        )
        try:
            yield str(ray.get_runtime_context().gcs_address)
        finally:
            ray.shutdown()


@pytest.fixture
def local_pixels(
    tiny_model: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[tuple[str, int], np.ndarray]:
    """The local backend's images (one torch thread, as each actor has)."""
    monkeypatch.setenv("IGMU_CPU_THREADS", "1")
    images = generate_pairs(
        tiny_model, PAIRS, settings=SETTINGS, progress=False, backend=LocalBackend()
    )
    return {(im.prompt, im.seed): im.pixels for im in images}


def backend_for(address: str, tmp_path: Path, actors: int) -> RayBackend:
    config = load_config(
        tmp_path,
        cli={"backend": "ray", "ray_address": address, "ray_actors": str(actors)},
    )
    return RayBackend.from_config(config)


@pytest.fixture(scope="module")
def pool(
    cluster: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayBackend]:
    """Two actors (one per CPU of the cluster), shared by the generation tests."""
    backend = backend_for(cluster, tmp_path_factory.mktemp("ray"), actors=2)
    try:
        yield backend
    finally:
        backend.close()  # frees both CPUs for the audit run's own actors


def test_two_actors_draw_the_local_images_into_a_memory_cache(
    pool: RayBackend,
    cluster: str,
    tiny_model: Any,
    local_pixels: dict[tuple[str, int], np.ndarray],
) -> None:
    cache = ImageCache(f"memory://igmu-ray-{uuid.uuid4().hex}/cache")
    images = generate_pairs(
        tiny_model, PAIRS, settings=SETTINGS, cache=cache, progress=False, backend=pool
    )
    for im in images:
        np.testing.assert_array_equal(im.pixels, local_pixels[(im.prompt, im.seed)])
        assert not im.cached
        assert im.path is None
    assert cache.writes == len(PAIRS)
    described = pool.describe()
    assert described["name"] == "ray"
    assert described["address"] == cluster
    assert described["actors"] == 2
    assert len(described["devices"]) == 2
    assert all(d.endswith("/cpu") for d in described["devices"])
    entry = cache.get(images[0].key)
    assert entry is not None
    assert entry.meta["device"].startswith("ray:")
    # A second pass is served by the cache alone: nothing generated, nothing written.
    again = generate_pairs(
        tiny_model,
        PAIRS,
        settings=SETTINGS,
        cache=cache,
        progress=False,
        backend=LocalBackend(),
    )
    assert all(im.cached for im in again)
    assert cache.writes == len(PAIRS)


def test_a_killed_actor_restarts_and_every_entry_is_written_once(
    pool: RayBackend,
    tiny_model: Any,
    local_pixels: dict[tuple[str, int], np.ndarray],
    tmp_path: Path,
) -> None:
    cache = ImageCache(f"file://{tmp_path}/cache")
    settings = replace(SETTINGS, batch_size=1)  # six batches, four in flight at a time
    victim = pool.pool[1]
    before = ray.get(victim.info.remote())["pid"]
    seen: dict[tuple[str, int], np.ndarray] = {}
    batches = iter_generated(
        tiny_model, PAIRS, settings=settings, cache=cache, progress=False, backend=pool
    )
    for n, batch in enumerate(batches):
        seen.update({(im.prompt, im.seed): im.pixels for im in batch})
        if n == 0:
            ray.kill(victim, no_restart=False)  # as a lost node would; Ray restarts it
    after = ray.get(victim.info.remote(), timeout=300)["pid"]
    assert after != before  # the actor really died and came back
    assert seen.keys() == local_pixels.keys()
    for pair, pixels in seen.items():
        np.testing.assert_array_equal(pixels, local_pixels[pair])
    assert cache.writes == len(PAIRS)
    folder = tmp_path / "cache" / "images"
    pngs = sorted(folder.rglob("*.png"))
    assert len(pngs) == len(PAIRS) == len(list(folder.rglob("*.json")))
    fresh = ImageCache(tmp_path / "cache")
    assert all(fresh.get(p.stem, resolution=(16, 16)) is not None for p in pngs)


def test_an_actor_refuses_a_model_that_is_not_the_drivers(tiny_model: Any) -> None:
    actor = GenerationActor(threads=1)
    fields = [image_fields(tiny_model, "p", 0, SETTINGS)]
    spec, dtype = tiny_model.spec.to_dict(), tiny_model.torch_dtype
    with pytest.raises(ConfigError, match="the model files differ"):
        actor.generate(spec, dtype, "sha256:" + "0" * 64, fields, SETTINGS, "t")
    changed = [{**fields[0], "scheduler": "PNDMScheduler:0"}]
    with pytest.raises(ConfigError, match=r"image fields differ.*scheduler"):
        actor.generate(spec, dtype, tiny_model.fingerprint, changed, SETTINGS, "t")
    pixels, device, reductions = actor.generate(
        spec, dtype, tiny_model.fingerprint, fields, SETTINGS, "t"
    )
    assert pixels.shape == (1, 16, 16, 3)
    assert pixels.dtype == np.uint8
    assert device.endswith("/cpu")
    assert reductions == []


def test_a_bare_pipeline_cannot_be_shipped(tiny_model: Any, tmp_path: Path) -> None:
    backend = backend_for("127.0.0.1:1", tmp_path, actors=1)
    fields = [image_fields(tiny_model, "p", 0, SETTINGS)]
    with pytest.raises(
        ConfigError, match=r"bare StableDiffusionPipeline.*load_pipeline"
    ):
        next(backend.batches(tiny_model.pipeline, fields, SETTINGS, "t"))


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Every leaf path where two JSON documents differ (readable when the test fails)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted({*a, *b})
            for d in differences(a.get(k), b.get(k), f"{where}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


AUDIT = """
import torch
from igmu_audit import assert_forgotten

def brightness(images):
    return images[:, 0].mean(dim=(1, 2)) * 1.6

def test_leak_rate(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["a red circle %d" % i for i in range(4)], detector=brightness,
                     max_rate=0.5, allow_inconclusive=True)
"""


def test_an_audit_through_ray_gives_the_local_record(
    pool: RayBackend,
    cluster: str,
    pytester: pytest.Pytester,
    tiny_sd_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool.close()  # the run starts its own two actors on the cluster's two CPUs
    monkeypatch.setenv(
        "IGMU_CPU_THREADS", "1"
    )  # the local run computes as each actor does
    pytester.makepyfile(test_audit=AUDIT)
    cache = pytester.path / "cache"
    common = (f"--igmu-model={tiny_sd_dir}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
              f"--igmu-cache-dir=file://{cache}", "-p", "no:cacheprovider")  # fmt: skip
    ray_run = pytester.runpytest_inprocess(
        *common, "--igmu-backend=ray", f"--igmu-ray-address={cluster}", "--igmu-ray-actors=2",
        "--igmu-record=ray.json",
    )  # fmt: skip
    written = sorted(p.name for p in cache.rglob("*.png"))
    # The local run draws every image afresh, at the same paths, into the same folders.
    shutil.rmtree(cache)
    shutil.rmtree(pytester.path / ".igmu" / "evidence")
    local_run = (
        pytester.runpytest_subprocess(  # evidence folders are claimed per process
            *common, "--igmu-record=local.json"
        )
    )
    assert ray_run.ret == local_run.ret, ray_run.stdout.str()
    ray_record, local_record = (
        read_record(pytester.path / f"{n}.json") for n in ("ray", "local")
    )
    assert len(written) == 8
    assert sorted(p.name for p in cache.rglob("*.png")) == written
    assert ray_record["audits"]
    assert ray_record["audits"][0]["checks"]
    assert (
        differences(
            {k: v for k, v in ray_record.items() if k != "run"},
            {k: v for k, v in local_record.items() if k != "run"},
        )
        == []
    )
    backend = ray_record["run"]["backend"]
    assert backend["name"] == "ray"
    assert backend["address"] == cluster
    assert backend["actors"] == 2
    assert len(backend["devices"]) == 2
    assert local_record["run"]["backend"] == {"name": "local"}
    sidecar = json.loads(
        next((cache / "images").rglob("*.json")).read_text(encoding="utf-8")
    )
    assert sidecar["device"] == "cpu"
