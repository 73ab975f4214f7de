"""``docs/ARCHITECTURE.md`` stays true: every module has its sentence, every name exists,
every documented import works, and the layers it draws are the real import graph.

Why a test: the page is the contract between the rooms, and it went stale silently
(10 modules missing, an import that failed). The page is the data here: its
``## Modules by layer`` catalogue says which layer each module is in, and its
``## Imports that go up`` list names the only arrows allowed against the layers.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "igmu_audit"
DOC = ROOT / "docs" / "ARCHITECTURE.md"

_FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")
_NAME = re.compile(r"igmu_audit(?:[./]\w+)*(?:\.py|/)?")
_IMPORT = re.compile(r"from (igmu_audit[\w.]*) import ([\w, ]+)")
_LAYER = re.compile(r"^### Layer (\d+)\b")
_ENTRY = re.compile(r"^- `([^`]+)`: (.*\S)")
_UP = re.compile(r"^- `(igmu_audit[\w.]*)` -> `(igmu_audit[\w.]*)`: \S")


def package_modules() -> dict[str, Path]:
    """Dotted name -> file of every module under ``igmu_audit/`` (a package is its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


@dataclass(frozen=True)
class Doc:
    """What the page says, read once per check."""

    names: list[tuple[int, str]]  # (line, backticked igmu_audit name)
    imports: list[tuple[int, str, list[str]]]  # (line, module, names)
    layers: dict[str, int]  # module -> layer of its catalogue entry
    entries: list[tuple[int, str, str]]  # (line, module, sentence)
    upward: set[tuple[str, str]]  # allowed arrows against the layers


def _blank_fences(text: str) -> str:
    """Fenced blocks (the layer drawing) hold no names to check; keep line numbers."""
    return _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def resolve(name: str, modules: dict[str, Path]) -> tuple[str | None, list[str]]:
    """The module a doc name stands for and the attribute path after it (``None``: no module).

    ``igmu_audit/pipelines/loading.py`` and ``igmu_audit/pipelines/`` are paths;
    ``igmu_audit.detectors.as_image_batch`` is the module ``igmu_audit.detectors`` and
    the attribute ``as_image_batch``.
    """
    if "/" in name:
        rel = name.rstrip("/")
        dotted = rel.removesuffix(".py").replace("/", ".")
        if rel.endswith(".py"):
            found = dotted in modules and modules[dotted].name != "__init__.py"
        else:
            found = dotted in modules and modules[dotted].name == "__init__.py"
        return (dotted if found else None), []
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        if ".".join(parts[:cut]) in modules:
            return ".".join(parts[:cut]), parts[cut:]
    return None, []


def read_doc(text: str, modules: dict[str, Path]) -> Doc:
    names, imports, entries = [], [], []
    layers: dict[str, int] = {}
    upward: set[tuple[str, str]] = set()
    layer: int | None = None
    section = ""
    for number, line in enumerate(_blank_fences(text).splitlines(), start=1):
        if line.startswith("## "):
            section, layer = line[3:].strip(), None
        heading = _LAYER.match(line)
        if heading and section == "Modules by layer":
            layer = int(heading.group(1))
        for span in _SPAN.findall(line):
            names += [(number, n.rstrip(".")) for n in _NAME.findall(span)]
            for module, listed in _IMPORT.findall(span):
                imports.append((number, module, [n.strip() for n in listed.split(",")]))
        entry = _ENTRY.match(line)
        if entry and layer is not None:
            module = resolve(entry.group(1), modules)[0]
            if module is not None:
                entries.append((number, module, entry.group(2)))
                layers.setdefault(module, layer)
        up = _UP.match(line)
        if up and section == "Imports that go up":
            upward.add((up.group(1), up.group(2)))
    return Doc(names, imports, layers, entries, upward)


def _shown(path: Path) -> str:
    """How the page names a module: its path, a package as its folder."""
    rel = path.relative_to(ROOT).as_posix()
    return rel.removesuffix("__init__.py") if path.name == "__init__.py" else rel


def _pyproject_names() -> set[str]:
    """Names the packaging declares that are not folders here: entry-point groups and
    the wheel-only data package (``igmu_audit._fixtures``)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = set(data["project"].get("entry-points", {}))
    mapped = set(data["tool"]["setuptools"].get("package-dir", {}))
    return groups | mapped


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules ``module`` imports when it runs (in functions too; ``if
    TYPE_CHECKING:`` blocks do not run). ``from pkg import submodule`` reads the
    submodule; the package's ``__init__`` counts only when a name comes from it."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    stack: list[ast.AST] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack += node.orelse
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            subs = {f"{base}.{alias.name}" for alias in node.names}
            found.update(subs)
            if not subs <= known:
                found.add(base)
        stack += list(ast.iter_child_nodes(node))
    return found


def import_graph(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """Arrows ``(importer, imported)`` between the package's modules."""
    known = set(modules)
    return {
        (module, target)
        for module, path in modules.items()
        for target in runtime_imports(path, module, known) & known
        if target != module
    }


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    found = package_modules()
    assert len(found) > 100  # the walk really found the package
    return found


@pytest.fixture(scope="module")
def doc(modules: dict[str, Path]) -> Doc:
    return read_doc(DOC.read_text(encoding="utf-8"), modules)


def test_every_module_has_one_entry_with_its_sentence(
    modules: dict[str, Path], doc: Doc
) -> None:
    counts: dict[str, int] = {}
    for _, module, _sentence in doc.entries:
        counts[module] = counts.get(module, 0) + 1
    missing = sorted(_shown(modules[m]) for m in set(modules) - set(counts))
    assert not missing, (
        "docs/ARCHITECTURE.md: these modules have no entry under `## Modules by layer`; "
        "add `- `<path>`: <one sentence: its job and why it exists>` under "
        "the layer it belongs to (see the drawing):\n  " + "\n  ".join(missing)
    )
    twice = sorted(m for m, n in counts.items() if n > 1)
    assert not twice, f"docs/ARCHITECTURE.md: modules with more than one entry: {twice}"
    short = [f"line {n}: {m}" for n, m, s in doc.entries if len(s.split()) < 4]
    assert not short, f"docs/ARCHITECTURE.md: entries without a sentence: {short}"


def test_every_name_the_doc_uses_exists(modules: dict[str, Path], doc: Doc) -> None:
    declared = _pyproject_names()
    stale = []
    for line, name in doc.names:
        if name.rstrip("/").replace("/", ".") in declared:
            continue
        module, attributes = resolve(name, modules)
        if module is None:
            stale.append(f"line {line}: `{name}` is no module under igmu_audit/")
            continue
        if attributes:
            value: object = importlib.import_module(module)
            for attribute in attributes:
                if not hasattr(value, attribute):
                    stale.append(f"line {line}: `{name}`: {module} has no {attribute}")
                    break
                value = getattr(value, attribute)
    assert not stale, "docs/ARCHITECTURE.md names what does not exist:\n  " + (
        "\n  ".join(stale)
    )


def test_every_import_the_doc_shows_works(doc: Doc) -> None:
    assert doc.imports, "the page shows no import (the check would test nothing)"
    broken = []
    for line, module, names in doc.imports:
        imported = importlib.import_module(module)
        broken += [
            f"line {line}: from {module} import {n}"
            for n in names
            if not hasattr(imported, n)
        ]
    assert not broken, "docs/ARCHITECTURE.md shows imports that fail:\n  " + (
        "\n  ".join(broken)
    )


def test_no_module_imports_a_higher_layer_unless_the_doc_says_why(
    modules: dict[str, Path], doc: Doc
) -> None:
    """Layer 0 (providers) is on top, so the core importing it is an arrow up too."""
    actual = {
        (a, b)
        for a, b in import_graph(modules)
        if a in doc.layers and b in doc.layers and doc.layers[b] < doc.layers[a]
    }
    undocumented = sorted(actual - doc.upward)
    assert not undocumented, (
        "imports against the layers of docs/ARCHITECTURE.md; move the code, or list "
        "the arrow under `## Imports that go up` with the reason:\n  "
        + "\n  ".join(
            f"{a} (layer {doc.layers[a]}) -> {b} (layer {doc.layers[b]})"
            for a, b in undocumented
        )
    )
    stale = sorted(doc.upward - actual)
    assert not stale, f"`## Imports that go up` lists arrows that are gone: {stale}"


def test_the_checks_can_fail(modules: dict[str, Path]) -> None:
    """A page missing a module, naming a ghost, showing a broken import or hiding an
    upward arrow is caught (the checks above run on the real page, which passes)."""
    page = "\n".join(
        [
            "## Modules by layer",
            "### Layer 1: door",
            "- `igmu_audit/assertions.py`: the three public assertions live here.",
            "### Layer 2: engines",
            "- `igmu_audit/pipelines/loading.py`: loads the model under audit offline.",
            "- `igmu_audit/pipelines/ghost.py`: a module that was deleted long ago.",
            "Shown: `from igmu_audit.results import NoSuchName`.",
            "## Imports that go up",
            "- `igmu_audit.pipelines.loading` -> `igmu_audit.assertions`: example.",
        ]
    )
    page_doc = read_doc(page, modules)
    assert [m for _, m, _ in page_doc.entries] == [
        "igmu_audit.assertions",
        "igmu_audit.pipelines.loading",
    ]
    assert resolve("igmu_audit/pipelines/ghost.py", modules) == (None, [])
    assert resolve("igmu_audit.detectors.as_image_batch", modules) == (
        "igmu_audit.detectors",
        ["as_image_batch"],
    )
    assert resolve("igmu_audit/pipelines/", modules) == ("igmu_audit.pipelines", [])
    assert ("igmu_audit.results", ["NoSuchName"]) in [
        (m, n) for _, m, n in page_doc.imports
    ]
    assert page_doc.layers == {
        "igmu_audit.assertions": 1,
        "igmu_audit.pipelines.loading": 2,
    }
    assert page_doc.upward == {
        ("igmu_audit.pipelines.loading", "igmu_audit.assertions")
    }
    arrows = import_graph(modules)
    assert ("igmu_audit.assertions", "igmu_audit.steps") in arrows


def test_function_level_imports_count_and_type_checking_ones_do_not(
    tmp_path: Path,
) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from igmu_audit.results import ForgettingResult\n"
        "def f():\n"
        "    from ..pipelines import loading\n"
        "    import igmu_audit.errors\n",
        encoding="utf-8",
    )
    known = {"igmu_audit", "igmu_audit.pipelines", "igmu_audit.pipelines.loading"}
    found = runtime_imports(source, "igmu_audit.reporting.mod", known)
    assert "igmu_audit.pipelines.loading" in found
    assert "igmu_audit.pipelines" not in found  # only a submodule was taken from it
    assert "igmu_audit.errors" in found
    assert "igmu_audit.results" not in found
