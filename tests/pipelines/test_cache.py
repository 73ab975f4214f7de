"""The content-addressed cache: round trips, keys, atomic writes, damaged entries."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from igmu_audit._atomic import atomic_write_bytes
from igmu_audit.pipelines.cache import CACHE_FORMAT, ImageCache, cache_key


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(
        0, 256, size=(16, 16, 3), dtype=np.uint8
    )


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    key = cache_key({"prompt": "a red circle", "seed": 0})
    path = cache.put(key, image(0), {"prompt": "a red circle", "seed": 0})
    entry = cache.get(key)
    assert entry is not None
    np.testing.assert_array_equal(entry.pixels, image(0))
    data = path.read_bytes()
    assert entry.meta == {
        "prompt": "a red circle",
        "seed": 0,
        "key": key,
        "format": CACHE_FORMAT,
        "png": {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "height": 16,
            "width": 16,
        },
    }
    assert entry.path == path == tmp_path / "images" / key[:2] / f"{key}.png"
    assert (cache.hits, cache.misses) == (1, 0)


def test_key_is_canonical_and_sensitive() -> None:
    base = {"prompt": "a red circle", "seed": 0, "steps": 25}
    assert cache_key(base) == cache_key(dict(reversed(list(base.items()))))
    assert cache_key(base) != cache_key({**base, "seed": 1})
    assert cache_key(base) != cache_key({**base, "prompt": "a red circle "})
    assert len(cache_key(base)) == 64


def test_missing_entry_is_a_miss(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    assert cache.get(cache_key({"x": 1})) is None
    assert cache.misses == 1


def test_png_without_sidecar_is_invisible(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    key = cache_key({"x": 1})
    _, sidecar = cache.paths(key)
    cache.put(key, image(1), {})
    sidecar.unlink()
    assert cache.get(key) is None


def test_damaged_png_is_a_logged_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ImageCache(tmp_path)
    key = cache_key({"x": 2})
    png = cache.put(key, image(2), {})
    png.write_bytes(png.read_bytes()[:20])
    assert cache.get(key) is None
    assert "ignoring unverifiable cache entry" in caplog.text
    assert "(20 bytes)" in caplog.text


def test_sidecar_for_another_key_is_a_miss(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    key = cache_key({"x": 3})
    _, sidecar = cache.paths(key)
    cache.put(key, image(3), {})
    sidecar.write_text(json.dumps({"key": "0" * 64}))
    assert cache.get(key) is None


def test_failed_write_leaves_neither_file_nor_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a" / "x.png"

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"data")
    assert list((tmp_path / "a").iterdir()) == []


def test_rejects_non_uint8_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"):
        ImageCache(tmp_path).put("k" * 64, np.zeros((4, 4, 3), dtype=np.float32), {})


def _writer(root: str, key: str, rounds: int) -> None:
    cache = ImageCache(root)
    for _ in range(rounds):
        cache.put(key, image(7), {"who": os.getpid()})


def test_concurrent_writers_never_corrupt_an_entry(tmp_path: Path) -> None:
    key = cache_key({"shared": True})
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_writer, args=(str(tmp_path), key, 20)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    reader = ImageCache(tmp_path)
    seen = 0
    while any(p.is_alive() for p in procs):
        entry = reader.get(key)
        if entry is not None:
            np.testing.assert_array_equal(entry.pixels, image(7))
            seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    entry = reader.get(key)
    assert entry is not None
    np.testing.assert_array_equal(entry.pixels, image(7))
    leftovers = [
        p.name for p in (tmp_path / "images" / key[:2]).iterdir() if p.suffix == ".tmp"
    ]
    assert leftovers == []
