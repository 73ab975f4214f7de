"""What each test report tells the gate: is it an audit test, what did it record, how did it end.

The process that runs a test (the only one where the item exists; an xdist worker or
pytest itself) annotates every phase's report with ``user_properties``; reports travel
to the controller, whose ``Ledger`` turns them into the record's entries. So the gate
sees the same thing under ``-n 0`` and ``-n 4``, and a test that raised before
recording anything still reaches the record, as an ``error`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest

from igmu_audit.applicability import NotApplicable
from igmu_audit.errors import AuditFailure
from igmu_audit.reporting import outcome
from igmu_audit.reporting.record import problem

if TYPE_CHECKING:
    from igmu_audit.results import AuditResult

AUDIT_TEST = "igmu_audit_test"
RESULTS = "igmu_results"
EXCEPTION = "igmu_exception"
NOT_APPLICABLE = "igmu_not_applicable"
#: the device a test's audits ran on (added by the Allure hooks, read by the Ledger)
DEVICE = "igmu_device"
_MAX_MESSAGE = 2000


@cache
def audit_fixtures() -> frozenset[str]:
    """Every fixture ``igmu_audit.fixtures`` defines: requesting one makes an audit test."""
    from _pytest.fixtures import getfixturemarker  # pytest's reader of @pytest.fixture

    from igmu_audit import fixtures

    names = set()
    for attr, obj in vars(fixtures).items():
        marker = getfixturemarker(obj)
        if marker is not None:
            names.add(marker.name or attr)
    return frozenset(names)


def is_audit_test(item: pytest.Item) -> bool:
    """Marked ``@pytest.mark.igmu``, or requesting an igmu-audit fixture (directly or not)."""
    if item.get_closest_marker("igmu") is not None:
        return True
    return not audit_fixtures().isdisjoint(getattr(item, "fixturenames", ()))


def _exception(excinfo: pytest.ExceptionInfo[BaseException]) -> dict[str, str]:
    kind = excinfo.type
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return {"type": name, "message": str(excinfo.value)[:_MAX_MESSAGE]}


def annotate(
    item: pytest.Item,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
    results: Sequence[AuditResult],
) -> None:
    """Add the gate's facts to one phase's report (runs where the test ran)."""
    if is_audit_test(item) or results:
        report.user_properties.append((AUDIT_TEST, "1"))
    if call.excinfo is not None:
        if call.excinfo.errisinstance(NotApplicable):
            report.user_properties.append((NOT_APPLICABLE, str(call.excinfo.value)))
        elif report.failed:
            exc = {
                **_exception(call.excinfo),
                "audit_failure": call.excinfo.errisinstance(AuditFailure),
            }
            report.user_properties.append((EXCEPTION, json.dumps(exc)))
    if call.when == "call" and results:
        # A raised verdict in a test that still passed (pytest.raises around a positive
        # control) or xfailed was expected by its author: recorded, but it does not gate.
        expected = report.passed or hasattr(report, "wasxfail")
        entries = []
        for i, r in enumerate(results):
            data = r.to_json()
            # only this hook may call a verdict a positive control, never a result itself
            flags = {*data.get("flags", ()), *getattr(r, "flags", ())} - {
                outcome.POSITIVE_CONTROL
            }
            if r.raised and expected:
                flags.add(outcome.POSITIVE_CONTROL)
            entries.append({**data, "order": i, "flags": sorted(flags)})
        report.user_properties.append((RESULTS, json.dumps(entries)))


@dataclass
class _Test:
    audit: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)
    #: (phase, exception, raised an AuditFailure, crash text) per failed phase
    failures: list[tuple[str, dict[str, str] | None, bool, str]] = field(
        default_factory=list
    )
    skipped: str | None = None
    skipped_in: str = "call"
    not_applicable: str | None = None
    xfailed: bool = False


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _crash_text(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    return text.strip().splitlines()[-1][:_MAX_MESSAGE] if text.strip() else "failed"


class Ledger:
    """The controller's account of every test: results, failures, skips, never-run tests."""

    def __init__(self) -> None:
        self.tests: dict[str, _Test] = {}
        self.collect_errors: list[dict[str, Any]] = []
        #: every device a test reported running its audits on (also xdist workers')
        self.devices: set[str] = set()

    @property
    def audits(self) -> list[dict[str, Any]]:
        """Every audit entry recorded so far."""
        return [r for t in self.tests.values() for r in t.results]

    def any_audit(self) -> bool:
        """Whether any audit test reported (or recorded a result)."""
        return any(t.audit for t in self.tests.values())

    def add(self, report: pytest.TestReport) -> None:
        """Account for one phase's report (local or from an xdist worker)."""
        test = self.tests.setdefault(report.nodeid, _Test())
        props = {
            k: v
            for k, v in report.user_properties
            if k in {AUDIT_TEST, EXCEPTION, NOT_APPLICABLE}
        }
        test.audit = test.audit or AUDIT_TEST in props
        for name, value in report.user_properties:
            if name == RESULTS:
                test.results.extend(json.loads(str(value)))
            elif name == DEVICE:
                self.devices.add(str(value))
        if NOT_APPLICABLE in props:
            test.not_applicable = str(props[NOT_APPLICABLE])
        if report.failed:
            raw = props.get(EXCEPTION)
            exc = json.loads(raw) if isinstance(raw, str) else None
            verdict = bool(exc and exc.pop("audit_failure", False))
            test.failures.append(
                (report.when or "crash", exc, verdict, _crash_text(report))
            )
        elif report.skipped and test.not_applicable is None:
            test.xfailed = test.xfailed or hasattr(report, "wasxfail")
            if test.skipped is None:
                test.skipped, test.skipped_in = (
                    _skip_reason(report),
                    report.when or "call",
                )

    def add_collect(self, report: pytest.CollectReport) -> None:
        """A collection error hides every test the file holds: an ``error`` entry."""
        if report.failed:
            reason = f"collection failed: {_crash_text(report)}"
            self.collect_errors.append(
                problem(report.nodeid, outcome.ERROR, reason, phase="collect")
            )

    def problems(
        self, collected: Iterable[tuple[str, bool | None]]
    ) -> list[dict[str, Any]]:
        """``error`` / ``incomplete`` entries for every test that produced no gating result.

        Args:
            collected: (node id, is audit test or ``None`` when unknown) of every test
                this run collected, so tests that never ran are accounted for too.
        """
        out = list(self.collect_errors)
        for nodeid, audit in collected:
            if nodeid not in self.tests and audit is not False:
                out.append(problem(nodeid, outcome.INCOMPLETE, "never ran: the session stopped early "
                                   "(-x, --maxfail, an interrupt or a crashed worker)", phase="none"))  # fmt: skip
        for nodeid, test in self.tests.items():
            out.extend(_test_problems(nodeid, test))
        return out

    def not_applicable(self) -> list[dict[str, str]]:
        """Tests that declared themselves not applicable, with their reasons."""
        return [
            {"test_id": nodeid, "reason": t.not_applicable}
            for nodeid, t in self.tests.items()
            if t.not_applicable is not None and not t.failures
        ]


def _test_problems(nodeid: str, test: _Test) -> list[dict[str, Any]]:
    out = []
    raised = any(r.get("raised") for r in test.results)
    for phase, exc, verdict, text in test.failures:
        if phase == "call" and raised and verdict:
            continue  # the failure is the recorded verdict itself
        what = (
            "crashed"
            if phase not in {"setup", "call", "teardown"}
            else f"raised in {phase}"
        )
        reason = f"{what} without an audit verdict: {exc['type'] + ': ' + exc['message'] if exc else text}"
        out.append(
            problem(
                nodeid,
                outcome.ERROR,
                reason.splitlines()[0][:_MAX_MESSAGE],
                phase=phase,
                exception=exc,
            )
        )
    if (
        test.audit
        and not test.results
        and not test.failures
        and test.not_applicable is None
    ):
        if test.skipped is not None:
            how = "xfailed" if test.xfailed else "skipped"
            reason = f"{how} without recording a verdict: {test.skipped}"
            out.append(
                problem(nodeid, outcome.INCOMPLETE, reason, phase=test.skipped_in)
            )
            return out
        reason = "passed without recording any verdict (no assert_forgotten / assert_preserved / assert_robust_to ran)"
        out.append(problem(nodeid, outcome.INCOMPLETE, reason, phase="call"))
    return out
