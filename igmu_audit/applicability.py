"""``not_applicable(reason)``: an audit test that does not apply to this model says so.

A plain ``pytest.skip`` in an audit test leaves the gate ``incomplete`` (an audit that
should have run did not). A ready-made suite serves every model, so some of its tests
do not apply to some models (a nudity carrier audit on a style model): those call
``not_applicable``, which skips the test and lists it under ``not_applicable`` in the
verdict record, with its reason, without holding the gate.
"""

from __future__ import annotations

from typing import NoReturn

# pytest.skip.Exception is this class; importing it by name keeps the base typed.
from _pytest.outcomes import Skipped


class NotApplicable(Skipped):
    """Raised by ``not_applicable``: the test skips and the record says why."""


def not_applicable(reason: str) -> NoReturn:
    """Skip this audit test as not applicable to the configured model.

    Args:
        reason: why it does not apply, and which setting would make it apply.

    Raises:
        NotApplicable: always (pytest reports the test as skipped).

    Example:
        >>> not_applicable("needs task: concept")
        Traceback (most recent call last):
        ...
        igmu_audit.applicability.NotApplicable: needs task: concept
    """
    __tracebackhide__ = True
    raise NotApplicable(msg=reason)
