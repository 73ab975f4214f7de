"""Readers for the configuration sources, each returning raw values tagged with their source.

Precedence (most specific wins): command line > pytest ini ``igmu_*`` keys >
``[tool.igmu_audit]`` in pyproject.toml > the YAML audit spec > built-in defaults.
Relative paths are resolved against the folder of the source that gave them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from igmu_audit.config.schema import FIELDS, TASKS, closest, parse_thresholds
from igmu_audit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: keys pyproject's [tool.igmu_audit] accepts besides the schema's
PYPROJECT_EXTRA = ("spec", "profiles", "detectors")
#: keys a YAML spec accepts besides the schema's
YAML_EXTRA = ("version",)
#: keys whose values are paths (resolved against their source's folder)
PATH_KEYS = ("cache_dir", "evidence_dir", "record")
MODEL_PATH_KEYS = ("path", "unet", "text_encoder", "lora", "single_file_config")


@dataclass(frozen=True, slots=True)
class Layer:
    """Raw settings from one source: ``where`` names it in errors and provenance."""

    where: str
    values: Mapping[str, Any]
    base: Path


def _looks_local(value: str) -> bool:
    return value.startswith(("./", "../", "/", "~")) or value.endswith(
        (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
    )


def _resolve(value: str, base: Path, *, always: bool) -> str:
    candidate = (base / Path(value).expanduser()).resolve()
    if always or _looks_local(value) or candidate.exists():
        return str(candidate)
    return value  # a hub id such as "CompVis/stable-diffusion-v1-4"


def resolve_paths(layer: Layer, parsed: dict[str, Any]) -> dict[str, Any]:
    """Make the path-valued settings of ``parsed`` absolute against ``layer.base``."""
    out = dict(parsed)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = _resolve(out[key], layer.base, always=True)
    for key in ("model", "original"):
        spec = out.get(key)
        if isinstance(spec, dict):
            out[key] = {
                k: _resolve(v, layer.base, always=k != "path")
                if k in MODEL_PATH_KEYS and isinstance(v, str)
                else v
                for k, v in spec.items()
            }
    if isinstance(out.get("clip"), dict):
        out["clip"] = {
            **out["clip"],
            "checkpoint": _resolve(out["clip"]["checkpoint"], layer.base, always=True),
        }
    if isinstance(out.get("prompts"), dict):
        out["prompts"] = {
            k: _resolve(v, layer.base, always=True) for k, v in out["prompts"].items()
        }
    return out


def check_keys(
    where: str, values: Mapping[str, Any], extra: tuple[str, ...] = ()
) -> None:
    """Raise ``ConfigError`` for the first key that is not in the schema."""
    accepted = (*FIELDS, *extra)
    for key in values:
        if key not in accepted:
            raise ConfigError(
                f"{where} {key}: unknown key{closest(str(key), accepted)} "
                f"(accepted: {', '.join(sorted(accepted))})"
            )


def read_pyproject(path: Path) -> Layer | None:
    """``[tool.igmu_audit]`` from ``path``, or ``None`` when the file or table is absent."""
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("igmu_audit")
    if table is None:
        return None
    where = f"{path.name} [tool.igmu_audit]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    check_keys(where, table, PYPROJECT_EXTRA)
    profiles = table.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"{where} profiles: expected a table of task categories ({', '.join(TASKS)})"
        )
    for task, thresholds in profiles.items():
        if task not in TASKS:
            raise ConfigError(
                f"{where} profiles.{task}: unknown task category{closest(task, TASKS)} (accepted: {', '.join(TASKS)})"
            )
        parse_thresholds(
            f"{path.name} [tool.igmu_audit.profiles.{task}]", "", thresholds
        )
    return Layer(where, table, path.parent)


def read_yaml_spec(path: Path) -> Layer:
    """An audit spec YAML file (``yaml.safe_load`` only)."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"--igmu-spec {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    if data.get("version", 1) != 1:
        raise ConfigError(f"{path} version: expected 1 but got {data['version']!r}")
    check_keys(str(path.name), data, YAML_EXTRA)
    return Layer(path.name, data, path.parent)
