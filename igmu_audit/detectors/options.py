"""Which options a detector accepts, read from its factory's signature, and their checks.

A misspelt option (``treshold = 0.5``) would otherwise reach the detector's constructor
only when the first audit runs, or, for a factory taking ``**options``, be silently
ignored. Built-in detectors are read from their module's source with ``ast``, so the
configuration is checked without importing torch; registered factories with
``inspect.signature``; third-party entry points when they are resolved, before any image
is generated.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from igmu_audit.config.values import closest, fail
from igmu_audit.errors import ConfigError

#: annotation names -> the Python types a configuration value may have for them
_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float),
    "int": (int,),
    "str": (str,),
    "Path": (str,),
    "bool": (bool,),
    "None": (type(None),),
    "Sequence": (list, tuple),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "Mapping": (dict,),
    "dict": (dict,),
}


@dataclass(frozen=True, slots=True)
class Options:
    """What one detector factory accepts.

    Attributes:
        names: keyword option names, in signature order.
        types: option name -> its annotation as written (``"float | None"``), if any.
        open: the factory takes ``**options``, so any name is accepted.
    """

    names: tuple[str, ...]
    types: Mapping[str, str]
    open: bool = False


def _from_ast(args: ast.arguments) -> Options:
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs][1:]  # drop self
    names = tuple(p.arg for p in params)
    types = {p.arg: ast.unparse(p.annotation) for p in params if p.annotation}
    return Options(names, types, open=args.kwarg is not None)


@cache
def options_from_source(module: str, attribute: str) -> Options | None:
    """The ``__init__`` options of class ``attribute`` in ``module``, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attribute:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    return _from_ast(item.args)
    return None


def options_from_callable(factory: Callable[..., Any]) -> Options | None:
    """The keyword options of ``factory`` by ``inspect.signature``, or ``None`` if unreadable."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    types = {
        p.name: p.annotation
        if isinstance(p.annotation, str)
        else _type_name(p.annotation)
        for p in params
        if p.annotation is not p.empty
    }
    open_ = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return Options(tuple(p.name for p in params), types, open=open_)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _allowed(annotation: str) -> tuple[type, ...] | None:
    """Types a value may have for ``annotation``; ``None`` when it cannot be told."""
    allowed: list[type] = []
    for part in annotation.split("|"):
        base = part.strip().split("[", 1)[0].rsplit(".", 1)[-1]
        if base not in _TYPES:
            return None
        allowed.extend(_TYPES[base])
    return tuple(allowed)


def check_options(
    where: str,
    detector: str,
    options: Mapping[str, Any],
    accepted: Options,
    *,
    types: bool = True,
) -> None:
    """Raise ``ConfigError`` for an option ``detector`` does not take or a value of the wrong type.

    Args:
        where: the source, e.g. ``pyproject.toml [tool.igmu_audit.detectors.toyworld]``.
        detector: the detector's registry name (for the message).
        options: option name -> value.
        accepted: what the detector's factory accepts.
        types: also check value types against the annotations, as a configuration file
            can hold them (str, numbers, bools, lists, tables); in-process callers pass
            objects (paths, tensors, models) the constructor judges itself.
    """
    listing = ", ".join(accepted.names) or "none"
    for name, value in options.items():
        if not accepted.open and name not in accepted.names:
            raise ConfigError(
                f"{where} {name}: detector {detector!r} takes no option {name!r}"
                f"{closest(str(name), list(accepted.names))} (accepted: {listing})"
            )
        annotation = accepted.types.get(name) if types else None
        allowed = _allowed(annotation) if annotation else None
        if allowed is None:
            continue
        if (
            (isinstance(value, bool) and bool not in allowed)
            or not isinstance(value, allowed)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise fail(where, name, f"a value of type {annotation}", value)
