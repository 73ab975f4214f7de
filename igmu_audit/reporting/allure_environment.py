"""Allure's ``environment.properties``: every model fingerprint, library versions, devices.

Written by the controller at the end of a run (also under xdist, from what the workers
reported), merged with the folder's existing file so several runs into one
allure-results folder keep every model they audited.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: distributions whose versions go into environment.properties
LIBRARIES = ("igmu-audit", "torch", "diffusers", "transformers", "allure-pytest")

__all__ = ["environment", "library_versions", "read_environment", "write_environment"]


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a verdict depends on (no import needed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _escape(text: str, *, key: bool = False) -> str:
    """Java .properties escaping (what Allure's reader parses)."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        for char in " =:#!":
            out = out.replace(char, "\\" + char)
    return out


def read_environment(path: Path) -> dict[str, str]:
    """The entries of an environment.properties this module wrote (``{}`` if none)."""
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"((?:[^=\\]|\\.)*)=(.*)", line)
        if match:
            entries[_unescape(match[1])] = _unescape(match[2])
    return entries


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), text)


def environment(
    results: Iterable[Mapping[str, Any]],
    devices: Iterable[str],
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment entries: every model fingerprint, library versions and the devices.

    ``previous`` (the folder's existing file) is merged in: several runs into one
    allure-results folder (one per audit spec) keep every model they audited.
    """
    previous = previous or {}
    entries = {
        k: v for k, v in previous.items() if k.startswith(("model.", "original."))
    }
    for r in results:
        for role in ("model", "original"):
            info = r.get(role)
            if info:
                entries[f"{role}.{info['label']}"] = info["fingerprint"]
    entries.update(library_versions())
    seen = {d for d in previous.get("device", "").split(", ") if d and d != "unknown"}
    entries["device"] = ", ".join(sorted(seen | set(devices))) or "unknown"
    return entries


def write_environment(
    alluredir: str | Path,
    results: Iterable[Mapping[str, Any]],
    devices: Iterable[str] = (),
) -> Path:
    """Write ``environment.properties`` into ``alluredir`` (atomically) and return its path.

    ``results`` are verdict-record entries (``AuditResult.to_json()``), so the controller
    can write it under xdist from what the workers reported; entries already in the
    folder's file are kept (see ``environment``).
    """
    from igmu_audit._atomic import atomic_write_bytes

    path = Path(alluredir) / "environment.properties"
    entries = environment(results, devices, read_environment(path))
    lines = [f"{_escape(k, key=True)}={_escape(v)}" for k, v in entries.items()]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
