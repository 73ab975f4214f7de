"""Session-start checks of an audit run's outputs: fail before generating, not after.

Which folders must be writable follows from the configuration: the record's folder
when ``record`` is set; the evidence folder and (unless ``--igmu-no-cache``) the cache
when a model is configured or a record is wanted; the Allure folder with
``--alluredir``. A plain pytest run that audits nothing touches none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from igmu_audit.reporting import outcome
from igmu_audit.reporting.record import build_record, problem, write_record
from igmu_audit.reporting.writable import Target, unwritable


def _setting(config: Any, key: str, flag: str) -> str:
    return f"{flag} / `{key}:`, set by {config.source_of(key)}"


def targets(pytest_config: pytest.Config, config: Any) -> list[Target]:
    """Every place this run will write to."""
    out: list[Target] = []
    if config.record:
        out.append(Target("verdict record", Path(config.record), _setting(config, "record", "--igmu-record"),
                          "pass --igmu-record a file path in a writable folder", is_file=True))  # fmt: skip
    if config.model is not None or config.record:
        out.append(Target("evidence", Path(config.evidence_dir), _setting(config, "evidence_dir", "--igmu-evidence-dir"),
                          "point --igmu-evidence-dir (or igmu_evidence_dir / `evidence_dir:`) at a writable folder"))  # fmt: skip
        # A URL cache (fsspec) is checked by pipelines/cache_store.py, not as a folder.
        if config.use_cache and "://" not in str(config.cache_dir):
            out.append(Target("image cache", Path(config.cache_dir), _setting(config, "cache_dir", "--igmu-cache-dir"),
                              "point --igmu-cache-dir (or igmu_cache_dir / `cache_dir:`) at a writable folder, or pass --igmu-no-cache"))  # fmt: skip
    return out + allure_targets(pytest_config)


def allure_targets(pytest_config: pytest.Config) -> list[Target]:
    """The ``--alluredir`` folder, if given."""
    alluredir = pytest_config.getoption("allure_report_dir", None)
    if not alluredir:
        return []
    path = Path(pytest_config.invocation_params.dir) / alluredir
    return [Target("Allure results", path, "--alluredir, set by command line",
                   "pass --alluredir a writable folder")]  # fmt: skip


def check_allure(pytest_config: pytest.Config) -> None:
    """``--alluredir`` checked before allure-pytest itself creates it (and crashes)."""
    messages = unwritable(allure_targets(pytest_config))
    if messages:
        raise pytest.UsageError("\n".join(messages))


def refusal_record(path: str | Path, reason: str) -> None:
    """Replace the record at ``path`` by an ``error`` record, best effort: no stale PASS."""
    try:
        write_record(
            path, build_record([], [problem("", outcome.ERROR, reason)]), final=False
        )
    except OSError:
        return


def check_outputs(pytest_config: pytest.Config, config: Any) -> None:
    """Raise ``pytest.UsageError`` naming every unwritable output, before any generation."""
    found = targets(pytest_config, config)
    messages = unwritable(found)
    if not messages:
        return
    record = [t for t in found if t.what == "verdict record"]
    if record and not unwritable(record):
        refusal_record(record[0].path, "; ".join(messages))
    raise pytest.UsageError("\n".join(messages))
