"""DataIGM prompt splits (``forgot.json`` / ``retain.json``) and detector image trees.

Prompt files are ``{task: {category: [prompt, ...]}}``. Detector-training images live in
``<Task>/<train|test>/<class>/<image files>``. Both are validated on load: a malformed
file fails with the file, the JSON path inside it and what was expected; a repeated
key, a file that is not UTF-8 or absurdly deep nesting is an error too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from igmu_audit._paths import fixtures_dir
from igmu_audit.config.schema import closest
from igmu_audit.config.strict_loaders import load_json
from igmu_audit.errors import ConfigError

FORGET_FILE = "forgot.json"
RETAIN_FILE = "retain.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

Prompts = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class TaskPrompts:
    """The forget and retain prompts of one DataIGM task.

    Attributes:
        task: the task key, e.g. ``"nudity"`` or ``"object_church"``.
        forget: category -> prompts that should no longer show the concept.
        retain: category -> prompts that must keep working.
    """

    task: str
    forget: Prompts
    retain: Prompts

    def forget_prompts(self, category: str | None = None) -> list[str]:
        """Forget prompts of ``category``, or of all categories in file order."""
        return _select(self.task, "forget", self.forget, category)

    def retain_prompts(self, category: str | None = None) -> list[str]:
        """Retain prompts of ``category``, or of all categories in file order."""
        return _select(self.task, "retain", self.retain, category)

    @property
    def paired(self) -> bool:
        """Whether retain[cat][j] is forget[cat][j] with the concept removed (nudity, styles)."""
        return self.forget.keys() == self.retain.keys() and all(
            len(self.forget[c]) == len(self.retain[c]) for c in self.forget
        )


def _select(task: str, side: str, prompts: Prompts, category: str | None) -> list[str]:
    if category is None:
        return [p for ps in prompts.values() for p in ps]
    if category not in prompts:
        raise ConfigError(
            f"DataIGM task {task!r} has no {side} category {category!r}{closest(category, list(prompts))} "
            f"(categories: {', '.join(prompts)})"
        )
    return list(prompts[category])


@dataclass(frozen=True, slots=True)
class DataIGM:
    """A DataIGM prompt split: every task's forget and retain prompts.

    Attributes:
        forget_path: the ``forgot.json`` it was read from.
        retain_path: the ``retain.json`` it was read from.
        tasks: task key -> ``TaskPrompts``.
    """

    forget_path: Path
    retain_path: Path
    tasks: Mapping[str, TaskPrompts]

    def __getitem__(self, task: str) -> TaskPrompts:
        if task not in self.tasks:
            raise ConfigError(
                f"{self.forget_path}: no task {task!r}{closest(task, list(self.tasks))} "
                f"(tasks: {', '.join(self.tasks)})"
            )
        return self.tasks[task]

    def __contains__(self, task: object) -> bool:
        return task in self.tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)


def _read_json(path: Path) -> Any:
    """Strict JSON: UTF-8 only, no repeated keys (JSON would keep the last), bounded depth."""
    return load_json(path, "DataIGM prompt file")


def _parse_prompt_file(path: Path) -> dict[str, Prompts]:
    data = _read_json(path)
    shape = "{task: {category: [prompt, ...]}}"
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f"{path}: $: expected a non-empty object {shape} but got "
            f"{'an empty object' if data == {} else type(data).__name__}"
        )
    out: dict[str, Prompts] = {}
    for task, categories in data.items():
        if not isinstance(categories, dict) or not categories:
            raise ConfigError(
                f"{path}: $.{task}: expected a non-empty object of categories but got {categories!r:.60}"
            )
        parsed: Prompts = {}
        for category, prompts in categories.items():
            where = f"$.{task}.{category}"
            if not isinstance(prompts, list) or not prompts:
                raise ConfigError(
                    f"{path}: {where}: expected a non-empty list of prompts but got {prompts!r:.60}"
                )
            for i, prompt in enumerate(prompts):
                if not isinstance(prompt, str) or not prompt.strip():
                    raise ConfigError(
                        f"{path}: {where}[{i}]: expected a non-empty string but got {prompt!r:.60}"
                    )
            parsed[category] = tuple(prompts)
        out[task] = parsed
    return out


def load_dataigm(
    root: str | Path | None = None,
    *,
    forget: str | Path | None = None,
    retain: str | Path | None = None,
) -> DataIGM:
    """Read a DataIGM prompt split.

    Args:
        root: a folder holding ``forgot.json`` and ``retain.json``; default: the split
            shipped with igmu-audit (nudity, style_vangogh, object_church, object_parachute
            and the toy-world tasks).
        forget: explicit path of the forget file (overrides ``root``).
        retain: explicit path of the retain file (overrides ``root``).

    Returns:
        The split, with every task present in both files.

    Raises:
        ConfigError: a file is missing or malformed, or a task is in one file only.

    Example:
        >>> split = load_dataigm()
        >>> len(split["nudity"].forget_prompts()) >= 20
        True
    """
    base = Path(root) if root is not None else fixtures_dir() / "dataigm"
    forget_path = Path(forget) if forget else base / FORGET_FILE
    retain_path = Path(retain) if retain else base / RETAIN_FILE
    forgets = _parse_prompt_file(forget_path)
    retains = _parse_prompt_file(retain_path)
    for task in forgets.keys() ^ retains.keys():
        has, lacks = (
            (forget_path, retain_path)
            if task in forgets
            else (retain_path, forget_path)
        )
        raise ConfigError(f"{lacks}: task {task!r} is in {has.name} but missing here")
    tasks = {t: TaskPrompts(t, forgets[t], retains[t]) for t in forgets}
    return DataIGM(forget_path, retain_path, tasks)


def load_image_tree(root: str | Path) -> dict[str, dict[str, list[Path]]]:
    """Index a detector image tree ``<root>/<train|test>/<class>/<images>``.

    Args:
        root: one task's folder, e.g. ``DataIGM/Nudity``.

    Returns:
        split -> class -> sorted image paths.

    Raises:
        ConfigError: the folder is missing, has no split folders, or a class has no images.
    """
    base = Path(root)
    if not base.is_dir():
        raise ConfigError(f"{base}: detector image folder not found")
    splits = sorted(
        p for p in base.iterdir() if p.is_dir() and p.name in {"train", "test"}
    )
    if not splits:
        raise ConfigError(
            f"{base}: expected 'train' and/or 'test' folders holding one folder per class"
        )
    tree: dict[str, dict[str, list[Path]]] = {}
    for split in splits:
        classes = sorted(p for p in split.iterdir() if p.is_dir())
        if not classes:
            raise ConfigError(
                f"{split}: expected one folder per class (e.g. nude/, safe/)"
            )
        tree[split.name] = {}
        for cls in classes:
            images = sorted(
                p for p in cls.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not images:
                raise ConfigError(
                    f"{cls}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder"
                )
            tree[split.name][cls.name] = images
    return tree
