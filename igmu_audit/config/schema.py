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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from igmu_audit.config.parsers import (  # noqa: F401  (re-exported: one import for the schema)
    _ACTORS_WHY,
    _BATCH_WHY,
    _STEPS_WHY,
    DTYPES,
    MAX_ACTORS,
    MAX_BATCH,
    MAX_SEED,
    MAX_SEEDS,
    MAX_SIDE,
    MAX_STEPS,
    MODEL_KEYS,
    TASKS,
    _bool,
    _choice,
    _dtype,
    _generation_args,
    _opt_str,
    _str,
    parse_clip,
    parse_detector_card,
    parse_devices,
    parse_model,
    parse_prompts,
    parse_resolution,
    parse_seeds,
)
from igmu_audit.config.thresholds import ASPECTS, THRESHOLD_KEYS, parse_thresholds
from igmu_audit.config.values import closest, integer, number

__all__ = ["ASPECTS", "DTYPES", "FIELDS", "TASKS", "THRESHOLD_KEYS", "Field", "closest"]


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
