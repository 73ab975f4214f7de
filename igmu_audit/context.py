"""The context one assertion runs in: config, session, the current pytest test, thresholds.

Under pytest the plugin sets ``current_test`` (node id, ``@pytest.mark.igmu`` keywords,
where to record results) around each test call; outside pytest it is ``None`` and the
assertions still work, with evidence under ``<evidence_dir>/adhoc``; under pytest, under
``<evidence_dir>/<slug of the node id>-<sha256 of it, 12 hex>`` (see ``evidence_folder_name``).
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


#: Longest slug kept in a folder name (the hash suffix keeps shortened ones apart).
SLUG_CHARS = 80


def _slug(text: str, limit: int = SLUG_CHARS) -> str:
    """A readable, path-safe, bounded form of ``text`` (not unique: see ``evidence_folder_name``).

    A long slug keeps its start and its end (the file and the test's name and parameters).
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "audit"
    if len(slug) <= limit:
        return slug
    head = limit // 3
    return f"{slug[:head]}~{slug[-(limit - head - 1) :]}"


def evidence_folder_name(nodeid: str) -> str:
    """The evidence folder name of one pytest node: readable slug + hash of the exact id.

    Why the hash: slugs collide (``tests/a/test_x.py::t`` and ``tests/b/test_x.py::t``
    differ only in the file; ``t[a/b]`` and ``t[a_b]`` slug alike; long ids are cut), and
    one test's evidence must never overwrite another's.
    """
    import hashlib

    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{_slug(nodeid)}-{digest}"


#: Evidence folders handed out in this process: no two assertions ever share one.
_claimed: set[str] = set()


@dataclass(slots=True)
class AuditContext:
    """Resolves one assertion's settings and records its result."""

    assertion: str
    session: AuditSession
    test: TestContext | None
    task: str | None
    #: out-of-memory back-offs before this assertion began (see pipelines/memory.py)
    oom_mark: int = 0

    @classmethod
    def create(cls, assertion: str, task: str | None = None) -> AuditContext:
        """The context for ``assertion`` in the active session and test."""
        from igmu_audit.session import current_session

        session = current_session()
        test = current_test.get()
        marker_task = test.marker.get("task") if test else None
        from igmu_audit.pipelines.memory import REDUCTIONS

        chosen = task or marker_task or session.config.task
        return cls(assertion, session, test, chosen, len(REDUCTIONS))

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
        """A fresh folder for this assertion's evidence (one per call within a test).

        ``<evidence_dir>/<evidence_folder_name(nodeid)>/<aspect>-<concept>[-N]``: unique per node
        id (file path and parameters included), then per assertion call: no folder is
        handed out twice in one process, so nothing overwrites another audit's evidence;
        a later run of the same test reuses its own folders. Outside pytest: ``adhoc/...``.
        """
        root = Path(self.session.config.evidence_dir)
        base = root / (evidence_folder_name(self.test.nodeid) if self.test else "adhoc")
        stem = f"{self.assertion.removeprefix('assert_')}-{_slug(concept, 60)}"
        folder, n = base / stem, 1
        while str(folder) in _claimed:
            n += 1
            folder = base / f"{stem}-{n}"
        _claimed.add(str(folder))
        return folder

    def record(self, result: AuditResult) -> None:
        """Keep ``result`` for the test's report section, the summary and the verdict record."""
        if self.test is not None:
            self.test.results.append(result)
