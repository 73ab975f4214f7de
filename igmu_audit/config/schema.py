"""The one configuration schema: every setting, its type, default and accepted values.

Each field has a parser that turns a raw value (from the command line, an ini key,
``[tool.igmu_audit]`` or a YAML spec) into its typed value, or raises a ``ConfigError``
that names the source, the key, the accepted range and the value given. Ranges:
``steps`` 1..10000, ``batch_size`` 1..1024, seeds 0..2**63-1 and at most 100000 of them,
``resolution`` a multiple of 8 up to 4096, ``guidance_scale`` 0..100, ``confidence``
[0.5, 1); counts are integers (3.0 is refused); NaN, infinities and booleans are never
numbers; a quoted number is accepted only from the command line and ini keys.

Thresholds (``thresholds:``, ``[tool.igmu_audit.profiles.<task>]``) are checked in
``config/thresholds.py``. Besides the fields below, the YAML spec and pyproject accept
``floor:`` / ``[tool.igmu_audit.floor]``, the same shape as ``thresholds``::

    floor: {forgotten: {max_rate: 0.05, min_effective_prompts: 5}, preserved: {max_csdr: 0.1}}

the loosest thresholds the release owner allows: a looser value from a config source, a
marker or a call argument is a ``ConfigError`` naming both; a stricter one applies; where
only the floor (or a built-in default looser than it) is set, the floor is the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from igmu_audit.config.thresholds import ASPECTS, THRESHOLD_KEYS, parse_thresholds
from igmu_audit.config.values import boolean, closest, fail, integer, number, string
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.dtypes import CANONICAL, EXPECTED, canonical_dtype

__all__ = ["ASPECTS", "DTYPES", "FIELDS", "TASKS", "THRESHOLD_KEYS", "Field", "closest"]

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


@dataclass(frozen=True, slots=True)
class Field:
    """One setting: its parser, default and the help line shown in errors and ``--help``."""

    parse: Callable[[str, str, Any], Any]
    default: Any
    help: str
    #: a number: a string is refused from typed sources (YAML, TOML, markers, calls)
    numeric: bool = False


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
    "steps": Field(
        lambda w, k, v: integer(w, k, v, (1, MAX_STEPS), why=_STEPS_WHY, text=True),
        25,
        "denoising steps",
        numeric=True,
    ),
    "guidance_scale": Field(
        lambda w, k, v: number(w, k, v, (0.0, 100.0), text=True),
        7.5,
        "classifier-free guidance scale",
        numeric=True,
    ),
    "resolution": Field(
        parse_resolution,
        None,
        "image size: 512, '512x768' or [H, W]; default: the model's",
    ),
    "dtype": Field(_dtype, "float32", "weights and compute dtype"),
    "generation_args": Field(
        _generation_args,
        {},
        "per-family generation arguments, part of the cache key: SDXL original_size / "
        "target_size / crops_coords_top_left, FLUX and SD3 max_sequence_length, FLUX true_cfg_scale",
    ),
    "cpu_offload": Field(
        _bool, False, "diffusers model CPU offload (CUDA only; memory, not images)"
    ),
    "attention_slicing": Field(
        _bool, False, "compute attention in slices (memory, not images)"
    ),
    "vae_tiling": Field(
        _bool, False, "decode latents in tiles (large images; part of the cache key)"
    ),
    "batch_size": Field(
        lambda w, k, v: integer(w, k, v, (1, MAX_BATCH), why=_BATCH_WHY, text=True),
        8,
        "images per pipeline call",
        numeric=True,
    ),
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
        lambda w, k, v: number(w, k, v, (0.5, 1.0), hi_open=True, text=True),
        0.95,
        "confidence level of every interval",
        numeric=True,
    ),
    "interval": Field(
        _choice(("clustered", "independent")),
        "clustered",
        "leak-rate interval: clustered (prompts as clusters of seeds) or independent images",
    ),
    "csdr_aggregation": Field(
        _choice(("per-prompt", "per-image")),
        "per-prompt",
        "CSDR: per-prompt ratio of seed-mean CLIP scores (IGMU's code) or mean per-image ratio",
    ),
    "require_original": Field(
        _bool,
        False,
        "leak audits without an original (reference) model are inconclusive instead of flagged 'no reference'",
    ),
    "detector_card": Field(
        parse_detector_card,
        None,
        "detector card file (or folder of <concept>.json / <profile>.json cards), or "
        "{detector or profile: card}; leak rates are then corrected for detector error",
    ),
    "require_card": Field(
        _bool,
        False,
        "leak audits whose detector has no valid detector card are inconclusive instead of flagged 'uncalibrated'",
    ),
    "detector_margin": Field(
        lambda w, k, v: number(w, k, v, (0.0, 1.0), text=True),
        0.05,
        "threshold sensitivity: the verdict is re-decided at the detector threshold ± this (score units)",
        numeric=True,
    ),
    "family_wise": Field(
        _bool,
        False,
        "make the run's verdicts hold jointly (Holm over the audits' decision p-values)",
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
    "backend": Field(
        _choice(("local", "ray")),
        "local",
        "where images are generated: local (this process) or ray (actors on a Ray cluster)",
    ),
    "ray_address": Field(
        _opt_str,
        None,
        "Ray cluster to generate on: host:port, ray://host:10001 or auto; default "
        "RAY_ADDRESS, else a Ray instance started for the run",
    ),
    "ray_actors": Field(
        lambda w, k, v: integer(w, k, v, (1, MAX_ACTORS), why=_ACTORS_WHY, text=True),
        None,
        "Ray generation actors per pytest process; default: one per GPU of the cluster "
        "(else per ray_actor_cpus CPUs), shared out among xdist workers",
        numeric=True,
    ),
    "ray_actor_cpus": Field(
        lambda w, k, v: integer(w, k, v, (1, 1024), text=True),
        1,
        "CPUs (and torch threads) each Ray actor reserves",
        numeric=True,
    ),
}
