"""The machine-readable verdict record of a run: build, write atomically, read strictly.

Schema ``igmu-audit/verdict-record/3`` (docs/verdict-record.md is its one description)::

    {"schema": ..., "igmu_audit": "0.1.0", "verdict": "pass|fail|inconclusive|incomplete|error",
     "exit_status": 0|10|11|12,
     "counts": {"pass": n, "inconclusive": n, "fail": n, "incomplete": n, "error": n},
     "flags": {"positive control": n, ...},
     "models": {"<fingerprint>": {"label": ...}},
     "audits": [<AuditResult.to_json()> + {"order": i, "flags": [...]}, ...],
     "problems": [{"test_id", "verdict": "error|incomplete", "phase", "exception", "reason", "flags"}],
     "not_applicable": [{"test_id", "reason"}],
     "environment": {"python": ..., "packages": {...}},
     "run": {"created", "workers", "shard": {"index", "total"} | null, "collected", "finished",
             "backend": {"name": "local"} | {"name": "ray", "address", "actors", "devices", ...}}}

Everything outside ``run`` depends only on what was audited, so ``-n 0`` and ``-n 4``
give identical records apart from ``run``. Imports neither numpy nor torch: ``merge``
runs on CI machines without them.
"""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from igmu_audit._atomic import atomic_write_json
from igmu_audit._version import __version__
from igmu_audit.reporting import family_wise as joint
from igmu_audit.reporting import outcome
from igmu_audit.reporting.record_schema import SCHEMA, load_json, validate_record

__all__ = ["SCHEMA", "build_record", "problem", "read_record", "write_record"]

PACKAGES = (
    "torch",
    "diffusers",
    "transformers",
    "open_clip_torch",
    "nudenet",
    "numpy",
    "pytest",
    "pytest-xdist",
)
#: test-hook point (see igmu_audit/_atomic.py): the final record's write
KILL_AT_RECORD_WRITE = "record-write"


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _audit_key(audit: Mapping[str, Any]) -> tuple[str, int]:
    return (audit.get("test_id") or "", int(audit.get("order", 0)))


def problem(
    test_id: str,
    verdict: str,
    reason: str,
    *,
    phase: str = "session",
    exception: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ``error`` / ``incomplete`` entry: a test (or the run) that produced no result."""
    if verdict not in outcome.PROBLEM_VERDICTS:
        raise ValueError(
            f"problem verdict must be error or incomplete, not {verdict!r}"
        )
    return {
        "test_id": test_id,
        "verdict": verdict,
        "phase": phase,
        "exception": dict(exception) if exception else None,
        "reason": reason,
        "flags": [],
    }


def _normalise(audit: Mapping[str, Any]) -> dict[str, Any]:
    entry = dict(audit)
    entry["order"] = int(entry.get("order", 0))
    entry["flags"] = sorted(set(entry.get("flags") or ()))
    return entry


def build_record(
    audits: Iterable[Mapping[str, Any]],
    problems: Iterable[Mapping[str, Any]] = (),
    *,
    not_applicable: Iterable[Mapping[str, Any]] = (),
    run: Mapping[str, Any] | None = None,
    family_wise: bool | None = None,
) -> dict[str, Any]:
    """A verdict record from audit entries (``AuditResult.to_json()``) and problem entries.

    Args:
        audits: one entry per assertion call, with ``order`` and ``flags``.
        problems: ``error`` / ``incomplete`` entries (see ``problem``).
        not_applicable: tests that declared themselves not applicable (never gate).
        run: the varying run block: ``workers``, ``shard``, ``collected``, ``finished``.
        family_wise: adjust the verdicts to hold jointly (Holm, reporting/family_wise.py);
            ``None``: as the entries were before (a merge keeps its shards' setting).

    Returns:
        The record; its ``verdict`` is never ``pass`` without an audit or with a problem.
    """
    items = sorted((_normalise(a) for a in audits), key=_audit_key)
    if family_wise is None:
        family_wise = joint.requested(items)
    items, statement = joint.apply(items, enabled=family_wise)
    issues = sorted(
        (dict(p) for p in problems), key=lambda p: (p["test_id"], p["phase"])
    )
    models: dict[str, dict[str, str]] = {}
    for audit in items:
        for role in ("model", "original"):
            if audit.get(role):
                models[audit[role]["fingerprint"]] = {"label": audit[role]["label"]}
    verdict = outcome.run_verdict(items, issues)
    flags: dict[str, int] = {}
    for audit in items:
        for flag in audit["flags"]:
            flags[flag] = flags.get(flag, 0) + 1
    every = [e["verdict"] for e in [*items, *issues]]
    return {
        "schema": SCHEMA,
        "igmu_audit": __version__,
        "verdict": verdict,
        "exit_status": outcome.exit_status(verdict),
        "counts": {v: every.count(v) for v in outcome.VERDICTS},
        "flags": dict(sorted(flags.items())),
        "models": dict(sorted(models.items())),
        "audits": items,
        "problems": issues,
        "not_applicable": sorted(
            (dict(n) for n in not_applicable), key=lambda n: n["test_id"]
        ),
        "environment": {
            "python": platform.python_version(),
            "platform": sys.platform,
            "packages": _versions(),
        },
        "run": {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "workers": 1,
            "shard": None,
            "collected": None,
            "finished": True,
            **(run or {}),
            "family_wise": statement,
        },
    }


def _finite(value: Any) -> Any:
    """NaN / inf are not JSON: keep them visible as strings rather than write invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def write_record(
    path: str | Path, record: Mapping[str, Any], *, final: bool = True
) -> Path:
    """Write ``record`` atomically (temp file + rename): never a half-written record.

    ``final`` marks the end-of-run write, the point the kill test hook can target.
    """
    target = Path(path)
    atomic_write_json(
        target, _finite(dict(record)), kill_at=KILL_AT_RECORD_WRITE if final else None
    )
    return target


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and validate a record; every error is a ConfigError naming the file and key."""
    file = Path(path)
    return validate_record(load_json(file), file)
