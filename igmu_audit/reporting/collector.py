"""The controller's gate: the verdict record, the run's exit status and the summary section.

Registered only in the controlling process: under xdist, workers annotate each test
report (``reporting/testreport.py``) and xdist sends the reports here, so exactly one
process writes the record and prints the summary, whatever ``-n`` is.

Fail closed: the record is written as ``incomplete`` when the session starts and
replaced when it ends, so a killed run never leaves an older PASS behind; every
collected audit test must produce a result, else it is an ``error`` / ``incomplete``
entry; an audit run exits with the gate's status (reporting/outcome.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from igmu_audit.reporting import outcome
from igmu_audit.reporting.record import build_record, problem, write_record
from igmu_audit.reporting.testreport import Ledger, is_audit_test
from igmu_audit.stash import audit_session_key

STARTED = (
    "the run has not finished: this record was written when it started, and a run "
    "that is killed or crashes leaves it so; re-run the audit"
)


class VerdictCollector:
    """Collects every test's outcome and audit results from the (possibly remote) reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ledger = Ledger()
        self.collected: dict[str, bool | None] = {}
        self.record: dict[str, Any] | None = None
        self.record_path: Path | None = None
        self.record_error: str | None = None
        self.gate = False

    @property
    def _audit_config(self) -> Any:
        return self.config.stash[audit_session_key].config

    def _run_block(self, *, finished: bool) -> dict[str, Any]:
        from igmu_audit.devices import worker_count
        from igmu_audit.sharding import shard_option

        workers = (
            int(getattr(self.config.option, "numprocesses", 0) or 0) or worker_count()
        )
        from igmu_audit.backends import run_block

        session = self.config.stash[audit_session_key]
        return {
            "workers": workers,
            "shard": shard_option(self.config),
            "collected": len(self.collected) if self.collected else None,
            "finished": finished,
            # the backend this process generated with, else the configured one
            "backend": run_block(session.config, session.__dict__.get("backend")),
        }

    def _write_started(self) -> None:
        path = self._audit_config.record
        if path:
            started = problem("", outcome.INCOMPLETE, STARTED)
            write_record(
                path,
                build_record([], [started], run=self._run_block(finished=False)),
                final=False,
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Before any generation: check the output folders, then mark the record incomplete."""
        from igmu_audit.errors import ConfigError
        from igmu_audit.reporting.preflight import check_outputs
        from igmu_audit.sharding import shard_option

        try:
            shard_option(self.config)
        except ConfigError as exc:
            raise pytest.UsageError(f"igmu-audit: {exc}") from None
        check_outputs(self.config, self._audit_config)
        self._write_started()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Know every collected test (and which are audit tests); the record gets the count."""
        self.collected = {item.nodeid: is_audit_test(item) for item in session.items}
        self._write_started()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller sees only test ids (audit or not is unknown: ``None``)."""
        first = not self.collected
        for nodeid in ids:
            self.collected.setdefault(nodeid, None)
        if first:
            self._write_started()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file that fails to import hides its audits: an ``error`` entry."""
        self.ledger.add_collect(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Account for every phase of every test (also from xdist workers)."""
        self.ledger.add(report)

    def _is_audit_run(self) -> bool:
        config = self._audit_config
        return bool(
            config.model is not None
            or config.record
            or self.ledger.any_audit()
            or any(self.collected.values())
        )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the final record; an audit run exits with the gate's status."""
        self.gate = self._is_audit_run() and not self.config.option.collectonly
        if not self._is_audit_run():
            return
        problems = self.ledger.problems(self.collected.items())
        status = int(session.exitstatus)
        if status == pytest.ExitCode.INTERRUPTED:
            problems.append(
                problem(
                    "",
                    outcome.INCOMPLETE,
                    "the session was interrupted (pytest exit 2)",
                )
            )
        elif status == pytest.ExitCode.INTERNAL_ERROR:
            problems.append(
                problem("", outcome.ERROR, "pytest hit an internal error (exit 3)")
            )
        audits = self.ledger.audits
        if outcome.run_verdict(audits, problems) == outcome.PASS and status != 0:
            problems.append(
                problem(
                    "",
                    outcome.ERROR,
                    f"pytest exited {status} although every audit passed; see its output",
                )
            )
        self.record = build_record(audits, problems, not_applicable=self.ledger.not_applicable(),
                                   run=self._run_block(finished=True), family_wise=self._audit_config.family_wise)  # fmt: skip
        path = self._audit_config.record
        if path:
            try:
                self.record_path = write_record(path, self.record)
            except OSError as exc:
                self.record_error = (
                    f"cannot write the verdict record {path}: {exc.strerror or exc}"
                )
                self.record = build_record(
                    audits, [*problems, problem("", outcome.ERROR, self.record_error)]
                )
        if self.gate:
            session.exitstatus = self.record["exit_status"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the "igmu-audit verdicts" section and the gate's closing line."""
        if self.record is None:
            return
        from igmu_audit.reporting.family_wise import statement_lines
        from igmu_audit.reporting.terminal import (
            closing_line,
            problem_lines,
            summary_lines,
        )

        terminalreporter.section("igmu-audit verdicts")
        for line in summary_lines(self.record["audits"], self.config.rootpath):
            terminalreporter.write_line(line)
        from igmu_audit.reporting.terminal import matrix_lines

        for line in matrix_lines(self.record["audits"]):
            terminalreporter.write_line(line)
        for line in problem_lines(self.record):
            terminalreporter.write_line(line)
        for line in statement_lines(self.record["run"].get("family_wise")):
            terminalreporter.write_line(line)
        if self.record_path is not None:
            terminalreporter.write_line(f"verdict record: {self.record_path}")
        if self.record_error is not None:
            terminalreporter.write_line(f"igmu-audit: {self.record_error}", red=True)
        passed = self.record["verdict"] == outcome.PASS
        terminalreporter.write_line(
            closing_line(self.record, gated=self.gate), green=passed, red=not passed
        )
