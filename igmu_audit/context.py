"""The context one assertion runs in: config, session, the current pytest test, settings.

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

from igmu_audit.results import Threshold
from igmu_audit.settings import SETTINGS, Resolved, Scope, resolve

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
    """One assertion's session, test and task; resolves its settings and records its result."""

    assertion: str
    session: AuditSession
    test: TestContext | None
    task: str | None
    #: out-of-memory back-offs before this assertion began (see pipelines/memory.py)
    oom_mark: int = 0
    #: every setting this assertion resolved, keyed as the record shows it
    resolved: dict[str, Resolved] = field(default_factory=dict)

    @classmethod
    def create(cls, assertion: str) -> AuditContext:
        """The context for ``assertion`` in the active session and test."""
        from igmu_audit.pipelines.memory import REDUCTIONS
        from igmu_audit.session import current_session

        session = current_session()
        test = current_test.get()
        ctx = cls(assertion, session, test, None, len(REDUCTIONS))
        task = ctx.setting("task")
        ctx.task = None if task is None else task.value
        return ctx

    def scope(self, aspect: str | None = None) -> Scope:
        """Where this assertion's settings are looked up (see ``igmu_audit.settings``)."""
        test = self.test
        return Scope(
            self.session.config,
            test.marker if test else {},
            test.nodeid if test else None,
            self.task,
            aspect,
        )

    def setting(
        self, name: str, explicit: Any = None, aspect: str | None = None
    ) -> Resolved | None:
        """Setting ``name`` by the documented precedence (``igmu_audit.settings.resolve``).

        Thresholds need their ``aspect``; the value and its source are kept for the record.
        """
        found = resolve(name, self.scope(aspect), explicit)
        if found is not None:
            key = f"thresholds.{aspect}.{name}" if SETTINGS[name].threshold else name
            self.resolved[key] = found
        return found

    def value(self, name: str, explicit: Any = None) -> Any:
        """The value of a setting that always has a default (``concept``, ``seeds``...)."""
        found = self.setting(name, explicit)
        return None if found is None else found.value

    def threshold(
        self, aspect: str, name: str, explicit: float | None
    ) -> Threshold | None:
        """A threshold with its source, by the documented precedence, floor applied."""
        found = self.setting(name, explicit, aspect)
        return None if found is None else Threshold(name, found.value, found.source)

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
