"""Session-start checks of an audit's inputs: one clear error before any model loads.

A missing base model used to surface at fixture set-up as the same long traceback
once per test. These checks run once, in the controller, right after the
configuration is merged, and only look at the file system and the registries (no
model, detector or CLIP model is loaded): every configured model path, override file,
prompt file, CLIP checkpoint and detector name. Every problem is listed in one
``ConfigError``, each naming the setting, where it was set and how to fix it.

With ``backend: ray`` the cluster is joined here too (after a TCP probe of its
address), so an unreachable cluster is one error at session start, not a hang.

What needs a load to be known (a corrupt weight file, a hub id that is not in the
cache) still fails at fixture time; ``igmu_audit.load_errors`` makes that one error
per session too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError

#: ``provider:name`` (``toyworld:original``): a named model, resolved by its provider
_NAMED = re.compile(r"^[A-Za-z][\w.-]*:(?![\\/])\S+$")
#: override fields that name a local file or folder
_LOCAL_FIELDS = ("unet", "text_encoder", "transformer", "text_encoder_2",
                 "text_encoder_3", "lora", "single_file_config")  # fmt: skip


def _where(config: Any, key: str) -> str:
    return f"`{key}:` (set by {config.source_of(key)})"


def _model_problems(config: Any, role: str) -> list[str]:
    from igmu_audit.pipelines.checkpoints import PICKLE_SUFFIXES, WEIGHT_SUFFIXES
    from igmu_audit.pipelines.spec import looks_like_hub_id

    spec = getattr(config, role)
    if spec is None:
        return []
    from igmu_audit.pipelines.named import resolve_names

    spec, named = resolve_names(spec)
    if named:
        return [f"{_where(config, role)} {p}" for p in named]
    flag = "--igmu-model" if role == "model" else "--igmu-original"
    where = _where(config, role)
    problems = []
    path = str(spec["path"])
    local = Path(path)
    factory = spec.get("pipeline_factory")
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            problems.append(f"{where} path {path!r} is a folder without model_index.json, so not a "
                            "diffusers pipeline; point it at the pipeline folder (the one holding "
                            "model_index.json), or give a component folder as `unet:` / `text_encoder:`")  # fmt: skip
    elif local.is_file():
        if local.suffix.lower() not in WEIGHT_SUFFIXES:
            problems.append(f"{where} path {path!r} is a file but not a weight file "
                            f"({', '.join(WEIGHT_SUFFIXES)}); point it at a diffusers folder or a checkpoint")  # fmt: skip
    elif not (factory or _NAMED.match(path)):
        why = _not_on_hub(path) if looks_like_hub_id(path) else " locally"
        if why:
            problems.append(f"{where} path {path!r} does not exist{why}; fix {flag} PATH (a diffusers folder, a "
                            ".safetensors checkpoint, a hub id org/name or a named model provider:name)")  # fmt: skip
    allow_pickle = bool(spec.get("allow_pickle", config.allow_pickle))
    for field in _LOCAL_FIELDS:
        if spec.get(field) is None:
            continue
        value = str(spec[field])
        if not Path(value).exists():
            problems.append(f"{where} {field} {str(value)!r} does not exist; fix the path or drop `{field}:`")  # fmt: skip
        elif Path(value).suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
            problems.append(f"{where} {field} {str(value)!r} is a pickle checkpoint; convert it to "
                            ".safetensors, or pass --igmu-allow-pickle (read with weights_only=True)")  # fmt: skip
    if local.is_file() and local.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
        problems.append(f"{where} path {path!r} is a pickle checkpoint; convert it to .safetensors, "
                        "or pass --igmu-allow-pickle (read with weights_only=True)")  # fmt: skip
    if isinstance(factory, str) and factory.split(":")[0].endswith(".py"):
        source = factory.rsplit(":", 1)[0]
        if not Path(source).is_file():
            problems.append(f"{where} pipeline_factory file {source!r} does not exist")
    return problems


def _not_on_hub(path: str) -> str:
    """Why an ``org/name`` path is no usable hub id (``""``: it may be one).

    Its first folder existing locally makes it a local path; offline
    (``HF_HUB_OFFLINE``) it must be in the Hugging Face cache. Online nothing is
    asked of the network here: the loader reports a missing repository.
    """
    if Path(path.split("/")[0]).is_dir():
        return f" (the folder {path.split('/')[0]!r} exists, so this is a local path)"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in {
        "1",
        "true",
        "yes",
        "on",
    }:
        return ""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return ""
    try:
        found = try_to_load_from_cache(path, "model_index.json")
    except Exception:  # an id the hub library refuses: the loader says why
        return ""
    if isinstance(found, str):
        return ""
    return " locally, and as a hub id it is not in the Hugging Face cache (HF_HUB_OFFLINE is set)"


def _detector_problems(config: Any) -> list[str]:
    from igmu_audit.detectors.profiles import PROFILES
    from igmu_audit.detectors.registry import available_detectors

    problems = []
    known = available_detectors()
    for key in ("detector", "retain_detector"):
        name = getattr(config, key, None)
        if name is None or name in known or name in PROFILES:
            continue
        from igmu_audit.config.schema import closest

        problems.append(f"{_where(config, key)} unknown detector {name!r}{closest(name, (*known, *PROFILES))} "
                        f"(known: {', '.join(known)}; profiles: {', '.join(sorted(PROFILES))}); "
                        "third-party detectors register through the 'igmu_audit.detectors' entry points")  # fmt: skip
    return problems


def _file_problems(config: Any) -> list[str]:
    problems = []
    prompts = config.prompts or {}
    root = prompts.get("root")
    if root is not None and not Path(root).is_dir():
        problems.append(f"{_where(config, 'prompts')} folder {root!r} does not exist; point it "
                        "at a folder holding forget.json and retain.json")  # fmt: skip
    for key in ("forget", "retain"):
        value = prompts.get(key)
        if value is not None and not Path(value).is_file():
            problems.append(
                f"{_where(config, 'prompts')} {key} file {value!r} does not exist"
            )
    clip = config.clip
    if clip is None:
        return problems
    from igmu_audit.clip_models import clip_model_names

    names = clip_model_names()
    named = " or ".join(f"`clip: {n}`" for n in names) or "a registered CLIP model name"
    if isinstance(clip, dict) and not Path(clip["checkpoint"]).is_file():
        problems.append(f"{_where(config, 'clip')} checkpoint {clip['checkpoint']!r} does not exist; "
                        f"point it at local open_clip weights, or use {named}")  # fmt: skip
    if isinstance(clip, str) and clip not in names:
        from igmu_audit.config.schema import closest

        problems.append(f"{_where(config, 'clip')} unknown CLIP model {clip!r}{closest(clip, names)} "
                        f"(known: {', '.join(names) or 'none installed'}); use {named}, or "
                        "{model_name, checkpoint} for local open_clip weights; a package adds one "
                        "through the entry-point group 'igmu_audit.clip_models'")  # fmt: skip
    return problems


def input_problems(config: Any) -> list[str]:
    """Every problem with the configured inputs, one readable line each (``[]``: none)."""
    return [
        *_model_problems(config, "model"),
        *_model_problems(config, "original"),
        *_detector_problems(config),
        *_file_problems(config),
        *_backend_problems(config),
    ]


def _backend_problems(config: Any) -> list[str]:
    """``backend: ray``: the package and a reachable cluster (``igmu_audit.backends``)."""
    from igmu_audit.backends import backend_problems

    return backend_problems(config)


def check_inputs(config: Any) -> None:
    """Raise one ``ConfigError`` listing every input problem, before anything loads."""
    problems = input_problems(config)
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(
            f"{len(problems)} problems with the configured inputs:\n  - "
            + "\n  - ".join(problems)
        )
