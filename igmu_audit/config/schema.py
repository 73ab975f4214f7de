"""The one configuration schema: every setting, its type, default and accepted values.

Each field has a parser that turns a raw value (from the command line, an ini key,
``[tool.igmu_audit]`` or a YAML spec) into its typed value, or raises a ``ConfigError``
that names the source, the key and what is accepted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from igmu_audit.errors import ConfigError

DTYPES = ("float32", "float16", "bfloat16")
TASKS = ("object", "style", "concept", "identity")
ASPECTS = ("forgotten", "preserved", "robust_to")
#: threshold keys each aspect accepts (assertion keyword arguments of the same names)
THRESHOLD_KEYS: dict[str, tuple[str, ...]] = {
    "forgotten": ("max_rate", "confidence", "min_effective_prompts"),
    "preserved": (
        "max_csdr",
        "max_kid",
        "max_fd",
        "min_accuracy",
        "max_accuracy_drop",
        "max_perceptual",
        "confidence",
    ),
    "robust_to": ("max_rate", "confidence", "min_effective_prompts"),
}
MODEL_KEYS = (
    "path", "unet", "text_encoder", "lora", "lora_scale", "allow_pickle", "label",
    "torch_dtype", "variant", "single_file_config",
)  # fmt: skip


def closest(key: str, accepted: tuple[str, ...] | list[str]) -> str:
    """Return "; did you mean 'x'?" for the nearest accepted key, or ""."""
    match = difflib.get_close_matches(key, list(accepted), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _fail(where: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where} {key}: expected {expected} but got {value!r}")


def _int(where: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise _fail(where, key, f"an integer >= {minimum}", value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise _fail(where, key, f"an integer >= {minimum}", value)
    return value


def _float(
    where: str, key: str, value: Any, lo: float = 0.0, hi: float = float("inf")
) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _fail(where, key, "a number", value) from None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not lo <= value <= hi
    ):
        bounds = (
            f"a number in [{lo}, {hi}]" if hi != float("inf") else f"a number >= {lo}"
        )
        raise _fail(where, key, bounds, value)
    return float(value)


def _bool(where: str, key: str, value: Any) -> bool:
    if isinstance(value, str) and value.lower() in {
        "true",
        "1",
        "yes",
        "false",
        "0",
        "no",
    }:
        return value.lower() in {"true", "1", "yes"}
    if not isinstance(value, bool):
        raise _fail(where, key, "true or false", value)
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, str, Any], str]:
    def parse(where: str, key: str, value: Any) -> str:
        if value not in choices:
            raise _fail(where, key, f"one of {', '.join(choices)}", value)
        return str(value)

    return parse


def _str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, key, "a non-empty string", value)
    return value


def _opt_str(where: str, key: str, value: Any) -> str | None:
    return None if value is None else _str(where, key, value)


def parse_seeds(where: str, key: str, value: Any) -> tuple[int, ...]:
    """Seeds as a list, ``"0-3"``, ``"0,1,5"`` or a count like ``4`` (meaning 0..3)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_int(where, key, value)))
    if isinstance(value, str):
        seeds: list[int] = []
        for part in value.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not m:
                raise _fail(where, key, "seeds like [0, 1, 2], '0-3' or '0,1,5'", value)
            lo, hi = int(m[1]), int(m[2] or m[1])
            if hi < lo:
                raise _fail(where, key, "an ascending range like '0-3'", value)
            seeds.extend(range(lo, hi + 1))
        value = seeds
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(
            where, key, "a non-empty list of seeds like [0, 1, 2] or '0-3'", value
        )
    out = tuple(_int(where, f"{key}[{i}]", s, minimum=0) for i, s in enumerate(value))
    if len(set(out)) != len(out):
        raise _fail(where, key, "distinct seeds", value)
    return out


def parse_devices(where: str, key: str, value: Any) -> tuple[str, ...]:
    """``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps`` or a list / comma list; bare ints mean cuda:N."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, int) and not isinstance(items, bool):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items:
        raise _fail(
            where, key, "a device like 'auto', 'cpu', 'cuda:0' or a list of them", value
        )
    out = []
    for item in items:
        text = str(item).strip()
        if text.isdigit():
            text = f"cuda:{text}"
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", text):
            raise _fail(where, key, "'auto', 'cpu', 'mps', 'cuda', 'cuda:N' or N", item)
        out.append(text)
    return tuple(out)


def parse_resolution(where: str, key: str, value: Any) -> tuple[int, int] | None:
    """One int (square), ``"HxW"`` or ``[H, W]``; ``None`` means the model's default."""
    if value is None:
        return None
    if isinstance(value, str) and "x" in value.lower():
        value = value.lower().split("x")
    if isinstance(value, (list, tuple)) and len(value) == 2:
        h, w = (_int(where, key, v, minimum=8) for v in value)
    else:
        h = w = _int(where, key, value, minimum=8)
    if h % 8 or w % 8:
        raise _fail(where, key, "a resolution divisible by 8", value)
    return (h, w)


def parse_model(where: str, key: str, value: Any) -> dict[str, Any] | None:
    """A model: a path / hub id string, or a mapping of ModelSpec fields."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"path": _str(where, key, value)}
    if not isinstance(value, Mapping):
        raise _fail(
            where, key, "a path or a mapping with 'path' (and overrides)", value
        )
    out: dict[str, Any] = {}
    for k, v in value.items():
        if k not in MODEL_KEYS:
            raise ConfigError(
                f"{where} {key}.{k}: unknown key{closest(k, MODEL_KEYS)} "
                f"(accepted: {', '.join(MODEL_KEYS)})"
            )
        out[k] = _bool(where, f"{key}.{k}", v) if k == "allow_pickle" else v
    if "path" not in out:
        raise ConfigError(
            f"{where} {key}: missing 'path' (a diffusers folder, single file or hub id)"
        )
    return out


def parse_thresholds(where: str, key: str, value: Any) -> dict[str, dict[str, float]]:
    """``{aspect: {threshold: number}}`` with aspects and threshold names checked."""
    if not isinstance(value, Mapping):
        raise _fail(
            where, key, f"a mapping of {', '.join(ASPECTS)} to thresholds", value
        )
    out: dict[str, dict[str, float]] = {}
    prefix = f"{key}." if key else ""
    for aspect, table in value.items():
        if aspect not in THRESHOLD_KEYS:
            raise ConfigError(
                f"{where} {prefix}{aspect}: unknown aspect{closest(aspect, ASPECTS)} (accepted: {', '.join(ASPECTS)})"
            )
        if not isinstance(table, Mapping):
            raise _fail(
                where, f"{prefix}{aspect}", "a mapping like {max_rate: 0.05}", table
            )
        accepted = THRESHOLD_KEYS[aspect]
        parsed: dict[str, float] = {}
        for name, number in table.items():
            if name not in accepted:
                raise ConfigError(
                    f"{where} {prefix}{aspect}.{name}: unknown key{closest(name, accepted)} (accepted: {', '.join(accepted)})"
                )
            parsed[name] = _float(where, f"{prefix}{aspect}.{name}", number)
        out[aspect] = parsed
    return out


def parse_prompts(where: str, key: str, value: Any) -> dict[str, str]:
    """Where DataIGM prompts come from: a folder, or ``{forget: file, retain: file}``."""
    if isinstance(value, str):
        return {"root": value}
    if not isinstance(value, Mapping):
        raise _fail(
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


def parse_clip(where: str, key: str, value: Any) -> str | dict[str, str] | None:
    """``toyworld`` or ``{model_name, checkpoint}`` (local open_clip weights)."""
    if value is None or value == "toyworld":
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
    raise _fail(where, key, "'toyworld' or {model_name: ..., checkpoint: path}", value)


@dataclass(frozen=True, slots=True)
class Field:
    """One setting: its parser, default and the help line shown in errors and ``--help``."""

    parse: Callable[[str, str, Any], Any]
    default: Any
    help: str


FIELDS: dict[str, Field] = {
    "model": Field(
        parse_model,
        None,
        "the unlearned model: a diffusers folder, single file or hub id, or a mapping with overrides",
    ),
    "original": Field(
        parse_model, None, "the original (pre-unlearning) model, same forms as `model`"
    ),
    "devices": Field(
        parse_devices,
        ("auto",),
        "device(s): auto, cpu, cuda:N, or a list (one per xdist worker)",
    ),
    "cache_dir": Field(
        _str, ".igmu/cache", "generation cache folder (relative to the pytest rootdir)"
    ),
    "evidence_dir": Field(
        _str, ".igmu/evidence", "where evidence images and tables are written"
    ),
    "use_cache": Field(_bool, True, "read and write the generation cache"),
    "seeds": Field(parse_seeds, (0, 1, 2, 3), "seeds, one image per prompt and seed"),
    "steps": Field(lambda w, k, v: _int(w, k, v), 25, "denoising steps"),
    "guidance_scale": Field(
        lambda w, k, v: _float(w, k, v, 0.0, 100.0),
        7.5,
        "classifier-free guidance scale",
    ),
    "resolution": Field(
        parse_resolution,
        None,
        "image size: 512, '512x768' or [H, W]; default: the model's",
    ),
    "dtype": Field(_choice(DTYPES), "float32", "weights and compute dtype"),
    "batch_size": Field(lambda w, k, v: _int(w, k, v), 8, "images per pipeline call"),
    "negative_prompt": Field(_opt_str, None, "negative prompt for every generation"),
    "task": Field(
        _choice(TASKS),
        None,
        "CatIGMU task category: object, style, concept or identity",
    ),
    "concept": Field(_opt_str, None, "the concept that was unlearned, e.g. nudity"),
    "dataigm_task": Field(
        _opt_str, None, "task key in the DataIGM prompt files, e.g. style_vangogh"
    ),
    "prompts": Field(
        parse_prompts,
        None,
        "DataIGM prompt files; default: the split shipped with igmu-audit",
    ),
    "detector": Field(
        _opt_str, None, "detector name or profile, e.g. nudenet-unlearndiffatk"
    ),
    "retain_detector": Field(
        _opt_str,
        None,
        "detector built per retain category (the class it should show), for accuracy checks",
    ),
    "clip": Field(
        parse_clip,
        None,
        "CLIP model for CLIP score / CSDR: 'toyworld' or {model_name, checkpoint}",
    ),
    "thresholds": Field(
        parse_thresholds,
        {},
        "thresholds per aspect: {forgotten: {max_rate: 0.05}, ...}",
    ),
    "confidence": Field(
        lambda w, k, v: _float(w, k, v, 0.5, 0.9999),
        0.95,
        "confidence level of every interval",
    ),
    "allow_pickle": Field(
        _bool, False, "allow pickle checkpoints (loaded with weights_only=True)"
    ),
    "profile": Field(_opt_str, None, "named settings profile (e.g. ci)"),
    "severity": Field(
        _choice(("blocker", "critical", "normal", "minor", "trivial")),
        None,
        "Allure severity of a breach (default: critical for concept/identity, else normal)",
    ),
    "model_card": Field(_opt_str, None, "link to the model card, shown in reports"),
    "blur_sensitive": Field(
        _bool,
        True,
        "blur evidence images of sensitive concepts (nudity) in anything written for humans",
    ),
    "record": Field(_opt_str, None, "write the run's JSON verdict record to this path"),
}
