"""The context one assertion runs in: config, session, the current pytest test, thresholds.

Under pytest the plugin sets ``current_test`` (node id, ``@pytest.mark.igmu`` keywords,
where to record results) around each test call; outside pytest it is ``None`` and the
assertions still work, with evidence under ``<evidence_dir>/adhoc``.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.config.profiles import builtin_threshold
from igmu_audit.config.thresholds import check_threshold, floor_error, looser
from igmu_audit.results import Threshold

if TYPE_CHECKING:
    from igmu_audit.results import AuditResult
    from igmu_audit.session import AuditSession


@dataclass(slots=True)
class TestContext:
    """The pytest test an assertion runs in.

    Attributes:
        nodeid: the pytest node id (used in "re-run only this audit").
        marker: keyword arguments of ``@pytest.mark.igmu(...)``.
        results: every result recorded by this test, in order.
    """

    nodeid: str
    marker: dict[str, Any] = field(default_factory=dict)
    results: list[AuditResult] = field(default_factory=list)

    __test__ = False  # not a pytest test class


current_test: ContextVar[TestContext | None] = ContextVar(
    "igmu_current_test", default=None
)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "audit"


@dataclass(slots=True)
class AuditContext:
    """Resolves one assertion's settings and records its result."""

    assertion: str
    session: AuditSession
    test: TestContext | None
    task: str | None

    @classmethod
    def create(cls, assertion: str, task: str | None = None) -> AuditContext:
        """The context for ``assertion`` in the active session and test."""
        from igmu_audit.session import current_session

        session = current_session()
        test = current_test.get()
        marker_task = test.marker.get("task") if test else None
        return cls(assertion, session, test, task or marker_task or session.config.task)

    def threshold(
        self, aspect: str, name: str, explicit: float | None
    ) -> Threshold | None:
        """A threshold with its source, by the documented precedence (see config/profiles.py).

        A call argument or marker value is range-checked here (configured values were
        checked when read). No value anyone chose may be looser than the gate floor
        (config/floor.py); a built-in default looser than it is replaced by the floor.
        """
        chosen = self._chosen(aspect, name, explicit)
        floor = self.session.config.floor_of(aspect, name)
        if floor is None or (
            chosen is not None and not looser(name, chosen.value, floor[0])
        ):
            return chosen
        if chosen is None or chosen.source.startswith("built-in default"):
            return Threshold(name, floor[0], floor[1])
        raise floor_error(name, chosen.value, chosen.source, *floor)

    def _chosen(
        self, aspect: str, name: str, explicit: float | None
    ) -> Threshold | None:
        config = self.session.config
        if explicit is not None:
            value = check_threshold("call argument", name, explicit)
            return Threshold(name, value, "call argument")
        if self.test and name in self.test.marker:
            where = f"@pytest.mark.igmu on {self.test.nodeid}"
            value = check_threshold(where, name, self.test.marker[name])
            return Threshold(name, value, "@pytest.mark.igmu")
        if name in config.thresholds.get(aspect, {}):
            value = config.thresholds[aspect][name]
            return Threshold(
                name, value, config.source_of(f"thresholds.{aspect}.{name}")
            )
        profile = config.task_profiles.get(self.task or "", {}).get(aspect, {})
        if name in profile:
            return Threshold(
                name,
                float(profile[name]),
                f"pyproject.toml [tool.igmu_audit.profiles.{self.task}]",
            )
        found = builtin_threshold(aspect, name, self.task)
        if found:
            return Threshold(name, found[0], found[1])
        if name == "confidence":  # the run-wide level, so the floor can weigh it too
            source = config.source_of("confidence")
            return Threshold(
                name,
                config.confidence,
                "built-in default" if source == "default" else source,
            )
        return None

    def evidence_dir(self, concept: str) -> Path:
        """A fresh folder for this assertion's evidence (one per call within a test)."""
        root = Path(self.session.config.evidence_dir)
        base = root / (
            _slug(self.test.nodeid.split("::", 1)[-1]) if self.test else "adhoc"
        )
        stem = f"{self.assertion.removeprefix('assert_')}-{_slug(concept)}"
        folder, n = base / stem, 1
        while (
            folder.exists()
            and self.test is not None
            and any(r.evidence_dir == str(folder) for r in self.test.results)
        ):
            n += 1
            folder = base / f"{stem}-{n}"
        return folder

    def record(self, result: AuditResult) -> None:
        """Keep ``result`` for the test's report section, the summary and the verdict record."""
        if self.test is not None:
            self.test.results.append(result)
