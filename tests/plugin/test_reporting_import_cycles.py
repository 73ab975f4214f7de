"""The pytest wiring and the reporting modules import each other in one direction only.

``plugin.py`` and ``reporting/collector.py`` used to import each other (the collector
fetched its stash key from the plugin, inside a function): a cycle works until an import
order changes, then fails at a user's first run. The graph read here has every import
that can run, at module level or inside a function, and leaves out ``TYPE_CHECKING``
blocks (never executed).
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from pathlib import Path

import igmu_audit

PACKAGE = Path(igmu_audit.__file__).parent
#: the pytest-facing layer: the plugin, its fixtures and stash, results and reporting.
#: ``session`` is left out: the composition root, reached from below through
#: ``current_session()`` (generation -> backends -> session -> generation).
WATCHED = ("igmu_audit.plugin", "igmu_audit.fixtures", "igmu_audit.stash",
           "igmu_audit.load_errors", "igmu_audit.context", "igmu_audit.results", "igmu_audit.record",
           "igmu_audit._serialise", "igmu_audit.reporting")  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("igmu_audit", *path.relative_to(PACKAGE).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (
                n for child in node.orelse for n in [child, *_runtime_nodes(child)]
            )
            continue
        yield node
        yield from _runtime_nodes(node)


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """module -> the package modules it can import at run time."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(resolve(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = (
                        package.rsplit(".", node.level - 1)[0]
                        if node.level > 1
                        else package
                    )
                    base = f"{anchor}.{base}" if base else anchor
                targets.update(resolve(f"{base}.{a.name}") for a in node.names)
        graph[name] = frozenset(t for t in targets if t is not None and t != name)
    return graph


def cycles(graph: Mapping[str, Collection[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _watched(module: str) -> bool:
    return any(module == w or module.startswith(w + ".") for w in WATCHED)


def test_no_import_cycle_touches_the_plugin_or_reporting() -> None:
    found = [c for c in cycles(import_graph()) if any(_watched(m) for m in c)]
    assert found == []


def test_the_graph_sees_function_level_imports_and_the_checker_finds_cycles() -> None:
    """The check can fail: the collector's deferred import is an edge, and a loop is found."""
    graph = import_graph()
    assert (
        "igmu_audit.reporting.collector" in graph["igmu_audit.plugin"]
    )  # inside configure
    assert "igmu_audit.plugin" not in graph["igmu_audit.reporting.collector"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_stash_keys_are_created_in_one_module() -> None:
    """Two ``StashKey()`` objects for one thing read each other's stash as empty."""
    owners = sorted(
        name
        for name, path in _modules().items()
        if "StashKey()" in path.read_text(encoding="utf-8")
        or "StashKey[" in path.read_text(encoding="utf-8")
    )
    assert owners == ["igmu_audit.stash"]
