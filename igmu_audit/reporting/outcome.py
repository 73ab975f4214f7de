"""The verdict vocabulary, written once: verdicts, flags, how they combine, exit statuses.

docs/verdict-record.md documents exactly these names and numbers; the record, the
plugin's exit status, the terminal summary and ``python -m igmu_audit.record merge``
all import them from here. Pure Python: ``merge`` imports this without pytest, numpy
or torch.

Precedence (strongest first): ``error`` > ``incomplete`` > ``fail`` > ``inconclusive``
> ``pass``. A run passes only when at least one audit ran, every audit test produced a
result, and no gating entry is anything but ``pass``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

PASS: Final = "pass"  # noqa: S105 - a verdict, not a password
INCONCLUSIVE: Final = "inconclusive"
FAIL: Final = "fail"
INCOMPLETE: Final = "incomplete"
ERROR: Final = "error"

#: every verdict, weakest first: the run's verdict is the strongest gating one
VERDICTS: Final = (PASS, INCONCLUSIVE, FAIL, INCOMPLETE, ERROR)
#: verdicts an assertion (an audit entry) can reach
AUDIT_VERDICTS: Final = (PASS, INCONCLUSIVE, FAIL)
#: verdicts of a test that produced no result (a problem entry)
PROBLEM_VERDICTS: Final = (INCOMPLETE, ERROR)

#: the verdict was raised and caught by its own test (``pytest.raises``, ``xfail``): it
#: shows the audit can fail, and is the only flag that keeps a non-pass from gating
POSITIVE_CONTROL: Final = "positive control"
#: the detector's error rates were never measured for this concept
UNCALIBRATED: Final = "uncalibrated"
#: the verdict changes within the detector's threshold uncertainty
DETECTOR_SENSITIVE: Final = "detector-sensitive"
#: no original-model reference was measured (vacuity not ruled out)
NO_REFERENCE: Final = "no reference"
#: flags documented in docs/verdict-record.md; entries may carry others (newer writers)
FLAGS: Final = (POSITIVE_CONTROL, UNCALIBRATED, DETECTOR_SENSITIVE, NO_REFERENCE)

#: exit statuses, clear of pytest's own 0-5 so a gate can tell them from a pytest crash
EXIT_PASS: Final = 0
EXIT_FAIL: Final = 10
EXIT_INCONCLUSIVE: Final = 11
EXIT_ERROR: Final = 12
EXIT_STATUS: Final[Mapping[str, int]] = {
    PASS: EXIT_PASS,
    FAIL: EXIT_FAIL,
    INCONCLUSIVE: EXIT_INCONCLUSIVE,
    INCOMPLETE: EXIT_ERROR,
    ERROR: EXIT_ERROR,
}
#: the closing line's word for each verdict
WORDS: Final[Mapping[str, str]] = {
    PASS: "PASS",
    FAIL: "FAIL",
    INCONCLUSIVE: "INCONCLUSIVE",
    INCOMPLETE: "INCOMPLETE",
    ERROR: "ERROR",
}


def strongest(verdicts: Iterable[str]) -> str:
    """The strongest verdict by precedence; ``pass`` for none."""
    return max(verdicts, key=VERDICTS.index, default=PASS)


def gates(entry: Mapping[str, Any]) -> bool:
    """Whether ``entry`` holds the gate: any non-pass, unless a positive control.

    An ``error`` or ``incomplete`` entry always gates: a flag cannot excuse a test that
    produced no result.
    """
    verdict = entry["verdict"]
    if verdict in PROBLEM_VERDICTS:
        return True
    return verdict != PASS and POSITIVE_CONTROL not in entry.get("flags", ())


def run_verdict(
    audits: Iterable[Mapping[str, Any]], problems: Iterable[Mapping[str, Any]]
) -> str:
    """The run's verdict: the strongest gating entry, and never a pass without an audit."""
    audits, problems = list(audits), list(problems)
    verdict = strongest(e["verdict"] for e in [*audits, *problems] if gates(e))
    if not audits:
        verdict = strongest([verdict, INCOMPLETE])
    return verdict


def exit_status(verdict: str) -> int:
    """The process exit status of a run (or merge) whose verdict is ``verdict``."""
    return EXIT_STATUS[verdict]
