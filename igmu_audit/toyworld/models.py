"""The toy world's named models (``toyworld:original``, ``toyworld:zoo/<method>``).

Registered through the entry-point group ``igmu_audit.models`` in pyproject.toml, the
same door a third-party package uses; the core never imports this module by name.
"""

from __future__ import annotations

from pathlib import Path

from igmu_audit._paths import fixtures_dir


def named_models() -> dict[str, Path]:
    """``{"original": folder, "zoo/<name>": override file, ...}`` in the shipped data."""
    root = fixtures_dir() / "toyworld"
    models: dict[str, Path] = {"original": root / "original"}
    for file in sorted((root / "zoo").glob("*.safetensors")):
        models[f"zoo/{file.stem}"] = file
    return models
