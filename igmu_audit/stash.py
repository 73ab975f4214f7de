"""Every pytest stash key igmu-audit uses, in one module.

A key is an object: two modules that each create "the session key" hold different keys
and read each other's stash as empty. One home also keeps the reporting hooks from
importing ``plugin.py`` for its keys, which made the plugin and the collector import
each other (the import graph is a DAG; tests/plugin/test_reporting_import_cycles.py checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from igmu_audit.context import TestContext
    from igmu_audit.session import AuditSession

__all__ = [
    "allure_labelled_key", "audit_session_key", "load_failures_key",
    "previous_session_key", "test_context_key",
]  # fmt: skip

#: ``config.stash``: this process's audit session (set in ``plugin.pytest_configure``)
audit_session_key: pytest.StashKey[AuditSession] = pytest.StashKey()
#: ``config.stash``: the session it replaced, restored at unconfigure (nested pytester runs)
previous_session_key: pytest.StashKey[AuditSession | None] = pytest.StashKey()
#: ``item.stash``: the running test's context (node id, marker keywords, its results)
test_context_key: pytest.StashKey[TestContext] = pytest.StashKey()
#: ``item.stash``: the Allure test was labelled already (once per test, not per phase)
allure_labelled_key: pytest.StashKey[bool] = pytest.StashKey()
#: ``config.stash``: id(exception) -> [the exception, first test that reported it, what failed]
load_failures_key: pytest.StashKey[dict[int, list[Any]]] = pytest.StashKey()
