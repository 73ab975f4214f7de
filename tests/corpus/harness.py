"""The bad-input corpus's one rule, written once: every bad input is a clear, early error
that names where it is, and leaves what was on disk exactly as it was.

Each corpus file lists ``Case``s; ``check_case`` runs one in process and asserts
(1) the error class, (2) that the message names the file, key or field (every string
in ``mentions``), and (3) that every file under the watched folder is byte-identical
afterwards apart from ``allowed`` new files (nothing corrupted, nothing lost).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.config import load_config

#: the zero-argument call a case's ``run`` returns
Call = Callable[[], object]


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (empty when it does not exist)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: a short readable id (the pytest parameter id).
        run: called with a fresh ``tmp_path``; builds the bad input there and returns
            the zero-argument call that must fail.
        error: the exception class the call must raise.
        mentions: strings the message must contain (a file name, a key, a field);
            ``{tmp}`` is replaced by the case's ``tmp_path``.
        allowed: glob patterns (relative to ``tmp_path``) of files the call may create.
    """

    id: str
    run: Callable[[Path], object]
    error: type[BaseException]
    mentions: tuple[str, ...] = ()
    allowed: tuple[str, ...] = field(default_factory=tuple)


def check_case(case: Case, tmp_path: Path) -> pytest.ExceptionInfo[BaseException]:
    """Run ``case`` and assert error class, message and an untouched disk."""
    # ``run`` builds the bad input and returns the failing call, so the disk is
    # snapshotted between the two: the build may write, the call may not.
    call = case.run(tmp_path)
    if not callable(call):
        raise AssertionError(
            f"{case.id}: run() must build the input and return the failing call"
        )
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as info:
        call()
    message = str(info.value)
    for needle in case.mentions:
        needle = needle.replace("{tmp}", str(tmp_path))
        assert needle in message, (
            f"{case.id}: message does not name {needle!r}:\n{message}"
        )
    after = snapshot(tmp_path)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"{case.id}: files changed or lost: {changed}"
    new = [p for p in after if p not in before]
    unexpected = [p for p in new if not any(Path(p).match(g) for g in case.allowed)]
    assert not unexpected, f"{case.id}: unexpected files written: {unexpected}"
    return info


def ids(cases: Iterable[Case]) -> list[str]:
    """Parameter ids of ``cases``."""
    return [c.id for c in cases]


# Builders for the cases that read a configuration source: one home for the corpus files.


def spec(text: str | bytes, name: str = "audit.yaml") -> Callable[[Path], Call]:
    """A case that reads a YAML spec holding ``text``."""

    def run(tmp: Path) -> Call:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return lambda: load_config(tmp, spec=path)

    return run


def pyproject(text: str | bytes) -> Callable[[Path], Call]:
    """A case that reads ``[tool.igmu_audit]`` from a pyproject.toml holding ``text``."""

    def run(tmp: Path) -> Call:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (tmp / "pyproject.toml").write_bytes(data)
        return lambda: load_config(tmp)

    return run


def cli(**values: Any) -> Callable[[Path], Call]:
    """A case that reads command-line values."""
    return lambda tmp: lambda: load_config(tmp, cli=values)


def ini(**values: Any) -> Callable[[Path], Call]:
    """A case that reads pytest ini values."""
    return lambda tmp: lambda: load_config(tmp, ini=values)
