"""Strict readers for configuration files: UTF-8 only, no repeated keys, bounded nesting.

The standard loaders keep the last of two repeated keys (``yaml.safe_load``, ``json``),
raise a bare ``UnicodeDecodeError`` for UTF-16 or latin-1 files and a ``RecursionError``
for very deep nesting. Any of those can make a release gate read something other than
what its owner wrote, so each becomes a ``ConfigError`` naming the file and how to fix it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)
_SAVE = "save it as UTF-8"
#: flow brackets nested deeper than this are refused before YAML parsing
MAX_FLOW_DEPTH = 1000
_DEEP = (
    "nested too deeply to be a configuration file (more levels than the parser's "
    "recursion limit allows); flatten it"
)


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path`` (a leading UTF-8 BOM is dropped).

    Args:
        path: the file to read.
        what: what the file is, for messages (``"audit spec file"``, ``"DataIGM prompt file"``).

    Raises:
        ConfigError: missing, a directory, unreadable, or not UTF-8 text.
    """
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; expected the {what}")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"{path}: the {what} is {name} text (BOM found); {_SAVE}")
    if b"\x00" in raw:
        raise ConfigError(
            f"{path}: the {what} holds NUL bytes (UTF-16 without a BOM, or not text); {_SAVE}"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: the {what} is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}, "
            f"perhaps latin-1 or cp1252); {_SAVE}"
        ) from None


class _Repeated:
    """A repeated JSON key, carried up through the enclosing objects to build its path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _marker_in(value: Any) -> _Repeated | None:
    """A ``_Repeated`` inside ``value`` (directly, or in nested lists), else ``None``."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, suffix = stack.pop()
        if isinstance(item, _Repeated):
            return _Repeated(suffix + item.path)
        if isinstance(item, list):
            stack.extend((v, f"{suffix}[{i}]") for i, v in enumerate(item))
    return None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Repeated:
    out: dict[str, Any] = {}
    for key, value in pairs:
        inner = _marker_in(value)
        if inner is not None:
            return _Repeated(f".{key}{inner.path}")
        if key in out:
            return _Repeated(f".{key}")
        out[key] = value
    return out


def load_json(path: Path, what: str) -> Any:
    """Parse ``path`` as JSON; a repeated key anywhere is an error naming its ``$.`` path."""
    text = read_text(path, what)
    if not text.strip():
        raise ConfigError(f"{path}: the {what} is empty; expected a JSON object")
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: {_DEEP}") from None
    repeated = _marker_in(data)
    if repeated is not None:
        raise ConfigError(
            f"{path}: ${repeated.path}: key repeated (JSON keeps only the last one); "
            "remove or rename one of them"
        )
    return data


def _repeated_yaml_key(loader: Any, root: Any) -> str | None:
    """The first key given twice in one mapping, as ``path (lines a and b)``, else ``None``."""
    import yaml

    stack: list[tuple[Any, str]] = [(root, "")]
    visited: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in visited:  # an alias may point back at an ancestor
            continue
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(
                    ":merge"
                ):
                    continue
                key = loader.construct_object(key_node)
                line = key_node.start_mark.line + 1
                where = f"{path}.{key}" if path else str(key)
                if key in seen:
                    return f"{where} (lines {seen[key]} and {line})"
                seen[key] = line
                stack.append((value_node, where))
    return None


def _too_deep(text: str) -> bool:
    """Whether flow brackets nest deeper than any parser here can go.

    PyYAML's scanner is quadratic in open flow levels (100k levels take seconds before
    its composer hits the recursion limit), so such files are refused up front; brackets
    inside quoted strings are counted too, which only matters past ``MAX_FLOW_DEPTH``.
    """
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return False
    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_FLOW_DEPTH:
            return True
    return False


def load_yaml(path: Path, what: str) -> Any:
    """Parse ``path`` with ``SafeLoader``, refusing a mapping key given twice."""
    import yaml

    text = read_text(path, what)
    if _too_deep(text):
        raise ConfigError(f"{path}: {_DEEP}")
    loader = yaml.SafeLoader(text)
    loader.name = str(
        path
    )  # marks in syntax errors name the file, not "<unicode string>"
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        repeated = _repeated_yaml_key(loader, node)
        if repeated is not None:
            raise ConfigError(
                f"{path} {repeated}: key repeated (YAML keeps only the last one); "
                "remove or rename one of them"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: {_DEEP}") from None
    finally:
        loader.dispose()


def load_toml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as TOML (``tomllib`` already refuses a key defined twice)."""
    text = read_text(path, "TOML file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML (a syntax error or a key defined twice): {exc}"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: {_DEEP}") from None
