"""The one home of atomic file writes, without numpy or torch: temp file, fsync, rename.

A reader (another xdist worker, a CI job sharing the cache, a person opening the
evidence) sees either the old file or the complete new one, never half of one, and
``kill -9`` leaves at most a hidden ``.<name>.<16 hex>.tmp`` that
:func:`remove_stale_temps` sweeps later (STYLE 2.6 "Writes", pytest's cache dir). The
verdict record and its ``merge`` command write through here too, so ``merge`` stays
importable on a CI runner that has neither numpy nor torch. The temp file is created
with mode ``0o666`` so the kernel applies the umask: the final file gets the same
permissions as any file the user creates (``tempfile.mkstemp`` would force ``0o600``
and lock colleagues out of a shared cache or evidence folder).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import time
from pathlib import Path
from typing import Any

#: test hook: ``IGMU_AUDIT_TEST_KILL_AT=<point>`` SIGKILLs the process at that point
#: (tests/faults/test_kill_cycles.py uses it to kill "during the record write")
KILL_AT_ENV = "IGMU_AUDIT_TEST_KILL_AT"
#: Suffix of every temp file this module creates (``.<name>.<16 hex>.tmp``).
TEMP_SUFFIX = ".tmp"
#: A temp file older than this is a leftover of a killed writer: a live write takes
#: milliseconds, so an hour leaves a wide margin for slow shared filesystems.
STALE_TEMP_AGE_S = 3600.0

# Ours: ``.<name>.<16 hex>.tmp``; also tempfile.mkstemp's ``.<name>.<8 chars>.tmp``,
# the layout igmu-audit used before this module existed.
_TEMP_NAME = re.compile(r"^\..+\.(?:[0-9a-f]{16}|[a-z0-9_]{8})\.tmp$")
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def kill_point(name: str) -> None:
    """Test hook only: die here, as ``kill -9`` would, when ``IGMU_AUDIT_TEST_KILL_AT=name``."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _open_temp(folder: Path, name: str) -> tuple[int, Path]:
    # O_EXCL with a random name: no clobbering another writer's temp, no symlink
    # following; mode 0o666 lets the umask decide the final permissions.
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a unique temp file next to {name!r}")


def atomic_write_bytes(
    path: str | Path, data: bytes, *, kill_at: str | None = None
) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename.

    The folder is created if needed. On any failure (disk full, interrupt) the temp
    file is removed and ``path`` keeps its previous content. ``kill_at`` names the
    test hook point reached after the temp file is written and before the rename (the
    moment a crash would leave a half-written file behind).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if kill_at is not None:
            kill_point(kill_at)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path, data: Any, *, kill_at: str | None = None) -> None:
    """Atomically write ``data`` as indented UTF-8 JSON (NaN and inf refused: not JSON)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"), kill_at=kill_at)


def probe_writable(folder: str | Path) -> None:
    """Create ``folder`` and a temp file in it, then remove the temp file.

    Raises:
        OSError: the folder cannot be created or written (the caller words the fix).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(folder, "write-probe")
    os.close(fd)
    tmp.unlink(missing_ok=True)


def remove_stale_temps(
    folder: str | Path, *, max_age_s: float = STALE_TEMP_AGE_S
) -> int:
    """Remove this module's temp files in ``folder`` older than ``max_age_s``.

    One ``scandir`` of one folder, no recursion; files that vanish or cannot be
    removed are skipped (another process may be sweeping the same folder).

    Returns:
        How many files were removed.
    """
    cutoff = time.time() - max_age_s
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed
