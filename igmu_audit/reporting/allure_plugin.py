"""Hooks that feed Allure; ``plugin.py`` registers this module only when ``--alluredir`` is set.

Audits that fail raise out of the test body, so the test itself cannot attach its
evidence: the call-phase report hook does it for passes and failures alike, while
allure-pytest still holds the test open. The controller (also under xdist, from
what the workers put in their reports) writes ``environment.properties`` at the end.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.reporting.allure import attach_results
from igmu_audit.reporting.allure_environment import write_environment
from igmu_audit.reporting.testreport import DEVICE
from igmu_audit.stash import allure_labelled_key, audit_session_key, test_context_key


def pytest_configure(config: pytest.Config) -> None:
    """Register the per-run reporter (this module is imported from plugin.py's configure)."""
    config.pluginmanager.register(AllureAuditReporter(config), "igmu-audit-allure")


class AllureAuditReporter:
    """Attaches evidence per test; the controller writes environment.properties once.

    It parses no report itself: the results and devices come from the controller's
    collector (``reporting/collector.py``), the one reader of what the tests reported.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _device(self) -> str:
        """This process's device, with the GPU's name when there is one."""
        device = self.config.stash[audit_session_key].device
        if device.startswith("cuda"):
            import torch

            return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
        return device

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, None]:
        """Leave pytest's own bookkeeping finalizer out of the Allure steps.

        pytest registers a lambda on every fixture (it calls
        ``pytest_fixture_post_finalizer``); allure-pytest wraps each finalizer as a
        teardown step named after it, hence ``fixture::<lambda>`` steps that no user
        wrote. Outermost (tryfirst), this runs after allure-pytest's wrapping and
        unwraps those; a yield fixture's teardown is named ``fixture::teardown``.
        """
        yield
        finalizers = getattr(fixturedef, "_finalizers", [])
        for index, finalizer in enumerate(finalizers):
            name = str(getattr(finalizer, "_name", ""))
            inner = getattr(finalizer, "_fixture_function", None)
            if inner is None:
                continue
            if name.endswith("::<lambda>"):
                finalizers[index] = inner
            elif name.rpartition("::")[2].isdigit():
                finalizer._name = f"{name.rpartition('::')[0]}::teardown"

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Label the Allure test and attach each audit's evidence (passes included).

        Outermost (tryfirst), so allure-pytest has set its status, which an
        inconclusive or errored audit then overrules (``allure_gate.label_outcome``).
        """
        from igmu_audit.reporting.allure_gate import label_outcome
        from igmu_audit.reporting.testreport import is_audit_test

        report = yield
        context = item.stash.get(test_context_key, None)
        results = context.results if context is not None and call.when == "call" else []
        labelled = item.stash.get(allure_labelled_key, False)
        if not labelled and (results or (report.failed and is_audit_test(item))):
            item.stash[allure_labelled_key] = True
            label_outcome(item, results, report)
        if call.when == "call" and context is not None and context.results:
            audit_config = self.config.stash[audit_session_key].config
            try:
                attach_results(item, context.results, audit_config)
            except Exception as exc:  # a report problem must not crash the audit run
                item.warn(
                    pytest.PytestWarning(
                        f"igmu-audit: Allure attachments failed: {exc!r}"
                    )
                )
            report.user_properties.append((DEVICE, self._device()))
        return report

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write environment.properties in the controller only (workers share the folder)."""
        alluredir = self.config.getoption("allure_report_dir", None)
        if alluredir and not hasattr(self.config, "workerinput"):
            collector = self.config.pluginmanager.get_plugin("igmu-audit-verdicts")
            ledger = getattr(collector, "ledger", None)
            results = ledger.audits if ledger is not None else []
            devices = ledger.devices if ledger is not None else set()
            write_environment(alluredir, results, devices)
            self._write_gate(Path(self.config.invocation_params.dir) / alluredir)

    def _write_gate(self, alluredir: Path) -> None:
        """The release-gate entry, from the controller's verdict record (an audit run only)."""
        from igmu_audit.reporting import outcome
        from igmu_audit.reporting.allure_gate import write_gate
        from igmu_audit.reporting.terminal import closing_line

        collector = self.config.pluginmanager.get_plugin("igmu-audit-verdicts")
        record = getattr(collector, "record", None)
        if record is None:
            return
        closing = closing_line(record, gated=bool(getattr(collector, "gate", True)))
        write_gate(alluredir, record, closing, outcome.WORDS)
