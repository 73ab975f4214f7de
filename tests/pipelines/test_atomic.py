"""Atomic writes: the umask decides permissions, failures leave nothing, stale temps go."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from igmu_audit import _atomic
from igmu_audit._atomic import (
    STALE_TEMP_AGE_S,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temps,
)
from igmu_audit.pipelines.cache import ImageCache, cache_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_umask_permissions(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a" / "evidence.json", "{}")
        cache = ImageCache(tmp_path / "cache")
        pixels = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)
        png = cache.put(cache_key({"x": 1}), pixels, {})
    finally:
        os.umask(previous)
    for path in (tmp_path / "a" / "evidence.json", png, png.with_suffix(".json")):
        assert _mode(path) == 0o666 & ~umask, path


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def _aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"partial")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temps_are_swept_and_nothing_else(tmp_path: Path) -> None:
    old = STALE_TEMP_AGE_S + 60
    stale = _aged(tmp_path / ".k.png.0123456789abcdef.tmp", old)
    legacy = _aged(tmp_path / ".k.json.ab_c12x9.tmp", old)  # tempfile.mkstemp's names
    fresh = _aged(tmp_path / ".k.png.fedcba9876543210.tmp", 5)
    mine = _aged(tmp_path / ".notes.tmp", old)  # not a name this module writes
    entry = _aged(tmp_path / "k.png", old)
    assert remove_stale_temps(tmp_path) == 2
    assert not stale.exists()
    assert not legacy.exists()
    assert fresh.exists()
    assert mine.exists()
    assert entry.exists()
    assert remove_stale_temps(tmp_path / "missing") == 0


def test_the_cache_sweeps_on_open_and_on_first_write_to_a_folder(
    tmp_path: Path,
) -> None:
    old = STALE_TEMP_AGE_S + 60
    key = cache_key({"x": 2})
    folder = tmp_path / "images" / key[:2]
    folder.mkdir(parents=True)
    top = _aged(tmp_path / "images" / ".write-probe.0123456789abcdef.tmp", old)
    inner = _aged(folder / f".{key}.png.0123456789abcdef.tmp", old)
    cache = ImageCache(tmp_path)
    assert not top.exists()
    assert inner.exists()  # folders are swept only when written (cheap on big caches)
    pixels = np.random.default_rng(1).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    cache.put(key, pixels, {})
    assert not inner.exists()
    assert sorted(p.name for p in folder.iterdir()) == [f"{key}.json", f"{key}.png"]
