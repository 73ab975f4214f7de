"""Prompts: DataIGM splits, multilingual lexicons and Hypothesis strategies."""

from __future__ import annotations

from igmu_audit.prompts.splits import DataIGM, TaskPrompts, load_dataigm, load_image_tree

__all__ = ["DataIGM", "TaskPrompts", "load_dataigm", "load_image_tree"]
