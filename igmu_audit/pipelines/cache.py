"""Content-addressed image cache: one PNG and one JSON sidecar per generated image.

The key is the sha256 of every field that determines the image (model fingerprint,
prompt, negative prompt, seed, steps, guidance, scheduler, resolution, dtype), so a
re-run of the same audit generates nothing, and any change regenerates. Writes are
atomic (:mod:`igmu_audit._atomic`), so concurrent xdist workers and killed runs never
leave a half-written entry (the pattern of pytest's cache dir).

An entry is *verified* before it is scored: the sidecar records the PNG's sha256, size
and resolution, and ``get`` checks them, the resolution the caller asks for and that
the image is not constant. A swapped, truncated, resized or blank PNG is logged and
regenerated, never scored. (The digests catch accidents and naive tampering; whoever
can rewrite both files of a shared cache can still forge an entry, so share a cache
only with writers you trust.)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from igmu_audit._atomic import (
    atomic_write_bytes,
    probe_writable,
    remove_stale_temps,
)
from igmu_audit.errors import CacheError
from igmu_audit.pipelines.degenerate import constant_reason

__all__ = [
    "CACHE_FORMAT",
    "CacheEntry",
    "ImageCache",
    "cache_key",
    "encode_png",
]

log = logging.getLogger(__name__)

#: bump when the generation protocol or the entry layout changes; part of every key.
#: 2: sidecars record the PNG's sha256, size and resolution (entries are verified).
CACHE_FORMAT = 2

_FIX = (
    "point --igmu-cache-dir (ini igmu_cache_dir) at a writable folder, fix its "
    "permissions, or run with --igmu-no-cache"
)


def cache_key(fields: Mapping[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of ``fields``."""
    canonical = json.dumps(
        {"format": CACHE_FORMAT, **fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 (H, W, 3) array."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _decode_png(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if im.format != "PNG":
            raise ValueError(f"not a PNG ({im.format})")
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached image: its uint8 pixels, the sidecar fields and the PNG path."""

    pixels: np.ndarray
    meta: dict[str, Any]
    path: Path


def _verify(
    key: str,
    meta: Any,
    data: bytes,
    resolution: tuple[int, int] | None,
) -> np.ndarray:
    """The entry's pixels, or ``ValueError`` saying what does not match."""
    if not isinstance(meta, dict):
        raise ValueError(f"sidecar is a JSON {type(meta).__name__}, not an object")
    if meta.get("key") != key:
        raise ValueError(f"sidecar key {meta.get('key')!r} != {key!r}")
    if meta.get("format") != CACHE_FORMAT:
        raise ValueError(
            f"entry format {meta.get('format')!r}, this igmu-audit writes {CACHE_FORMAT}"
        )
    png = meta.get("png")
    if not isinstance(png, dict) or not all(
        k in png for k in ("sha256", "size", "height", "width")
    ):
        raise ValueError("sidecar lacks the PNG's sha256 / size / height / width")
    digest = hashlib.sha256(data).hexdigest()
    if digest != png["sha256"] or len(data) != png["size"]:
        raise ValueError(
            f"PNG content does not match its sidecar: sha256 {digest[:16]}.. "
            f"({len(data)} bytes) != {str(png['sha256'])[:16]}.. ({png['size']} bytes)"
        )
    pixels = _decode_png(data)
    shape = (pixels.shape[0], pixels.shape[1])
    if shape != (png["height"], png["width"]):
        raise ValueError(
            f"PNG is {shape[0]}x{shape[1]}, sidecar says {png['height']}x{png['width']}"
        )
    if resolution is not None and shape != tuple(resolution):
        raise ValueError(
            f"PNG is {shape[0]}x{shape[1]}, the generation settings ask for "
            f"{resolution[0]}x{resolution[1]}"
        )
    reason = constant_reason(pixels)
    if reason is not None:
        raise ValueError(reason)
    return pixels


class ImageCache:
    """PNG + JSON sidecar store under ``root/images/<key[:2]>/<key>.{png,json}``.

    Safe to share between processes and machines on a shared filesystem: entries are
    immutable once written, every write is atomic and every read is verified.
    Files get the permissions of the user's umask; temp files that killed writers
    left behind are swept once per folder and process, when the folder is written.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._writable = False
        self._swept: set[Path] = set()
        self._sweep(self.root / "images")

    def __repr__(self) -> str:
        return f"ImageCache({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    def _sweep(self, folder: Path) -> None:
        if folder not in self._swept:
            self._swept.add(folder)
            remove_stale_temps(folder)

    def paths(self, key: str) -> tuple[Path, Path]:
        """The PNG and sidecar paths for ``key``."""
        folder = self.root / "images" / key[:2]
        return folder / f"{key}.png", folder / f"{key}.json"

    def check_writable(self) -> None:
        """Raise ``CacheError`` unless entries can be written under the root.

        Called before the first image is generated (so no batch is lost to a
        permission error) and by the plugin at session start; checked once per cache.

        Raises:
            CacheError: naming the folder, the OS error and the fix.
        """
        if self._writable:
            return
        folder = self.root / "images"
        try:
            probe_writable(folder)
        except OSError as exc:
            raise CacheError(
                f"image cache {str(self.root)!r} is not writable "
                f"({type(exc).__name__}: {exc.strerror or exc}): {_FIX}"
            ) from exc
        self._writable = True

    def get(
        self, key: str, *, resolution: tuple[int, int] | None = None
    ) -> CacheEntry | None:
        """The verified entry for ``key``, or ``None``.

        Args:
            key: the cache key.
            resolution: the (height, width) the caller generates at; an entry of
                another size is not returned.

        Returns:
            The entry, or ``None`` when it is missing or fails verification (a
            warning names the path and what mismatched; the caller regenerates).
        """
        png, sidecar = self.paths(key)
        if not (png.is_file() and sidecar.is_file()):
            self.misses += 1
            return None
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            pixels = _verify(key, meta, png.read_bytes(), resolution)
        except (OSError, ValueError) as exc:
            log.warning(
                "igmu-audit: ignoring unverifiable cache entry %s (%s); regenerating",
                png,
                exc,
            )
            self.misses += 1
            return None
        self.hits += 1
        return CacheEntry(pixels, meta, png)

    def put(self, key: str, pixels: np.ndarray, meta: Mapping[str, Any]) -> Path:
        """Store ``pixels`` and ``meta`` under ``key``; the PNG lands before its sidecar.

        Raises:
            ValueError: not a uint8 (H, W, 3) image, or a constant one.
            CacheError: the entry could not be written (names the path and the fix).
        """
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ValueError(
                f"cache stores uint8 (H, W, 3) images; got {pixels.dtype} {pixels.shape}"
            )
        reason = constant_reason(pixels)
        if reason is not None:
            raise ValueError(f"cache refuses a degenerate image: {reason}")
        png, sidecar = self.paths(key)
        data = encode_png(pixels)
        record = {
            **meta,
            "key": key,
            "format": CACHE_FORMAT,
            "png": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "height": int(pixels.shape[0]),
                "width": int(pixels.shape[1]),
            },
        }
        body = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False)
        try:
            self._sweep(png.parent)
            atomic_write_bytes(png, data)
            # The sidecar is the commit marker: an entry without it is invisible to get().
            atomic_write_bytes(sidecar, body.encode("utf-8"))
        except OSError as exc:
            raise CacheError(
                f"could not write cache entry {str(png)!r} "
                f"({type(exc).__name__}: {exc.strerror or exc}): {_FIX}"
            ) from exc
        return png
