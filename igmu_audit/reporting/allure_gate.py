"""What a reviewer reads first in Allure: each audit's verdict label and the release gate.

Allure knows passed, failed, broken and skipped; igmu-audit has more to say, so
every audit test carries the label ``igmu_verdict`` (pass, fail, inconclusive, error):

- an inconclusive verdict is Allure's **broken** (it is neither a pass nor evidence of
  a leak) with ``igmu_verdict=inconclusive`` and the tag ``inconclusive``;
- an audit that errored (no verdict: a model that would not load, a bad argument) is
  also **broken**, told apart by ``igmu_verdict=error``;
- a positive control (a non-pass verdict its own test expected, ``pytest.raises`` or
  ``xfail``) stays green but is labelled ``positive control (expected to fail)``.

At the end, the controller writes one more Allure result, "release gate": the
record's overall verdict as its status, the counts and the model fingerprints as
parameters, the verdict record and the verdict matrix attached; written atomically.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from igmu_audit.results import AuditResult

LABEL = "igmu_verdict"
CONTROL = "positive control (expected to fail)"
#: the record's verdict -> the release gate's Allure status
GATE_STATUS = {"pass": "passed", "fail": "failed", "inconclusive": "broken",
               "incomplete": "broken", "error": "broken"}  # fmt: skip


def test_verdict(
    results: Sequence[AuditResult], report: pytest.TestReport
) -> tuple[str | None, bool]:
    """(the test's igmu verdict or ``None``, whether it is a caught positive control)."""
    from igmu_audit.results import combine

    expected = report.passed or hasattr(report, "wasxfail")
    if results:
        control = expected and any(r.raised and r.verdict != "pass" for r in results)
        return combine([r.verdict for r in results]), control
    return ("error" if report.failed else None), False


def _set_status(item: pytest.Item, status: str) -> None:
    """Overrule allure-pytest's status of the open test (it calls every AssertionError failed)."""
    listener = item.config.pluginmanager.get_plugin("allure_listener")
    cache = getattr(listener, "_cache", None)
    logger = getattr(listener, "allure_logger", None)
    if cache is None or logger is None:
        return
    test = logger.get_test(cache.get(item.nodeid))
    if test is not None:
        test.status = status


def label_outcome(
    item: pytest.Item, results: Sequence[AuditResult], report: pytest.TestReport
) -> None:
    """Label (and where needed re-status) the open Allure test from its report."""
    import allure

    verdict, control = test_verdict(results, report)
    if verdict is None:
        return
    allure.dynamic.label(LABEL, verdict)
    if control:
        allure.dynamic.label("igmu_control", CONTROL)
        allure.dynamic.tag(CONTROL)
        return
    if report.failed and verdict in {"inconclusive", "error"}:
        allure.dynamic.tag(verdict)
        _set_status(item, "broken")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _attachment(
    alluredir: Path, body: bytes, name: str, mime: str, ext: str
) -> dict[str, str]:
    from igmu_audit._atomic import atomic_write_bytes

    source = f"{uuid.uuid4()}-attachment.{ext}"
    atomic_write_bytes(alluredir / source, body)
    return {"name": name, "source": source, "type": mime}


def gate_result(
    record: Mapping[str, Any], closing: str, attachments: list[dict[str, str]]
) -> dict[str, Any]:
    """The synthetic Allure result of the release gate (Allure's result-file schema)."""
    counts = record["counts"]
    params = [
        {"name": f"{verdict} audits", "value": str(n)} for verdict, n in counts.items()
    ]
    models = {}
    for entry in record.get("audits", []):
        for role in ("model", "original"):
            info = entry.get(role)
            if info:
                models[f"{role} {info['label']}"] = info["fingerprint"]
    params += [{"name": name, "value": value} for name, value in models.items()]
    params.append({"name": "exit status", "value": str(record.get("exit_status"))})
    verdict = record["verdict"]
    now = _now_ms()
    return {
        "uuid": str(uuid.uuid4()),
        "historyId": "igmu-audit-release-gate",
        "testCaseId": "igmu-audit-release-gate",
        "name": "release gate",
        "fullName": "igmu-audit::release gate",
        "status": GATE_STATUS.get(verdict, "broken"),
        "statusDetails": {"message": closing},
        "stage": "finished",
        "description": "The run's overall verdict: the strongest gating verdict of every audit "
        "(positive controls never gate); the release passes only on pass.",
        "labels": [{"name": "epic", "value": "release gate"}, {"name": LABEL, "value": verdict},
                   {"name": "tag", "value": f"gate:{verdict}"}, {"name": "severity", "value": "blocker"}],
        "parameters": params,
        "attachments": attachments,
        "start": now,
        "stop": now,
    }  # fmt: skip


def write_gate(
    alluredir: str | Path,
    record: Mapping[str, Any],
    closing: str,
    words: Mapping[str, str],
) -> Path:
    """Write the release-gate result (and its attachments) into ``alluredir``; its path."""
    from igmu_audit._atomic import atomic_write_bytes
    from igmu_audit.reporting.plots import verdict_matrix

    folder = Path(alluredir)
    record_json = json.dumps(record, indent=2, ensure_ascii=False, default=str).encode(
        "utf-8"
    )
    attachments = [
        _attachment(folder, record_json, "verdict record", "application/json", "json")
    ]
    picture = verdict_matrix(record.get("audits", []), words)
    if picture is not None:
        attachments.append(
            _attachment(folder, picture, "verdict matrix", "image/png", "png")
        )
    result = gate_result(record, closing, attachments)
    path = folder / f"{result['uuid']}-result.json"
    atomic_write_bytes(
        path, json.dumps(result, indent=2, ensure_ascii=False).encode("utf-8")
    )
    return path
