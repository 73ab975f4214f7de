"""The machine-readable verdict record of a run: build, write atomically, validate, merge.

Schema ``igmu-audit/verdict-record/1`` (documented in docs/verdict-record.md)::

    {"schema": ..., "igmu_audit": "0.1.0", "verdict": "pass|fail|inconclusive",
     "counts": {"pass": n, "fail": n, "inconclusive": n, "caught": n},
     "models": {"<fingerprint>": {"label": ...}},
     "audits": [<AuditResult.to_json()> + {"order": i}, ...],   # sorted by test id, order
     "environment": {"python": ..., "packages": {...}},
     "run": {"created": ISO-8601, "workers": n, "shards": [...]}}

Everything outside ``run`` depends only on what was audited, so ``-n 0`` and ``-n 4``
give identical records apart from ``run``.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from igmu_audit._version import __version__
from igmu_audit.errors import ConfigError
from igmu_audit.results import combine

SCHEMA = "igmu-audit/verdict-record/1"
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


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _sort_key(audit: Mapping[str, Any]) -> tuple[str, int]:
    return (audit.get("test_id") or "", int(audit.get("order", 0)))


def gates(audit: Mapping[str, Any]) -> bool:
    """Whether this audit entry fails a release gate.

    Every non-pass verdict does, except one its test caught on purpose (it raised and the
    test still passed or xfailed: a positive control under ``pytest.raises``). An
    inconclusive verdict let through by ``allow_inconclusive`` never raised, so it gates.
    """
    return audit["verdict"] != "pass" and not audit.get("caught", False)


def build_record(
    audits: Iterable[Mapping[str, Any]], *, workers: int = 1
) -> dict[str, Any]:
    """A verdict record from the audits' JSON (``AuditResult.to_json()`` entries)."""
    items = sorted((dict(a) for a in audits), key=_sort_key)
    models: dict[str, dict[str, str]] = {}
    for audit in items:
        for role in ("model", "original"):
            if audit.get(role):
                models[audit[role]["fingerprint"]] = {"label": audit[role]["label"]}
    verdicts = [a["verdict"] for a in items]
    gating = [a["verdict"] for a in items if gates(a)]
    return {
        "schema": SCHEMA,
        "igmu_audit": __version__,
        "verdict": combine(gating) if gating else "pass",
        "counts": {
            **{v: verdicts.count(v) for v in ("pass", "fail", "inconclusive")},
            "caught": sum(bool(a.get("caught")) for a in items),
        },
        "models": dict(sorted(models.items())),
        "audits": items,
        "environment": {
            "python": platform.python_version(),
            "platform": sys.platform,
            "packages": _versions(),
        },
        "run": {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "workers": workers,
        },
    }


def write_record(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` atomically (temp file + rename): never a half-written record."""
    from igmu_audit.reporting.evidence import write_json

    target = Path(path)
    write_json(target, record)
    return target


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and validate a record; errors name the file and what is wrong."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: verdict record not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid JSON (line {exc.lineno}): {exc.msg}"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(
            f"{file}: not an igmu-audit verdict record (schema {got!r}, expected {SCHEMA!r})"
        )
    for key in ("models", "audits", "verdict"):
        if key not in data:
            raise ConfigError(f"{file}: missing {key!r}")
    return data


def merge_records(records: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge shard records into one; refuse shards that disagree on what a model is.

    Shards of one audit must have audited the same models: a label that maps to two
    different fingerprints (a shard ran on other weights) is an error, and so is a test
    id reported by two shards (the shards overlapped).

    Args:
        records: (name, record) pairs, e.g. (file path, parsed JSON).
    """
    if not records:
        raise ConfigError("merge needs at least one verdict record")
    label_to_fp: dict[str, tuple[str, str]] = {}
    seen: dict[tuple[str, int], str] = {}
    audits: list[dict[str, Any]] = []
    for name, record in records:
        for fingerprint, info in record["models"].items():
            label = info["label"]
            if label in label_to_fp and label_to_fp[label][0] != fingerprint:
                other_fp, other = label_to_fp[label]
                raise ConfigError(
                    f"refusing to merge: model {label!r} is {other_fp[:19]}.. in {other} but {fingerprint[:19]}.. in {name}; "
                    "shards of one audit must run on the same weights"
                )
            label_to_fp[label] = (fingerprint, name)
        for audit in record["audits"]:
            key = _sort_key(audit)
            if key[0] and key in seen:
                raise ConfigError(
                    f"refusing to merge: {key[0]!r} appears in both {seen[key]} and {name}; the shards overlap"
                )
            seen[key] = name
            audits.append(dict(audit))
    merged = build_record(
        audits, workers=sum(int(r.get("run", {}).get("workers", 1)) for _, r in records)
    )
    merged["run"]["shards"] = [name for name, _ in records]
    return merged
