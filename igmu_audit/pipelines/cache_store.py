"""Where the image cache keeps its bytes: a local folder, or any fsspec URL.

``ImageCache`` (``cache.py``) owns the entry format and its verification; a store only
reads and writes whole files by relative name (``images/ab/<key>.png``). Two stores:

- ``LocalStore``: a folder (local disk or a shared filesystem such as NFS / Lustre).
  Every write goes to a temp file in the same folder and is renamed into place, so a
  reader sees a whole file or none, exactly as before the store existed.
- ``FsspecStore``: a URL (``s3://``, ``gs://``, ``file://``, ``memory://``...) through
  fsspec. Object stores cannot rename atomically, so the design does not need it:
  each file is written with one whole-object put (S3 and GCS make an object visible
  only once its upload completed), the PNG before its sidecar, and readers read the
  sidecar first. The sidecar is the commit marker and carries the PNG's sha256 and
  size, so an entry is visible only when complete: a missing or truncated sidecar
  (a strict prefix of a JSON object never parses) is a miss, and a PNG that is
  missing, partial or from another writer fails its digest and is regenerated, never
  scored. Nothing is ever deleted, so there are no temp files to sweep.

Why a URL and not a mounted bucket: actors on other nodes and the pytest process
then share one cache without a shared POSIX filesystem.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from igmu_audit._atomic import atomic_write_bytes, probe_writable, remove_stale_temps
from igmu_audit.errors import MissingDependencyError

__all__ = ["CacheStore", "FsspecStore", "LocalStore", "is_url", "open_store"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(root: str | Path) -> bool:
    """Whether ``root`` names an fsspec URL (``scheme://...``) rather than a folder."""
    return isinstance(root, str) and bool(_URL.match(root))


class CacheStore(Protocol):
    """Whole-file reads and writes under one root, by ``/``-separated relative name."""

    #: how the root is shown in messages (a folder or a URL)
    where: str

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or ``None`` when it does not exist."""

    def write(self, name: str, data: bytes) -> None:
        """Write a whole file; a reader never sees part of it as a complete entry."""

    def probe(self) -> None:
        """Raise ``OSError`` unless files can be written under the root."""

    def local_path(self, name: str) -> Path | None:
        """A path a human (or PIL) can open, or ``None`` for a remote store."""


class LocalStore:
    """A folder; writes are temp file + rename (``igmu_audit._atomic``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.where = str(self.root)
        self._swept: set[Path] = set()
        self._sweep(self.root / "images")

    def _sweep(self, folder: Path) -> None:
        # Temp files that killed writers left: swept once per folder and process.
        if folder not in self._swept:
            self._swept.add(folder)
            remove_stale_temps(folder)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or ``None`` when it is not a file."""
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def write(self, name: str, data: bytes) -> None:
        """Atomically replace ``name`` with ``data``."""
        path = self.root / name
        self._sweep(path.parent)
        atomic_write_bytes(path, data)

    def probe(self) -> None:
        """Create ``images/`` and a temp file in it (``OSError`` when that fails)."""
        probe_writable(self.root / "images")

    def local_path(self, name: str) -> Path:
        """The file's path."""
        return self.root / name


class FsspecStore:
    """An fsspec URL; whole-object puts, visibility ordered by the sidecar (module doc)."""

    def __init__(self, url: str) -> None:
        import fsspec

        try:
            self.fs, base = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            scheme = url.split("://", 1)[0]
            raise MissingDependencyError(
                f"image cache {url!r}: fsspec cannot open {scheme}:// URLs here ({exc}); "
                f"install the filesystem package for it (s3fs for s3://, gcsfs for gs://)"
            ) from exc
        self.base = str(base).rstrip("/")
        self.where = url
        protocols = self.fs.protocol
        names = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        self._local = "file" in names or "local" in names

    def _path(self, name: str) -> str:
        return f"{self.base}/{name}"

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist."""
        try:
            data: Any = self.fs.cat_file(self._path(name))
        except FileNotFoundError:
            return None
        except OSError:
            raise
        except Exception as exc:  # fsspec backends raise their own types
            raise OSError(f"{type(exc).__name__}: {exc}") from exc
        return bytes(data)

    def write(self, name: str, data: bytes) -> None:
        """One whole-object put (``pipe_file``); parent folders where the store has them."""
        path = self._path(name)
        try:
            if self._local:
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)
        except OSError:
            raise
        except Exception as exc:  # fsspec backends raise their own types
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    def probe(self) -> None:
        """Write, read back and remove a small probe object under ``images/``."""
        path = self._path("images/.igmu-probe")
        try:
            self.write("images/.igmu-probe", b"igmu-audit write probe")
            if self.read("images/.igmu-probe") != b"igmu-audit write probe":
                raise OSError(f"the probe object {path} did not read back")
            self.fs.rm_file(path)
        except OSError:
            raise
        except Exception as exc:  # fsspec backends raise their own types
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    def local_path(self, name: str) -> Path | None:
        """The file's path for ``file://`` URLs; ``None`` for remote stores."""
        return Path(self._path(name)) if self._local else None


def open_store(root: str | Path) -> LocalStore | FsspecStore:
    """The store for a cache root: a URL through fsspec, anything else a folder.

    Raises:
        MissingDependencyError: the URL's filesystem package (s3fs, gcsfs...) is missing.
    """
    if is_url(root):
        return FsspecStore(str(root))
    return LocalStore(root)
