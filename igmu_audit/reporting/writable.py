"""Checks, at session start, that every folder the run will write to is writable.

An audit that generates for an hour and then cannot write its record, evidence or cache
has wasted the hour and, worse, may leave an older record in place. Each folder is
probed with a file created and removed again; a folder that does not exist yet is
judged by its nearest existing parent, so nothing is created for the check.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One place the run writes to.

    Attributes:
        what: what is written there (``"verdict record"``).
        path: the configured path.
        setting: the setting that configures it and its source, for the message.
        fix: how to point it elsewhere.
        is_file: ``path`` is a file (its folder must be writable), not a folder.
    """

    what: str
    path: Path
    setting: str
    fix: str
    is_file: bool = False


def _problem(target: Target) -> str | None:
    path = target.path
    if target.is_file and path.is_dir():
        return f"{path} is a folder; a file path is needed"
    folder = path.parent if target.is_file else path
    probe = folder
    while not probe.exists() and probe.parent != probe:
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".igmu-write-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"{probe} is not writable ({exc.strerror or exc})"
    return None


def unwritable(targets: list[Target]) -> list[str]:
    """One message per target the run could not write to (empty: all writable)."""
    out = []
    for target in targets:
        reason = _problem(target)
        if reason is not None:
            out.append(
                f"igmu-audit: cannot write the {target.what} to {target.path} "
                f"({target.setting}): {reason}; fix: {target.fix}"
            )
    return out
