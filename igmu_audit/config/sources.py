"""Readers for the configuration sources, each returning raw values tagged with their source.

Precedence (most specific wins): command line > pytest ini ``igmu_*`` keys >
``[tool.igmu_audit]`` in pyproject.toml > the YAML audit spec > built-in defaults.
Relative paths are resolved against the folder of the source that gave them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from igmu_audit.config.schema import FIELDS, TASKS, closest
from igmu_audit.config.strict_loaders import load_toml, load_yaml
from igmu_audit.config.thresholds import parse_thresholds
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.named import is_model_name

#: keys pyproject's [tool.igmu_audit] accepts besides the schema's
PYPROJECT_EXTRA = ("spec", "profiles", "detectors", "floor")
#: keys a YAML spec accepts besides the schema's
YAML_EXTRA = ("version", "floor")
#: command-line flags whose name is not ``--igmu-<key with dashes>`` (see plugin.OPTIONS)
_FLAGS = {
    "devices": "--igmu-device",
    "guidance_scale": "--igmu-guidance",
    "use_cache": "--igmu-no-cache",
}
#: keys whose values are paths (resolved against their source's folder)
PATH_KEYS = ("cache_dir", "evidence_dir", "record")
MODEL_PATH_KEYS = (
    "path", "unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3",
    "lora", "single_file_config",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layer:
    """Raw settings from one source: ``where`` names it in errors and provenance."""

    where: str
    values: Mapping[str, Any]
    base: Path
    #: every value may be text (command line, ini): numbers are parsed from strings
    textual: bool = False
    #: a longer name for provenance (the spec's path relative to the project root)
    named: str | None = None

    def label(self, key: str) -> str:
        """How ``key`` is written in this source: ``--igmu-steps``, ``igmu_steps`` or ``steps``."""
        if self.where == "command line":
            return _FLAGS.get(key, "--igmu-" + key.replace("_", "-"))
        if self.where == "pytest ini":
            return f"igmu_{key}"
        return key

    def parse(self, key: str) -> Any:
        """The typed value of ``key``; a quoted number from a typed file is an error."""
        field, value = FIELDS[key], self.values[key]
        if field.numeric and isinstance(value, str) and not self.textual:
            raise ConfigError(
                f"{self.where} {key}: expected a number but got the string {value!r}; "
                "remove the quotes"
            )
        return field.parse(self.where, self.label(key), value)


def _looks_local(value: str) -> bool:
    return value.startswith(("./", "../", "/", "~")) or value.endswith(
        (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
    )


def _resolve(value: str, base: Path, *, always: bool) -> str:
    if "://" in value:  # an fsspec URL (cache_dir: s3://bucket/cache) is not a path
        return value
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
                if k in MODEL_PATH_KEYS
                and isinstance(v, str)
                and not is_model_name(v, layer.base)
                else v
                for k, v in spec.items()
            }
    if isinstance(out.get("clip"), dict):
        out["clip"] = {
            **out["clip"],
            "checkpoint": _resolve(out["clip"]["checkpoint"], layer.base, always=True),
        }
    if isinstance(out.get("detector_card"), str):
        out["detector_card"] = _resolve(out["detector_card"], layer.base, always=True)
    if isinstance(out.get("detector_card"), dict):
        out["detector_card"] = {
            k: _resolve(v, layer.base, always=True)
            for k, v in out["detector_card"].items()
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


def _check_profiles(path: Path, where: str, profiles: Any) -> None:
    if not isinstance(profiles, dict):
        raise ConfigError(
            f"{where} profiles: expected a table of task categories ({', '.join(TASKS)}) "
            f"but got {profiles!r:.60}"
        )
    for task, thresholds in profiles.items():
        if task not in TASKS:
            raise ConfigError(
                f"{where} profiles.{task}: unknown task category{closest(task, TASKS)} "
                f"(accepted: {', '.join(TASKS)})"
            )
        parse_thresholds(
            f"{path.name} [tool.igmu_audit.profiles.{task}]", "", thresholds
        )


def read_pyproject(path: Path) -> Layer | None:
    """``[tool.igmu_audit]`` from ``path``, or ``None`` when the file or table is absent."""
    from igmu_audit.config.detector_tables import check_detector_tables

    if not path.exists():
        return None
    data = load_toml(path)
    tool = data.get("tool", {})
    table = tool.get("igmu_audit") if isinstance(tool, dict) else None
    if table is None:
        return None
    where = f"{path.name} [tool.igmu_audit]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table but got {table!r:.60}")
    check_keys(where, table, PYPROJECT_EXTRA)
    _check_profiles(path, where, table.get("profiles", {}))
    if "detectors" in table:
        check_detector_tables(f"{path.name} [tool.igmu_audit", table["detectors"])
    if "floor" in table:
        parse_thresholds(where, "floor", table["floor"])
    return Layer(where, table, path.parent)


def read_yaml_spec(path: Path) -> Layer:
    """An audit spec YAML file (safe loading, no repeated keys, UTF-8 only)."""
    if not path.exists():
        raise ConfigError(f"--igmu-spec {path}: file not found")
    data = load_yaml(path, "audit spec file")
    if data is None:
        raise ConfigError(
            f"{path}: the audit spec is empty; put settings in it (model: ..., "
            "thresholds: ...) or stop naming it as the spec"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
        )
    if data.get("version", 1) != 1 or isinstance(data.get("version"), bool):
        raise ConfigError(f"{path} version: expected 1 but got {data['version']!r}")
    check_keys(str(path.name), data, YAML_EXTRA)
    if "floor" in data:
        parse_thresholds(path.name, "floor", data["floor"])
    return Layer(path.name, data, path.parent)
