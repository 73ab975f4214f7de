"""The core's import graph has no arrow into ``igmu_audit/toyworld/``.

Why: the toy world is a provider like any third-party package. It registers its
detector, CLIP model, lexicons and models through entry points in pyproject.toml; if a
core module imported it (even inside a function, or by a module-path string handed to
``importlib``), the core would again depend on one provider's internals and a user's own
package could not do what the toy world does. The toy world may import the core.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "igmu_audit"
TOY = "igmu_audit.toyworld"
#: A string that is a module path (or ``module:attribute``) into the toy world.
_MODULE_PATH = re.compile(r"igmu_audit\.toyworld(\.\w+)*(:[\w.]+)?")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _absolute(node: ast.ImportFrom, module: str, package: bool) -> str:
    """The module an ``ImportFrom`` reads, with relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _touches_toy(name: str) -> bool:
    return name == TOY or name.startswith(TOY + ".")


def toy_references(source: str, module: str, package: bool = False) -> list[str]:
    """Every import of (or module-path string into) the toy world in ``source``.

    Walks the whole tree, so imports inside functions, ``TYPE_CHECKING`` blocks and
    ``try`` blocks count; ``from igmu_audit import toyworld`` counts as well.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, package)
            names = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if _MODULE_PATH.fullmatch(node.value) else []
        else:
            continue
        found += [
            f"{module}:{node.lineno}: {name}" for name in names if _touches_toy(name)
        ]
    return found


def _core_modules() -> list[Path]:
    toy = PACKAGE / "toyworld"
    return [p for p in sorted(PACKAGE.rglob("*.py")) if toy not in p.parents]


def test_no_core_module_imports_the_toy_world() -> None:
    modules = _core_modules()
    assert len(modules) > 50  # the walk really found the package
    arrows = [
        ref
        for path in modules
        for ref in toy_references(
            path.read_text(encoding="utf-8"), _module_name(path), _is_package(path)
        )
    ]
    assert arrows == [], "core modules importing igmu_audit.toyworld:\n" + "\n".join(
        arrows
    )


def test_the_toy_world_imports_the_core_and_is_reached_only_by_entry_points() -> None:
    toy_detector = PACKAGE / "toyworld" / "detector.py"
    assert "igmu_audit.detectors.base" in toy_detector.read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    groups = pyproject["project"]["entry-points"]
    into_toy = {
        (group, name): value
        for group, eps in groups.items()
        for name, value in eps.items()
        if _touches_toy(value.split(":")[0])
    }
    assert into_toy == {
        ("igmu_audit.models", "toyworld"): "igmu_audit.toyworld.models:named_models",
        ("igmu_audit.detectors", "toyworld"): (
            "igmu_audit.toyworld.detector:ToyWorldDetector"
        ),
        (
            "igmu_audit.clip_models",
            "toyworld",
        ): "igmu_audit.toyworld.clip:load_toy_clip",
        (
            "igmu_audit.lexicons",
            "toyworld",
        ): "igmu_audit.toyworld.lexicons:toy_lexicons",
    }
    for value in into_toy.values():  # each names a top-level function or class
        module, attribute = value.split(":")
        tree = ast.parse((ROOT / f"{module.replace('.', '/')}.py").read_text("utf-8"))
        defined = {
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        }
        assert attribute in defined, value


@pytest.mark.parametrize(
    ("source", "module", "package"),
    [
        ("def f():\n    from igmu_audit.toyworld.clip import load_toy_clip\n", "igmu_audit.clip_models", False),
        ("import igmu_audit.toyworld.vocabulary as v\n", "igmu_audit.prompts.lexicons", False),
        ("from igmu_audit import toyworld\n", "igmu_audit.scoring", False),
        ("from ..toyworld import detector\n", "igmu_audit.detectors.registry", False),
        ("from .toyworld import models\n", "igmu_audit", True),
        ("if TYPE_CHECKING:\n    from igmu_audit.toyworld.clip import ToyClip\n", "igmu_audit.x", False),
        ("T = {'toyworld': ('igmu_audit.toyworld.detector', 'ToyWorldDetector')}\n", "igmu_audit.detectors.registry", False),
        ("importlib.import_module('igmu_audit.toyworld.clip')\n", "igmu_audit.x", False),
    ],
)  # fmt: skip
def test_the_check_sees_every_form_of_import(
    source: str, module: str, package: bool
) -> None:
    assert toy_references(source, module, package), source


@pytest.mark.parametrize(
    "source",
    [
        '"""Mentions igmu_audit.toyworld in prose, as a docstring may."""\n',
        "from igmu_audit.pipelines import named\n",
        "from .toys import x\n",
        "NAME = 'toyworld'\n",
    ],
)
def test_the_check_leaves_other_code_alone(source: str) -> None:
    assert toy_references(source, "igmu_audit.detectors.registry") == []
