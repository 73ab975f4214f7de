"""Content-addressed image cache: one PNG and one JSON sidecar per generated image.

The key is the sha256 of every field that determines the image (model fingerprint,
prompt, negative prompt, seed, steps, guidance, scheduler, resolution, dtype), so a
re-run of the same audit generates nothing, and any change regenerates. Writes go to a
temp file in the same folder and are then ``os.replace``-d, so concurrent xdist workers
and killed runs never leave a half-written entry (the pattern of pytest's cache dir).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: bump when the generation protocol changes in a way that changes images
CACHE_FORMAT = 1


def cache_key(fields: Mapping[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of ``fields``."""
    canonical = json.dumps(
        {"format": CACHE_FORMAT, **fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 (H, W, 3) array."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached image: its uint8 pixels, the sidecar fields and the PNG path."""

    pixels: np.ndarray
    meta: dict[str, Any]
    path: Path


class ImageCache:
    """PNG + JSON sidecar store under ``root/images/<key[:2]>/<key>.{png,json}``.

    Safe to share between processes and machines on a shared filesystem: entries are
    immutable once written and every write is atomic.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"ImageCache({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    def paths(self, key: str) -> tuple[Path, Path]:
        """The PNG and sidecar paths for ``key``."""
        folder = self.root / "images" / key[:2]
        return folder / f"{key}.png", folder / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key``, or ``None``; an unreadable entry is a miss (and logged)."""
        from PIL import Image

        png, sidecar = self.paths(key)
        if not (png.is_file() and sidecar.is_file()):
            self.misses += 1
            return None
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            with Image.open(png) as im:
                pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if meta.get("key") != key:
                raise ValueError(f"sidecar key {meta.get('key')!r} != {key!r}")
        except (OSError, ValueError) as exc:
            log.warning(
                "igmu-audit: ignoring unreadable cache entry %s (%s); regenerating",
                png,
                exc,
            )
            self.misses += 1
            return None
        self.hits += 1
        return CacheEntry(pixels, meta, png)

    def put(self, key: str, pixels: np.ndarray, meta: Mapping[str, Any]) -> Path:
        """Store ``pixels`` and ``meta`` under ``key``; the PNG lands before its sidecar."""
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ValueError(
                f"cache stores uint8 (H, W, 3) images; got {pixels.dtype} {pixels.shape}"
            )
        png, sidecar = self.paths(key)
        atomic_write_bytes(png, encode_png(pixels))
        # The sidecar is the commit marker: an entry without it is invisible to get().
        body = json.dumps(
            {**meta, "key": key}, indent=2, sort_keys=True, ensure_ascii=False
        )
        atomic_write_bytes(sidecar, body.encode("utf-8"))
        return png
