"""``pipeline_factory``: audit a pipeline a user's own code builds (training-free methods).

SLD, SAFREE, ConceptPrune's hooks and Receler's adapters change *how* a pipeline
samples, not (only) its weight files, so the audited object is whatever the method's
code returns. The spec names that code as ``module:function`` or ``file.py:function``;
importing it runs user code, and naming it in the spec is the user's explicit opt-in.

Why the fingerprint covers the factory's source: a wrapped and a bare pipeline have the
same weights, so a weights-only fingerprint would let the cache hand the bare model's
images to the wrapped one (or back), and the audit would score the wrong model.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    from igmu_audit.pipelines.loading import LoadedPipeline

_HEAD = "model pipeline_factory"


def _load_module(ref: str, target: str, base: Path | None) -> Any:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ConfigError(
                f"{_HEAD} {ref!r}: the file {str(path)!r} does not exist; give a path "
                "relative to the working directory, or 'package.module:function'"
            )
        name = f"igmu_factory_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{_HEAD} {ref!r}: {str(path)!r} is not importable")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ConfigError(
                f"{_HEAD} {ref!r}: importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        return module
    try:
        return importlib.import_module(target)
    except Exception as exc:
        raise ConfigError(
            f"{_HEAD} {ref!r}: cannot import module {target!r} ({type(exc).__name__}: "
            f"{exc}); is it installed or on PYTHONPATH?"
        ) from exc


def resolve_factory(
    ref: str, base: Path | None = None
) -> tuple[Callable[..., Any], dict[str, str]]:
    """The factory callable for ``ref`` and its identity (reference and source sha256).

    Raises:
        ConfigError: the module or file cannot be imported, the attribute is missing or
            not callable, or it takes more than one required argument.
    """
    target, _, attr = ref.strip().rpartition(":")
    module = _load_module(ref, target, base)
    func = getattr(module, attr, None)
    if not callable(func):
        raise ConfigError(
            f"{_HEAD} {ref!r}: {target!r} has no callable {attr!r}"
            + (f" ({type(func).__name__})" if func is not None else "")
        )
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        params = []  # type: ignore[assignment]
    required = [
        p
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 1:
        raise ConfigError(
            f"{_HEAD} {ref!r}: {attr} takes {len(required)} required arguments; it must "
            "take the loaded pipeline (one argument) or nothing"
        )
    source_file = getattr(module, "__file__", None)
    try:
        source = Path(source_file).read_bytes() if source_file else b""
    except OSError:
        source = b""
    if not source:
        source = inspect.getsource(func).encode()
    identity = {
        "ref": f"{Path(target).name if target.endswith('.py') else target}:{attr}",
        "source_sha256": hashlib.sha256(source).hexdigest(),
    }
    return func, identity


def takes_pipeline(func: Callable[..., Any]) -> bool:
    """Whether the factory takes the loaded pipeline (else it is called with nothing)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return True
    return any(
        p.kind is not p.KEYWORD_ONLY and p.kind is not p.VAR_KEYWORD for p in params
    )


def build(ref: str, func: Callable[..., Any], base_pipeline: Any) -> Any:
    """Call the factory and check it returned a text-to-image pipeline.

    Raises:
        ConfigError: the factory raised, returned ``None`` or something that is not a
            prompt-taking diffusers pipeline.
    """
    from igmu_audit.pipelines.families import family_of

    try:
        pipe = func(base_pipeline) if takes_pipeline(func) else func()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"{_HEAD} {ref!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if pipe is None or not hasattr(pipe, "components") or not callable(pipe):
        raise ConfigError(
            f"{_HEAD} {ref!r} returned {type(pipe).__name__}, not a diffusers pipeline; "
            "return the (wrapped) pipeline object"
        )
    family_of(pipe)
    return pipe


def audited_pipeline(
    ref: str, loaded: LoadedPipeline | None, spec: Any, device: Any, dtype: Any
) -> LoadedPipeline:
    """The ``LoadedPipeline`` to audit: the factory's pipeline, fingerprinted.

    Args:
        ref: the spec's ``pipeline_factory``.
        loaded: the loaded base (``LoadedPipeline``), or ``None`` for a factory that
            takes no argument.
        spec: the ``ModelSpec``.
        device: the torch device.
        dtype: the torch dtype the base was loaded in.

    Returns:
        A ``LoadedPipeline`` whose fingerprint covers the base's files (if any), the
        returned pipeline's tensors and the factory's reference and source digest.
    """
    from igmu_audit.pipelines.fingerprint import combine, fingerprint_pipeline
    from igmu_audit.pipelines.loading import LoadedPipeline

    func, identity = resolve_factory(ref)
    pipe = build(ref, func, None if loaded is None else loaded.pipeline)
    if hasattr(pipe, "to"):
        pipe = pipe.to(device) or pipe
    per_file = dict(loaded.component_fingerprints) if loaded is not None else {}
    per_file[f"factory:{identity['ref']}"] = f"sha256:{identity['source_sha256']}"
    fingerprint = combine(
        {
            "base": None if loaded is None else loaded.fingerprint,
            "pipeline": fingerprint_pipeline(pipe),
            "factory": identity,
        }
    )
    return LoadedPipeline(
        pipeline=pipe,
        spec=spec,
        fingerprint=fingerprint,
        component_fingerprints=per_file,
        device=str(device),
        torch_dtype=str(dtype).removeprefix("torch."),
        overrides=() if loaded is None else loaded.overrides,
    )
