"""One load error per session: the first test shows it, later tests point back to it.

A session-scoped fixture that raises is re-raised by pytest for every test that asks
for it, so one broken model printed the same long traceback once per test. The
fixtures load through ``load_once``: an igmu-audit error (``ConfigError``,
``UnsafeCheckpointError``...) is reported as its message alone, without the internal
traceback; any other exception keeps its traceback, once. Every later test that hits
the same error gets one line naming the first test, where the error is shown.
Under xdist each worker shows the error once.

Pulled in by ``pytest_plugins`` in ``plugin.py`` (it holds the report hook).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from igmu_audit.errors import IgmuAuditError
from igmu_audit.stash import load_failures_key

# pytest types ``pytest.fail.Exception`` as Any; it is ``_pytest.outcomes.Failed``, which
# mypy can check against (the runtime keeps the public name).
if TYPE_CHECKING:
    from _pytest.outcomes import Failed as _Failed
else:
    _Failed = pytest.fail.Exception

T = TypeVar("T")


class LoadFailed(_Failed):
    """An igmu-audit error while loading a model, detector or CLIP model (no traceback).

    ``original`` is the error itself (kept for tools; not chained, so not printed twice).
    """

    original: BaseException | None = None


def _failures(config: pytest.Config) -> dict[int, list[Any]]:
    return config.stash.setdefault(load_failures_key, {})


def load_once(request: pytest.FixtureRequest, what: str, load: Callable[[], T]) -> T:
    """``load()``, remembering a failure so later tests report it in one line."""
    __tracebackhide__ = True
    try:
        return load()
    except IgmuAuditError as exc:
        failed = LoadFailed(f"igmu-audit: cannot load the {what}: {type(exc).__name__}: {exc}",
                            pytrace=False)  # fmt: skip
        failed.original = exc
        _failures(request.config)[id(failed)] = [failed, "", what]
        raise failed from None  # the message says it all; the chain is internal
    except Exception as exc:
        _failures(request.config)[id(exc)] = [exc, "", what]
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Later tests that hit a remembered load error get a one-line reference to the first."""
    report = yield
    if call.excinfo is None or not report.failed:
        return report
    found = _failures(item.config).get(id(call.excinfo.value))
    if found is None or found[0] is not call.excinfo.value:
        return report
    if not found[1]:
        found[1] = item.nodeid  # the first test to meet it shows it in full
    elif found[1] != item.nodeid:
        report.longrepr = reference(found[2], found[1], call.excinfo.value)
    return report


def reference(what: str, first: str, exc: BaseException) -> str:
    """``igmu-audit: the unlearned model failed to load (ConfigError); shown once, at test_a``."""
    cause: Any = exc.original if isinstance(exc, LoadFailed) and exc.original else exc
    return (
        f"igmu-audit: the {what} failed to load ({type(cause).__name__}); "
        f"the error is shown once, at {first}"
    )
