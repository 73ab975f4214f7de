"""The controller's collector of audit results: summary section (and later the verdict record).

Registered only in the controlling process: under xdist, workers attach each result's
JSON to their test reports (``user_properties``), which xdist sends to the controller,
so exactly one process prints the summary, whatever ``-n`` is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


class VerdictCollector:
    """Collects every audit result of the run from the (possibly remote) test reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[dict[str, Any]] = []
        self.record_path: Any = None
        self.gating: list[dict[str, Any]] = []
        self.flipped = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Gather the results a test recorded (also from xdist workers)."""
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "igmu_results":
                self.results.extend(json.loads(value))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the verdict record; a fail or inconclusive verdict fails the run."""
        from igmu_audit.plugin import audit_session_key

        audit_config = self.config.stash[audit_session_key].config
        if audit_config.record:
            from igmu_audit.devices import worker_count
            from igmu_audit.reporting.record import build_record, write_record

            workers = (
                int(getattr(self.config.option, "numprocesses", 0) or 0)
                or worker_count()
            )
            self.record_path = write_record(
                audit_config.record, build_record(self.results, workers=workers)
            )
        from igmu_audit.reporting.record import gates

        self.gating = [r for r in self.results if gates(r)]
        if self.gating and session.exitstatus == pytest.ExitCode.OK:
            # allow_inconclusive lets a test pass, but a release gate must not.
            self.flipped = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the "igmu-audit verdicts" section, grouped by model."""
        if not self.results:
            return
        from igmu_audit.reporting.terminal import summary_lines

        terminalreporter.section("igmu-audit verdicts")
        for line in summary_lines(self.results, self.config.rootpath):
            terminalreporter.write_line(line)
        if self.record_path is not None:
            terminalreporter.write_line(f"verdict record: {self.record_path}")
        if self.flipped:
            terminalreporter.write_line(
                f"igmu-audit: every test passed, but {len(self.gating)} audit verdict(s) are not PASS "
                "(allowed inconclusive): the run exits 1 as a release gate",
                red=True,
            )
