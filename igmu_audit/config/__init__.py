"""Typed, layered configuration with visible provenance.

``load_config`` merges the sources (command line > pytest ini > ``[tool.igmu_audit]`` >
YAML spec > defaults) into one frozen ``AuditConfig``; ``config.sources[key]`` says
which source supplied each value, for failure messages, the report header and the
verdict record. Every value is range-checked as it is read (``schema``, ``thresholds``),
and a gate floor (``floor``) bounds how loose any threshold may be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from igmu_audit.config.floor import check_against_floor, check_confidence, merge_floor
from igmu_audit.config.schema import FIELDS
from igmu_audit.config.sources import (
    Layer,
    check_keys,
    read_pyproject,
    read_yaml_spec,
    resolve_paths,
)

__all__ = ["AuditConfig", "load_config"]


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """Every igmu-audit setting, typed, with the source of each value.

    Attributes mirror ``igmu_audit.config.schema.FIELDS``; ``sources`` maps a key to
    ``"default"``, ``"--igmu-seeds"``, ``"pyproject.toml [tool.igmu_audit]"`` and so on.
    """

    model: dict[str, Any] | None = None
    original: dict[str, Any] | None = None
    devices: tuple[str, ...] = ("auto",)
    cache_dir: str = ".igmu/cache"
    evidence_dir: str = ".igmu/evidence"
    use_cache: bool = True
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    steps: int = 25
    guidance_scale: float = 7.5
    resolution: tuple[int, int] | None = None
    dtype: str = "float32"
    generation_args: dict[str, Any] = field(default_factory=dict)
    cpu_offload: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False
    batch_size: int = 8
    negative_prompt: str | None = None
    task: str | None = None
    concept: str | None = None
    dataigm_task: str | None = None
    prompts: dict[str, str] | None = None
    detector: str | None = None
    retain_detector: str | None = None
    clip: str | dict[str, str] | None = None
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    confidence: float = 0.95
    interval: str = "clustered"
    csdr_aggregation: str = "per-prompt"
    require_original: bool = False
    detector_card: str | dict[str, str] | None = None
    require_card: bool = False
    detector_margin: float = 0.05
    family_wise: bool = False
    allow_pickle: bool = False
    profile: str | None = None
    severity: str | None = None
    model_card: str | None = None
    blur_sensitive: bool = True
    record: str | None = None
    backend: str = "local"
    ray_address: str | None = None
    ray_actors: int | None = None
    ray_actor_cpus: int = 1
    task_profiles: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    detector_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    spec_path: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    #: the gate floor, aspect -> threshold -> loosest allowed value (see config/floor.py)
    floor: dict[str, dict[str, float]] = field(default_factory=dict)
    #: ``"aspect.name"`` -> where its floor was set, e.g. ``"audits/x.yaml floor.forgotten.max_rate"``
    floor_sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, key: str) -> str:
        """Where ``key``'s value came from (``"default"`` when nobody set it)."""
        return self.sources.get(key, "default")

    def floor_of(self, aspect: str, name: str) -> tuple[float, str] | None:
        """The gate floor of one threshold and where it was set, or ``None``."""
        value = self.floor.get(aspect, {}).get(name)
        return (
            None if value is None else (value, self.floor_sources[f"{aspect}.{name}"])
        )

    def changed(self) -> dict[str, Any]:
        """Settings that differ from the built-in defaults (for the report header)."""
        return {k: getattr(self, k) for k in FIELDS if k in self.sources}

    def with_overrides(self, where: str, **values: Any) -> AuditConfig:
        """A copy with ``values`` parsed and applied from source ``where``."""
        check_keys(where, values)
        layer = Layer(where, values, Path.cwd())
        merged, sources = _apply(layer, {}, dict(self.sources))
        config = replace(self, **merged, sources=sources)
        _check_floor(config)
        return config


def _apply(
    layer: Layer, merged: dict[str, Any], sources: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    parsed = {
        key: layer.parse(key)
        for key, value in layer.values.items()
        if key in FIELDS and value is not None
    }
    parsed = resolve_paths(layer, parsed)
    for key, value in parsed.items():
        if key == "thresholds":
            thresholds = {a: dict(t) for a, t in merged.get("thresholds", {}).items()}
            for aspect, table in value.items():
                thresholds.setdefault(aspect, {}).update(table)
                for name in table:
                    sources[f"thresholds.{aspect}.{name}"] = layer.where
            value = thresholds
        merged[key] = value
        sources[key] = layer.where
    return merged, sources


def _check_floor(config: AuditConfig) -> None:
    """Refuse configured thresholds, profiles and confidence looser than the gate floor."""
    if not config.floor:
        return
    tables: dict[str, dict[str, dict[str, float]]] = {}
    for aspect, values in config.thresholds.items():
        for name, value in values.items():
            label = f"{config.source_of(f'thresholds.{aspect}.{name}')} thresholds."
            tables.setdefault(label, {}).setdefault(aspect, {})[name] = value
    for task, profile in config.task_profiles.items():
        tables[f"pyproject.toml [tool.igmu_audit.profiles.{task}] "] = profile
    check_against_floor(config.floor, config.floor_sources, tables)
    if "confidence" in config.sources:
        check_confidence(
            config.floor,
            config.floor_sources,
            config.confidence,
            f"{config.source_of('confidence')} confidence",
        )


def _merge(
    layers: list[Layer],
) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, float]], dict[str, str]]:
    """Apply ``layers`` lowest precedence first; floors combine by strictness instead."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    floor: dict[str, dict[str, float]] = {}
    floor_sources: dict[str, str] = {}
    for layer in layers:
        merged, sources = _apply(layer, merged, sources)
        if "floor" in layer.values:
            floor, floor_sources = merge_floor(
                floor, floor_sources, layer.named or layer.where, layer.values["floor"]
            )
    return merged, sources, floor, floor_sources


def _display(path: Path, root: Path) -> str:
    """``path`` relative to the project root when it lies inside it (shorter messages)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_config(
    rootdir: str | Path = ".",
    *,
    cli: Mapping[str, Any] | None = None,
    ini: Mapping[str, Any] | None = None,
    spec: str | Path | None = None,
    invocation_dir: str | Path | None = None,
    pyproject: str | Path | None = None,
) -> AuditConfig:
    """Merge all configuration sources into one ``AuditConfig``.

    Args:
        rootdir: the project root (pytest's ``rootpath``); pyproject.toml is read there.
        cli: settings from ``--igmu-*`` options, keyed by schema name (``None`` = unset).
        ini: settings from pytest ini keys, keyed by schema name.
        spec: a YAML audit spec; else ``spec`` from ini or pyproject, if any.
        invocation_dir: base for relative command-line paths (default: the cwd).
        pyproject: explicit pyproject.toml path (default: ``rootdir/pyproject.toml``).

    Returns:
        The merged, validated configuration with ``sources`` filled in.

    Raises:
        ConfigError: an unknown key, a wrong type or an unreadable file, named with its source.

    Example:
        >>> load_config(cli={"seeds": "0-1"}).seeds
        (0, 1)
    """
    root = Path(rootdir).resolve()
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    ini = {k: v for k, v in (ini or {}).items() if v not in (None, "")}
    check_keys("command line", cli)
    check_keys("pytest ini", ini, ("spec",))
    py_layer = read_pyproject(Path(pyproject) if pyproject else root / "pyproject.toml")
    py_values = dict(py_layer.values) if py_layer else {}
    spec_value = spec or ini.pop("spec", None) or py_values.get("spec")
    spec_base = (
        root if spec or "spec" not in py_values else py_layer.base if py_layer else root
    )
    layers: list[Layer] = []
    spec_path: Path | None = None
    if spec_value:
        spec_path = (Path(invocation_dir or Path.cwd()) if spec else spec_base) / Path(
            spec_value
        )
        spec_layer = read_yaml_spec(spec_path.resolve())
        layers.append(replace(spec_layer, named=_display(spec_path.resolve(), root)))
    if py_layer:
        layers.append(py_layer)
    if ini:
        layers.append(Layer("pytest ini", ini, root, textual=True))
    if cli:
        layers.append(
            Layer("command line", cli, Path(invocation_dir or Path.cwd()), textual=True)
        )
    merged, sources, floor, floor_sources = _merge(layers)
    if "cache_dir" not in merged:
        merged["cache_dir"] = str(root / FIELDS["cache_dir"].default)
    if "evidence_dir" not in merged:
        merged["evidence_dir"] = str(root / FIELDS["evidence_dir"].default)
    config = AuditConfig(
        **merged,
        task_profiles=_profiles(py_values.get("profiles", {})),
        detector_settings=dict(py_values.get("detectors", {})),
        spec_path=str(spec_path.resolve()) if spec_path else None,
        sources=sources,
        floor=floor,
        floor_sources=floor_sources,
    )
    _check_floor(config)
    return config


def _profiles(raw: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Task profiles as read (already range-checked by ``read_pyproject``), parsed to numbers."""
    from igmu_audit.config.thresholds import parse_thresholds

    return {task: parse_thresholds("", "", table) for task, table in raw.items()}
