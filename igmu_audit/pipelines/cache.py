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

The root is a folder or an fsspec URL (``s3://``, ``gs://``, ``file://``, ``memory://``);
``cache_store.py`` says how an entry becomes visible only when complete on a store that
cannot rename. Verification is the same for both.
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

from igmu_audit.errors import CacheError
from igmu_audit.pipelines.cache_store import LocalStore, is_url, open_store
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
    """A cached image: its uint8 pixels, the sidecar fields and the PNG path.

    ``path`` is ``None`` for a remote store (an object-store URL): nothing to open locally.
    """

    pixels: np.ndarray
    meta: dict[str, Any]
    path: Path | None


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


def _names(key: str) -> tuple[str, str]:
    folder = f"images/{key[:2]}"
    return f"{folder}/{key}.png", f"{folder}/{key}.json"


class ImageCache:
    """PNG + JSON sidecar store under ``root/images/<key[:2]>/<key>.{png,json}``.

    Safe to share between processes and machines on a shared filesystem or an object
    store: entries are immutable once written, every write is atomic (a folder) or
    committed by its sidecar (a URL), and every read is verified.
    Files get the permissions of the user's umask; temp files that killed writers
    left behind are swept once per folder and process, when the folder is written.

    Attributes:
        root: the folder (a ``Path``) or the URL (a ``str``).
        hits / misses: verified reads / absent or refused entries.
        writes: entries written by this object (each key once per generation).
    """

    def __init__(self, root: str | Path) -> None:
        self.root: Path | str = str(root) if is_url(root) else Path(root)
        self.store = open_store(root)
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._writable = False

    def __repr__(self) -> str:
        return f"ImageCache({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    @property
    def local_root(self) -> Path | None:
        """The root as a local folder, or ``None`` for a URL store."""
        if isinstance(self.store, LocalStore):
            return self.store.root
        return self.store.local_path("")

    def paths(self, key: str) -> tuple[Path, Path]:
        """The PNG and sidecar paths for ``key`` (a folder or ``file://`` cache only)."""
        png, sidecar = (self.store.local_path(n) for n in _names(key))
        if png is None or sidecar is None:
            raise CacheError(
                f"image cache {self.store.where!r} is remote: its entries have no local path"
            )
        return png, sidecar

    def _shown(self, name: str) -> str:
        local = self.store.local_path(name)
        return (
            str(local)
            if local is not None
            else f"{self.store.where.rstrip('/')}/{name}"
        )

    def check_writable(self) -> None:
        """Raise ``CacheError`` unless entries can be written under the root.

        Called before the first image is generated (so no batch is lost to a
        permission error) and by the plugin at session start; checked once per cache.

        Raises:
            CacheError: naming the folder, the OS error and the fix.
        """
        if self._writable:
            return
        try:
            self.store.probe()
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

        The sidecar (the commit marker) is read first, then the PNG it vouches for.

        Args:
            key: the cache key.
            resolution: the (height, width) the caller generates at; an entry of
                another size is not returned.

        Returns:
            The entry, or ``None`` when it is missing or fails verification (a
            warning names the path and what mismatched; the caller regenerates).
        """
        png, sidecar = _names(key)
        try:
            body = self.store.read(sidecar)
            data = self.store.read(png) if body is not None else None
            if body is None or data is None:
                self.misses += 1
                return None
            meta = json.loads(body.decode("utf-8"))
            pixels = _verify(key, meta, data, resolution)
        except (OSError, ValueError) as exc:
            log.warning(
                "igmu-audit: ignoring unverifiable cache entry %s (%s); regenerating",
                self._shown(png),
                exc,
            )
            self.misses += 1
            return None
        self.hits += 1
        return CacheEntry(pixels, meta, self.store.local_path(png))

    def put(self, key: str, pixels: np.ndarray, meta: Mapping[str, Any]) -> Path | None:
        """Store ``pixels`` and ``meta`` under ``key``; the PNG lands before its sidecar.

        Returns:
            The PNG's local path, or ``None`` for a remote store.

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
        png, sidecar = _names(key)
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
            self.store.write(png, data)
            # The sidecar is the commit marker: an entry without it is invisible to get().
            self.store.write(sidecar, body.encode("utf-8"))
        except OSError as exc:
            raise CacheError(
                f"could not write cache entry {self._shown(png)!r} "
                f"({type(exc).__name__}: {exc.strerror or exc}): {_FIX}"
            ) from exc
        self.writes += 1
        return self.store.local_path(png)
