"""Terminal text: the report header line (and, later, the end-of-run verdict summary)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from igmu_audit._version import __version__
from igmu_audit.config import AuditConfig


def _short(value: Any, rootpath: Path) -> str:
    if isinstance(value, dict) and "path" in value:
        value = value.get("label") or value["path"]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            return os.path.relpath(value, rootpath)
        except ValueError:
            return value
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        contiguous = list(value) == list(range(value[0], value[0] + len(value)))
        return f"{value[0]}-{value[-1]}" if contiguous and len(value) > 2 else ",".join(map(str, value))
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def header_line(config: AuditConfig, rootpath: Path) -> str:
    """``igmu-audit 0.1.0: model=... seeds=0-3 config=pyproject.toml,spec.yaml``."""
    parts = [f"{k}={_short(v, rootpath)}" for k, v in config.changed().items() if k not in {"thresholds"}]
    sources = sorted({s for s in config.sources.values() if s not in {"command line", "pytest ini"}})
    if sources:
        parts.append("config=" + ",".join(s.split(" ")[0] for s in sources))
    return f"igmu-audit {__version__}: " + (" ".join(parts) if parts else "defaults")
