"""The parsers of the configuration schema's fields (``schema.FIELDS``): each turns a raw
value from a named source into its typed value or raises a ``ConfigError`` naming the
source, the key, what is accepted and the value given.

Why a module of its own: ``schema.py`` keeps the table of settings readable; the rules
for seeds, devices, resolutions, models, prompt files, detector cards and CLIP live here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from igmu_audit.config.values import boolean, closest, fail, integer, number, string
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.dtypes import CANONICAL, EXPECTED, canonical_dtype

DTYPES = CANONICAL


def _dtype(where: str, key: str, value: Any) -> str:
    # The one dtype rule (igmu_audit.pipelines.dtypes): aliases such as fp16 accepted,
    # stored under the canonical name so records and cache keys see one spelling.
    try:
        return canonical_dtype(value, field=key)
    except ConfigError:
        raise fail(where, key, EXPECTED, value) from None


TASKS = ("object", "style", "concept", "identity")
MODEL_KEYS = (
    "path", "unet", "text_encoder", "lora", "lora_scale", "allow_pickle", "label",
    "torch_dtype", "variant", "single_file_config", "transformer", "text_encoder_2",
    "text_encoder_3", "pipeline_factory",
)  # fmt: skip
#: torch.Generator.manual_seed takes 0 .. 2**64-1; sequential audits add seeds counting up
#: from the largest one, so seeds stop at 2**63-1 and leave 2**63 seeds of headroom.
MAX_SEED = 2**63 - 1
MAX_SEEDS = 100_000
MAX_STEPS = 10_000
MAX_BATCH = 1024
MAX_SIDE = 4096
_SEEDS_REASON = "a gate needing more would run for weeks; likely a typo"
_SEEDS_WHY = f"at most {MAX_SEEDS} seeds ({_SEEDS_REASON})"
_SEED_WHY = "seeds stop at 2**63-1 so the seeds sequential audits add stay below 2**64"
_STEPS_WHY = f"no scheduler needs more than {MAX_STEPS} steps; likely a typo"
_BATCH_WHY = f"at most {MAX_BATCH} images per pipeline call"
_SIDE_WHY = f"a multiple of 8 of at most {MAX_SIDE} pixels"
MAX_ACTORS = 4096
_ACTORS_WHY = f"at most {MAX_ACTORS} actors (one per GPU or CPU slot)"


def _bool(where: str, key: str, value: Any) -> bool:
    return boolean(where, key, value)


def _choice(choices: tuple[str, ...]) -> Callable[[str, str, Any], str]:
    def parse(where: str, key: str, value: Any) -> str:
        if value not in choices:
            raise fail(where, key, f"one of {', '.join(choices)}", value)
        return str(value)

    return parse


def _str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(where, key, "a non-empty string", value)
    return value


def _opt_str(where: str, key: str, value: Any) -> str | None:
    return None if value is None else _str(where, key, value)


def _seed_count(where: str, key: str, count: int, value: Any) -> None:
    if count > MAX_SEEDS:
        raise fail(where, key, _SEEDS_WHY, value)


def parse_seeds(where: str, key: str, value: Any) -> tuple[int, ...]:
    """Seeds as a list, ``"0-3"``, ``"0,1,5"`` or a count like ``4`` (meaning 0..3).

    Ranges are sized before they are expanded, so ``0-100000000`` fails at once.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        count = integer(where, key, value, (1, MAX_SEEDS), why=_SEEDS_REASON)
        return tuple(range(count))
    if isinstance(value, str):
        seeds: list[int] = []
        for part in value.split(","):
            m = re.fullmatch(r"\s*([0-9]{1,25})\s*(?:-\s*([0-9]{1,25})\s*)?", part)
            if not m:
                raise fail(where, key, "seeds like [0, 1, 2], '0-3' or '0,1,5'", value)
            lo, hi = int(m[1]), int(m[2] or m[1])
            if hi < lo:
                raise fail(where, key, "an ascending range like '0-3'", value)
            if hi > MAX_SEED:
                raise fail(where, key, f"seeds in [0, {MAX_SEED}] ({_SEED_WHY})", value)
            _seed_count(where, key, len(seeds) + hi - lo + 1, value)
            seeds.extend(range(lo, hi + 1))
        value = seeds
    if not isinstance(value, (list, tuple)) or not value:
        raise fail(
            where, key, "a non-empty list of seeds like [0, 1, 2] or '0-3'", value
        )
    _seed_count(where, key, len(value), f"a list of {len(value)} seeds")
    out = tuple(
        integer(where, f"{key}[{i}]", s, (0, MAX_SEED), why=_SEED_WHY)
        for i, s in enumerate(value)
    )
    if len(set(out)) != len(out):
        raise fail(where, key, "distinct seeds", value)
    return out


def parse_devices(where: str, key: str, value: Any) -> tuple[str, ...]:
    """``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps`` or a list / comma list; bare ints mean cuda:N."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, int) and not isinstance(items, bool):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items:
        raise fail(
            where, key, "a device like 'auto', 'cpu', 'cuda:0' or a list of them", value
        )
    out = []
    for item in items:
        text = str(item).strip()
        if text.isdigit():
            text = f"cuda:{text}"
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", text):
            raise fail(where, key, "'auto', 'cpu', 'mps', 'cuda', 'cuda:N' or N", item)
        out.append(text)
    return tuple(out)


def parse_resolution(where: str, key: str, value: Any) -> tuple[int, int] | None:
    """One int (square), ``"HxW"`` or ``[H, W]``; ``None`` means the model's default."""
    if value is None:
        return None
    sides = value.lower().split("x") if isinstance(value, str) else value
    sides = sides if isinstance(sides, (list, tuple)) else [sides]
    if len(sides) not in (1, 2):
        raise fail(where, key, "512, '512x768' or [H, W]", value)
    try:
        checked = [
            integer(where, key, v, (8, MAX_SIDE), why=_SIDE_WHY, text=True)
            for v in sides
        ]
    except ConfigError:
        raise fail(
            where, key, f"sides in [8, {MAX_SIDE}] ({_SIDE_WHY})", value
        ) from None
    if any(side % 8 for side in checked):
        raise fail(where, key, f"a resolution divisible by 8 ({_SIDE_WHY})", value)
    return (checked[0], checked[-1])


def _model_value(where: str, key: str, value: Any) -> Any:
    """One ModelSpec field, type- and range-checked by its name (``key`` ends with it)."""
    name = key.rsplit(".", 1)[-1]
    if name == "allow_pickle":
        return boolean(where, key, value)
    if name == "lora_scale":
        return number(where, key, value, (-100.0, 100.0))
    if name == "torch_dtype":
        return _dtype(where, key, value)
    return string(where, key, value)


def _generation_args(where: str, key: str, value: Any) -> dict[str, Any]:
    from igmu_audit.pipelines.families import check_generation_args

    try:
        return check_generation_args(value, key)
    except ConfigError as exc:
        raise ConfigError(f"{where} {exc}") from None


def parse_model(where: str, key: str, value: Any) -> dict[str, Any] | None:
    """A model: a path / hub id string, or a mapping of ModelSpec fields."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"path": _str(where, key, value)}
    if not isinstance(value, Mapping):
        raise fail(where, key, "a path or a mapping with 'path' (and overrides)", value)
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k not in MODEL_KEYS:
            raise ConfigError(
                f"{where} {key}.{k}: unknown key{closest(k, MODEL_KEYS)} "
                f"(accepted: {', '.join(MODEL_KEYS)})"
            )
        out[k] = _model_value(where, f"{key}.{k}", v)
    if "path" not in out:
        raise ConfigError(
            f"{where} {key}: missing 'path' (a diffusers folder, single file or hub id)"
        )
    return out


def parse_prompts(where: str, key: str, value: Any) -> dict[str, str]:
    """Where DataIGM prompts come from: a folder, or ``{forget: file, retain: file}``."""
    if isinstance(value, str):
        return {"root": value}
    if not isinstance(value, Mapping):
        raise fail(
            where,
            key,
            "a folder holding forgot.json/retain.json, or {forget: ..., retain: ...}",
            value,
        )
    accepted = ("root", "forget", "retain")
    for k in value:
        if k not in accepted:
            raise ConfigError(
                f"{where} {key}.{k}: unknown key{closest(k, accepted)} (accepted: {', '.join(accepted)})"
            )
    return {k: _str(where, f"{key}.{k}", v) for k, v in value.items()}


def parse_detector_card(
    where: str, key: str, value: Any
) -> str | dict[str, str] | None:
    """A card path, or ``{detector or profile name: card path}`` (paths checked when used)."""
    if value is None:
        return None
    if isinstance(value, Mapping) and value:
        for name, path in value.items():
            if (
                not isinstance(name, str)
                or not isinstance(path, str)
                or not path.strip()
            ):
                raise fail(where, f"{key}.{name}", "a card file or folder path", path)
        return {str(n): str(p) for n, p in value.items()}
    return _str(where, key, value)


def parse_clip(where: str, key: str, value: Any) -> str | dict[str, str] | None:
    """A CLIP model name (``toyworld``; checked at session start) or ``{model_name, checkpoint}``."""
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    if isinstance(value, Mapping):
        accepted = ("model_name", "checkpoint")
        for k in value:
            if k not in accepted:
                raise ConfigError(
                    f"{where} {key}.{k}: unknown key{closest(k, accepted)} (accepted: {', '.join(accepted)})"
                )
        if set(value) == set(accepted):
            return {k: _str(where, f"{key}.{k}", v) for k, v in value.items()}
    raise fail(where, key, "a CLIP model name such as 'toyworld' or {model_name: ..., checkpoint: path}", value)  # fmt: skip
