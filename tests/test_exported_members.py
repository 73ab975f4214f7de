"""The public door is pinned: ``__all__`` is sorted, every name resolves, and the lazy
table, the eager imports and the ``TYPE_CHECKING`` block agree (they were kept in sync
by hand)."""

from __future__ import annotations

import ast
from pathlib import Path

import igmu_audit

INIT = Path(igmu_audit.__file__)


def _type_checking_names() -> set[str]:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "id", None) == "TYPE_CHECKING"
        ):
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in stmt.names)
    return names


def test_all_is_sorted_and_unique() -> None:
    assert igmu_audit.__all__ == sorted(set(igmu_audit.__all__))


def test_every_public_name_resolves_and_reads_as_igmu_audit() -> None:
    for name in igmu_audit.__all__:
        value = getattr(igmu_audit, name)
        if isinstance(value, type) and issubclass(value, BaseException | Warning):
            assert value.__module__ == "igmu_audit", name


def test_lazy_table_and_type_checking_imports_agree() -> None:
    lazy = set(igmu_audit._LAZY)
    assert lazy <= set(igmu_audit.__all__)
    assert _type_checking_names() == lazy
    eager = set(igmu_audit.__all__) - lazy - {"__version__"}
    for name in eager:  # imported at module level, not lazily
        assert name in vars(igmu_audit), name
    for name, module in igmu_audit._LAZY.items():
        assert getattr(__import__(module, fromlist=[name]), name) is getattr(
            igmu_audit, name
        )
