"""The image cache behind an fsspec URL: same verified entries, visible only when complete."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from igmu_audit.config import load_config
from igmu_audit.errors import CacheError, MissingDependencyError
from igmu_audit.pipelines.cache import ImageCache, cache_key
from igmu_audit.pipelines.cache_store import FsspecStore, LocalStore, is_url, open_store


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 256, size=(16, 16, 3), dtype=np.uint8
    )


def memory_url() -> str:
    return f"memory://igmu-test-{uuid.uuid4().hex}/cache"


@pytest.fixture(params=["memory", "file"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return memory_url() if request.param == "memory" else f"file://{tmp_path}/cache"


def test_roots_pick_their_store(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path), LocalStore)
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store("memory://x/cache"), FsspecStore)
    assert is_url("s3://bucket/cache")
    assert not is_url(str(tmp_path))
    assert not is_url(tmp_path)


def test_url_round_trip_is_verified_and_lossless(url: str) -> None:
    cache = ImageCache(url)
    cache.check_writable()
    key = cache_key({"prompt": "a red circle", "seed": 0})
    path = cache.put(key, image(0), {"prompt": "a red circle"})
    entry = ImageCache(url).get(key, resolution=(16, 16))
    assert entry is not None
    np.testing.assert_array_equal(entry.pixels, image(0))
    assert entry.meta["prompt"] == "a red circle"
    assert entry.meta["png"]["size"] > 0
    if url.startswith("file://"):
        assert path is not None
        assert path.is_file()
        assert entry.path == path
        assert cache.local_root == Path(url.removeprefix("file://"))
    else:
        assert path is None
        assert entry.path is None
        assert cache.local_root is None
        with pytest.raises(CacheError, match="is remote"):
            cache.paths(key)
    assert cache.writes == 1


def test_an_entry_is_visible_only_once_its_sidecar_is_complete(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ImageCache(url)
    key = cache_key({"prompt": "p", "seed": 1})
    cache.put(key, image(1), {})
    store = cache.store
    png_name, sidecar_name = (
        f"images/{key[:2]}/{key}.png",
        f"images/{key[:2]}/{key}.json",
    )
    png, sidecar = store.read(png_name), store.read(sidecar_name)
    assert png is not None
    assert sidecar is not None
    # A writer that died after the PNG: no sidecar, no entry.
    store.write(sidecar_name, sidecar[: len(sidecar) // 2])
    assert ImageCache(url).get(key) is None
    # A complete sidecar vouching for a PNG that is still partial: refused, logged.
    store.write(sidecar_name, sidecar)
    store.write(png_name, png[: len(png) // 2])
    assert ImageCache(url).get(key) is None
    assert "ignoring unverifiable cache entry" in caplog.text
    assert url.rstrip("/").split("://")[1].split("/")[-1] in caplog.text
    # Both complete again: verified.
    store.write(png_name, png)
    assert ImageCache(url).get(key, resolution=(16, 16)) is not None
    assert json.loads(sidecar)["png"]["sha256"]


def test_a_missing_filesystem_package_names_what_to_install() -> None:
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    with pytest.raises(MissingDependencyError, match="s3fs"):
        ImageCache("s3://bucket/cache")


def test_a_url_cache_dir_is_not_resolved_as_a_path(tmp_path: Path) -> None:
    config = load_config(tmp_path, cli={"cache_dir": "memory://bucket/cache"})
    assert config.cache_dir == "memory://bucket/cache"
    local = load_config(tmp_path, cli={"cache_dir": "cache"})
    assert Path(local.cache_dir).is_absolute()
