"""Which files an override path stands for, and their checks before any model is loaded.

An override is a weight file, a component folder (``config.json`` + weights, as
``save_pretrained`` writes it), a pipeline folder with a ``<component>/`` subfolder, or a
sharded folder: ``*.safetensors.index.json`` whose ``weight_map`` names, per tensor,
the shard that holds it. Every file is validated from its header (existence, format,
truncation, pickle policy) and every shard against its index, so a bad override is a
``ConfigError`` naming the file before a multi-GB base model is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.checkpoints import (
    PICKLE_SUFFIXES,
    SAFE_SUFFIXES,
    validate_weight_file,
)

if TYPE_CHECKING:
    from igmu_audit.pipelines.spec import ModelSpec

#: How many offending names an index error shows.
_SHOWN = 3


@dataclass(frozen=True, slots=True)
class OverrideSource:
    """The files one override path resolves to.

    Attributes:
        files: the weight files to read, in order (shards sorted by name).
        index: the shard index, when the path is a sharded folder.
        weight_map: the index's tensor name -> shard file name (empty without index).
    """

    files: tuple[Path, ...]
    index: Path | None = None
    weight_map: tuple[tuple[str, str], ...] = ()


def _is_index(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return any(name.endswith(f"{s}.index.json") for s in suffixes)


def read_shard_index(index: Path, component: str) -> OverrideSource:
    """Parse and check a ``*.index.json``: valid JSON, a ``weight_map`` of names -> shards.

    Raises:
        ConfigError: bad JSON, no / a malformed ``weight_map``, a shard name that leaves
            the folder, or a shard that does not exist; naming the index and the fix.
    """
    head = f"model {component!r}: shard index {str(index)!r}"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{head} is not readable JSON ({exc}); re-save the model with save_pretrained"
        ) from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        got = type(weight_map).__name__ if isinstance(data, dict) else "no object"
        raise ConfigError(
            f"{head}: 'weight_map' must be a non-empty object of tensor name -> shard "
            f"file, got {got}; re-save the model with save_pretrained"
        )
    bad = [k for k, v in weight_map.items() if not isinstance(v, str) or not v]
    if bad:
        raise ConfigError(
            f"{head}: 'weight_map' entries must name a shard file; "
            f"{len(bad)} do not, e.g. {bad[:_SHOWN]!r}"
        )
    folder = index.parent
    shards = sorted(set(weight_map.values()))
    for name in shards:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            raise ConfigError(
                f"{head}: shard {name!r} is not a file name inside {str(folder)!r}"
            )
    missing = [name for name in shards if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"{head} names {len(missing)} shard(s) that are missing from "
            f"{str(folder)!r}: {', '.join(repr(m) for m in missing[:_SHOWN])}; "
            "copy every shard next to the index (an interrupted download?)"
        )
    return OverrideSource(
        files=tuple(folder / name for name in shards),
        index=index,
        weight_map=tuple(sorted(weight_map.items())),
    )


def resolve_override(path: str | Path, component: str) -> OverrideSource:
    """The weight files an override path stands for.

    Args:
        path: a weight file, a shard index file, a component folder, a pipeline folder
            with a ``<component>/`` subfolder, or a sharded folder.
        component: ``"unet"``, ``"text_encoder"`` or ``"lora"`` (for messages).

    Raises:
        ConfigError: the path is missing, or a folder holds no, ambiguous or
            inconsistent weights.
    """
    path = Path(path)
    if path.is_file():
        if _is_index(path, SAFE_SUFFIXES + PICKLE_SUFFIXES):
            return read_shard_index(path, component)
        return OverrideSource(files=(path,))
    if not path.is_dir():
        raise ConfigError(
            f"model {component!r}: override {str(path)!r} does not exist; check the "
            "path (relative paths are resolved from the current directory)"
        )
    if (
        not (path / "config.json").is_file()
        and (path / component / "config.json").is_file()
    ):
        path = path / component
    for suffixes in (SAFE_SUFFIXES, PICKLE_SUFFIXES):
        entries = sorted(p for p in path.iterdir() if p.is_file())
        indexes = [p for p in entries if _is_index(p, suffixes)]
        if len(indexes) > 1:
            raise ConfigError(
                f"model {component!r}: folder {str(path)!r} holds several shard indexes "
                f"({', '.join(p.name for p in indexes)}); name the index file to use"
            )
        if indexes:
            return read_shard_index(indexes[0], component)
        files = [p for p in entries if p.suffix.lower() in suffixes]
        if len(files) == 1:
            return OverrideSource(files=(files[0],))
        if files:
            raise ConfigError(
                f"model {component!r}: folder {str(path)!r} holds several weight files "
                f"({', '.join(p.name for p in files)}); name the file to use"
            )
    raise ConfigError(
        f"model {component!r}: folder {str(path)!r} holds no weight files "
        f"(accepted: {', '.join(SAFE_SUFFIXES + PICKLE_SUFFIXES)}, or a sharded "
        "*.safetensors.index.json)"
    )


def override_files(path: str | Path, component: str) -> list[Path]:
    """The weight files of :func:`resolve_override`, as a list."""
    return list(resolve_override(path, component).files)


def validate_override(
    source: OverrideSource, component: str, *, allow_pickle: bool
) -> None:
    """Check every file of ``source`` without reading tensors; shards against the index.

    Raises:
        ConfigError: a missing, empty, truncated or corrupt file; a shard that lacks a
            tensor its index places there, or a tensor in two shards.
        UnsafeCheckpointError: a pickle without ``allow_pickle``.
    """
    headers = {
        file.name: validate_weight_file(
            file, allow_pickle=allow_pickle, field=component
        )
        for file in source.files
    }
    if source.index is None:
        return
    seen: dict[str, str] = {}
    for shard, names in headers.items():
        for name in names or ():
            if name in seen:
                raise ConfigError(
                    f"model {component!r}: tensor {name!r} is in two shards, "
                    f"{seen[name]!r} and {shard!r} (index {str(source.index)!r}); "
                    "re-save the model with save_pretrained"
                )
            seen[name] = shard
    absent = [
        (name, shard)
        for name, shard in source.weight_map
        # a pickle shard has no header (None) to check against
        if (names := headers.get(shard)) is not None and name not in names
    ]
    if absent:
        shown = ", ".join(f"{n!r} (in {s!r})" for n, s in absent[:_SHOWN])
        raise ConfigError(
            f"model {component!r}: shard index {str(source.index)!r} places "
            f"{len(absent)} tensor(s) in shards that do not hold them: {shown}; "
            "the shards and the index are from different saves"
        )


def check_overrides(spec: ModelSpec) -> dict[str, list[Path]]:
    """Resolve and validate every override file of ``spec`` without reading tensors.

    Returns:
        component -> its weight files, in the order they are read.

    Raises:
        ConfigError: a missing, empty, truncated or corrupt file; a bad shard index; a
            sharded LoRA.
        UnsafeCheckpointError: a pickle without ``allow_pickle``.
    """
    paths: dict[str, list[Path]] = {}
    from igmu_audit.pipelines.spec import COMPONENT_FIELDS

    for name in (*COMPONENT_FIELDS, "lora"):
        if not getattr(spec, name):
            continue
        source = resolve_override(getattr(spec, name), name)
        if name == "lora" and len(source.files) > 1:
            raise ConfigError(
                f"model 'lora': {spec.lora!r} is sharded; LoRA weights must be one file"
            )
        validate_override(source, name, allow_pickle=spec.allow_pickle)
        paths[name] = list(source.files)
    return paths
