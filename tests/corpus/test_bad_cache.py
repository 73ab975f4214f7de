"""Bad-input corpus, image cache: a poisoned entry is never scored, a bad cache fails early.

Two kinds of case. A *poisoned entry* (swapped, truncated, resized, blank PNG; a wrong,
broken or old sidecar) is not an exception: ``get`` returns ``None`` with a warning that
names the path and what mismatched, and the next generation replaces it with a verified
entry. A *bad cache* (unwritable root, a file where a folder should be, a failing disk,
an image the cache must refuse) raises through the shared harness, before any image is
generated and without leaving a file behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from igmu_audit.errors import CacheError
from igmu_audit.pipelines.cache import CACHE_FORMAT, ImageCache, encode_png
from igmu_audit.pipelines.generation import GenerationSettings, generate

from .harness import Case, check_case, ids

SETTINGS = GenerationSettings(steps=2, guidance_scale=5.0, batch_size=2)
PROMPT = "a red circle"


# ---------------------------------------------------------------- poisoned entries


@dataclass(frozen=True)
class Entry:
    """One cached entry's files, and a second entry's (the swap source)."""

    png: Path
    sidecar: Path
    other_png: Path

    def meta(self) -> dict:
        return json.loads(self.sidecar.read_text())

    def write_meta(self, meta: object) -> None:
        self.sidecar.write_text(json.dumps(meta))

    def replace_png(self, data: bytes) -> None:
        """Replace the PNG *and* fix its digests: only resolution / content checks remain."""
        self.png.write_bytes(data)
        meta = self.meta()
        meta["png"].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        self.write_meta(meta)


def _png(size: int, fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(size).integers(0, 256, (size, size, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def _resized_consistently(e: Entry) -> None:
    e.replace_png(_png(32))
    meta = e.meta()
    meta["png"].update(height=32, width=32)
    e.write_meta(meta)


def _drop_sha(e: Entry) -> None:
    meta = e.meta()
    del meta["png"]["sha256"]
    e.write_meta(meta)


def _old_format(e: Entry) -> None:
    meta = e.meta()
    del meta["png"]
    e.write_meta({**meta, "format": 1})


def _format(value: object) -> Callable[[Entry], None]:
    def poison(e: Entry) -> None:
        e.write_meta({**e.meta(), "format": value})

    return poison


def _size_as_text(e: Entry) -> None:
    meta = e.meta()
    meta["png"]["size"] = str(meta["png"]["size"])
    e.write_meta(meta)


POISONS: dict[str, tuple[Callable[[Entry], None], str]] = {
    "png-swapped-with-another-entry": (lambda e: e.png.write_bytes(e.other_png.read_bytes()), "PNG content does not match its sidecar"),
    "png-truncated": (lambda e: e.png.write_bytes(e.png.read_bytes()[:-30]), "PNG content does not match its sidecar"),
    "png-zero-byte": (lambda e: e.png.write_bytes(b""), "(0 bytes)"),
    "png-one-byte-flipped": (lambda e: e.png.write_bytes(e.png.read_bytes()[:-1] + b"\0"), "PNG content does not match its sidecar"),
    "png-wrong-resolution": (lambda e: e.replace_png(_png(32)), "PNG is 32x32, sidecar says 16x16"),
    "png-resized-with-consistent-sidecar": (_resized_consistently, "PNG is 32x32, the generation settings ask for 16x16"),
    "png-is-a-jpeg": (lambda e: e.replace_png(_png(16, "JPEG")), "not a PNG (JPEG)"),
    "png-is-text": (lambda e: e.replace_png(b"not an image at all"), "cannot identify image"),
    "png-is-black": (lambda e: e.replace_png(encode_png(np.zeros((16, 16, 3), np.uint8))), "constant image: every pixel is (0, 0, 0)"),
    "png-is-one-colour": (lambda e: e.replace_png(encode_png(np.full((16, 16, 3), 90, np.uint8))), "constant image: every pixel is (90, 90, 90)"),
    "sidecar-wrong-key": (lambda e: e.write_meta({**e.meta(), "key": "0" * 64}), "sidecar key '0000"),
    "sidecar-not-json": (lambda e: e.sidecar.write_text("{not json"), "Expecting property name"),
    "sidecar-empty": (lambda e: e.sidecar.write_text(""), "Expecting value"),
    "sidecar-not-utf8": (lambda e: e.sidecar.write_bytes(b"\xff\xfe{}"), "codec can't decode"),
    "sidecar-json-list": (lambda e: e.write_meta([1, 2]), "sidecar is a JSON list, not an object"),
    "sidecar-missing-sha": (_drop_sha, "sidecar lacks the PNG's sha256"),
    "sidecar-old-format": (_old_format, f"entry format 1, this igmu-audit writes {CACHE_FORMAT}"),
    "sidecar-format-missing": (_format(None), "entry format None"),
    "sidecar-size-as-text": (_size_as_text, "PNG content does not match its sidecar"),
}  # fmt: skip


@pytest.fixture(scope="module")
def template(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding two verified entries (seeds 0 and 1), copied by each case."""
    root = tmp_path_factory.mktemp("cache-template")
    generate(tiny_model, [PROMPT], [0, 1], settings=SETTINGS, cache=ImageCache(root), progress=False)  # fmt: skip
    return root


@pytest.mark.parametrize("name", sorted(POISONS))
def test_poisoned_entry_is_never_scored_and_is_regenerated(
    name: str,
    tiny_model,
    template: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import shutil

    root = Path(shutil.copytree(template, tmp_path / "cache"))
    cache = ImageCache(root)
    (good, other) = generate(tiny_model, [PROMPT], [0, 1], settings=SETTINGS, cache=cache, progress=False)  # fmt: skip
    assert good.cached
    assert other.cached
    assert good.path is not None
    assert other.path is not None
    entry = Entry(good.path, good.path.with_suffix(".json"), other.path)
    poison, mismatch = POISONS[name]
    poison(entry)

    with caplog.at_level(logging.WARNING, logger="igmu_audit.pipelines.cache"):
        assert ImageCache(root).get(good.key, resolution=(16, 16)) is None
    assert str(entry.png) in caplog.text
    assert mismatch in caplog.text

    fresh = ImageCache(root)
    (again,) = generate(tiny_model, [PROMPT], [0], settings=SETTINGS, cache=fresh, progress=False)  # fmt: skip
    assert not again.cached
    np.testing.assert_array_equal(again.pixels, good.pixels)
    verified = ImageCache(root).get(good.key, resolution=(16, 16))
    assert verified is not None
    np.testing.assert_array_equal(verified.pixels, good.pixels)
    assert (
        verified.meta["png"]["sha256"]
        == hashlib.sha256(entry.png.read_bytes()).hexdigest()
    )


# ---------------------------------------------------------------- bad caches (raise)


def _pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)


def _root_is_a_file(tmp: Path) -> Callable:
    (tmp / "cache").write_text("I am a file")
    return ImageCache(tmp / "cache").check_writable


def _images_is_a_file(tmp: Path) -> Callable:
    (tmp / "cache").mkdir()
    (tmp / "cache" / "images").write_text("I am a file")
    return ImageCache(tmp / "cache").check_writable


def _parent_is_a_file(tmp: Path) -> Callable:
    (tmp / "shared").write_text("I am a file")
    return ImageCache(tmp / "shared" / "cache").check_writable


def _read_only_root(tmp: Path) -> Callable:
    (tmp / "cache").mkdir()
    (tmp / "cache").chmod(0o555)
    return ImageCache(tmp / "cache").check_writable


def _entry_folder_is_a_file(tmp: Path) -> Callable:
    cache = ImageCache(tmp / "cache")
    key = "ab" + "0" * 62
    png, _ = cache.paths(key)
    png.parent.parent.mkdir(parents=True)
    png.parent.write_text("I am a file")
    return lambda: cache.put(key, _pixels(), {})


def _disk_full(tmp: Path) -> Callable:
    cache = ImageCache(tmp / "cache")

    def call() -> None:
        with mock.patch.object(
            os, "replace", side_effect=OSError(28, "No space left on device")
        ):
            cache.put("cd" + "0" * 62, _pixels(), {})

    return call


def _generate_into_unwritable(tmp: Path) -> Callable:
    from helpers.tiny_sd import build_tiny_pipeline

    (tmp / "cache").write_text("I am a file")
    pipe = build_tiny_pipeline()
    return lambda: generate(pipe, [PROMPT], [0], settings=SETTINGS, cache=ImageCache(tmp / "cache"), progress=False)  # fmt: skip


def _put(pixels: np.ndarray) -> Callable[[Path], Callable]:
    return lambda tmp: (
        lambda: ImageCache(tmp / "cache").put("ef" + "0" * 62, pixels, {})
    )


FIX = ("--igmu-cache-dir", "--igmu-no-cache")
CASES = [
    Case("root-is-a-file", _root_is_a_file, CacheError, ("{tmp}/cache", "is not writable", *FIX)),
    Case("images-folder-is-a-file", _images_is_a_file, CacheError, ("{tmp}/cache", "is not writable", *FIX)),
    Case("parent-is-a-file", _parent_is_a_file, CacheError, ("{tmp}/shared/cache", "NotADirectoryError", *FIX)),
    Case("entry-folder-is-a-file", _entry_folder_is_a_file, CacheError, ("{tmp}/cache/images/ab/ab000", "could not write cache entry", *FIX)),
    Case("disk-full-mid-write", _disk_full, CacheError, ("{tmp}/cache/images/cd/cd000", "No space left on device", *FIX)),
    Case("generate-into-unwritable-cache", _generate_into_unwritable, CacheError, ("{tmp}/cache", *FIX)),
    Case("put-float-image", _put(np.zeros((8, 8, 3), np.float32)), ValueError, ("uint8 (H, W, 3)", "float32")),
    Case("put-rgba-image", _put(np.zeros((8, 8, 4), np.uint8)), ValueError, ("uint8 (H, W, 3)", "(8, 8, 4)")),
    Case("put-black-image", _put(np.zeros((8, 8, 3), np.uint8)), ValueError, ("refuses a degenerate image", "constant image")),
    Case("put-one-colour-image", _put(np.full((8, 8, 3), 200, np.uint8)), ValueError, ("constant image: every pixel is (200, 200, 200)",)),
]  # fmt: skip
if hasattr(os, "geteuid") and os.geteuid() != 0:  # root ignores file modes
    CASES.append(Case("read-only-root", _read_only_root, CacheError, ("{tmp}/cache", "PermissionError", *FIX)))  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_cache(case: Case, tmp_path: Path) -> None:
    try:
        check_case(case, tmp_path)
    finally:  # let pytest clean up after the read-only case
        if (tmp_path / "cache").is_dir():
            (tmp_path / "cache").chmod(0o755)


def test_unwritable_cache_fails_before_the_first_image(tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls: list[int] = []
    cls = type(tiny_model.pipeline)
    original = cls.__call__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(kwargs["prompt"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    (tmp_path / "cache").write_text("I am a file")
    with pytest.raises(CacheError, match="--igmu-no-cache"):
        generate(tiny_model, [PROMPT], [0, 1], settings=SETTINGS, cache=ImageCache(tmp_path / "cache"), progress=False)  # fmt: skip
    assert calls == []
