"""Named models: ``<provider>:<name>`` (``toyworld:original``) to a local path.

Why: a model shipped inside a package (the toy world in igmu-audit's wheel, a vendor's
checkpoints in theirs) should be named, not found by reading the package's source for
where its files landed in ``site-packages``. The core knows no provider: each registers
through the entry-point group ``igmu_audit.models``, exactly as a third-party package
does, or in-process with :func:`register_models`::

    [project.entry-points."igmu_audit.models"]
    my-vendor = "my_package.models:named_models"   # () -> {name: path}

A name resolves wherever a model path is accepted (``ModelSpec.path``, ``unet``,
``text_encoder``, ``lora``...), so ``model: toyworld:original`` and
``unet: toyworld:zoo/uce-striped`` work in specs, on the command line and in code.
An unknown name is a ConfigError listing the names that exist. A local path that
happens to contain a colon stays a path when it exists, or when written ``./a:b``.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

from igmu_audit.errors import ConfigError

#: The entry-point group model providers register under.
ENTRY_POINT_GROUP = "igmu_audit.models"

Provider = Callable[[], Mapping[str, "str | Path"]]

# provider: two or more characters (so Windows drive letters stay paths); name: no
# leading slash or backslash, no further colon.
_NAME = re.compile(r"^(?P<provider>[A-Za-z][A-Za-z0-9_.-]+):(?P<name>[^:/\\][^:]*)$")
_LOCK = threading.Lock()
_registered: dict[str, Provider] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None
_tables: dict[str, dict[str, Path]] = {}


def is_model_name(value: str, base: Path | None = None) -> bool:
    """Whether ``value`` reads as ``provider:name`` and is no existing path (here or under ``base``)."""
    if not _NAME.match(value) or Path(value).exists():
        return False
    return base is None or not (base / value).exists()


def register_models(provider: str, models: Provider | Mapping[str, str | Path]) -> None:
    """Register ``provider``'s named models in this process (a table or a function giving one).

    Raises:
        ConfigError: an invalid provider name, or one already registered in process.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]+", provider or ""):
        raise ConfigError(
            f"register_models: provider {provider!r} must be a name such as 'my-vendor' "
            "(letters, digits, '.', '_', '-'; at least two characters)"
        )
    with _LOCK:
        if provider in _registered:
            raise ConfigError(
                f"register_models: provider {provider!r} is already registered"
            )
        _registered[provider] = models if callable(models) else (lambda: dict(models))
        _tables.pop(provider, None)


def unregister_models(provider: str) -> None:
    """Forget an in-process provider (tests, notebooks)."""
    with _LOCK:
        _registered.pop(provider, None)
        _tables.pop(provider, None)


def _discover() -> dict[str, metadata.EntryPoint]:
    global _entry_points
    if _entry_points is None:
        found: dict[str, metadata.EntryPoint] = {}
        # Every distribution, not entry_points()'s first-per-name: a stale
        # ``*.egg-info`` in the working directory must not hide the installed one's.
        for dist in metadata.distributions():
            for ep in dist.entry_points:
                if ep.group == ENTRY_POINT_GROUP:
                    found.setdefault(ep.name, ep)
        _entry_points = found
    return _entry_points


def providers() -> list[str]:
    """Every provider known now: registered in process or declared as an entry point."""
    return sorted({*_discover(), *_registered})


def _table(provider: str) -> dict[str, Path]:
    with _LOCK:
        if provider in _tables:
            return _tables[provider]
        source: Provider | None = _registered.get(provider)
    if source is None:
        ep = _discover()[provider]
        try:
            source = ep.load()
        except Exception as exc:  # a broken provider package: say which, do not guess
            raise ConfigError(
                f"named models of {provider!r}: cannot load entry point {ep.value!r} "
                f"({type(exc).__name__}: {exc}); reinstall the package that provides it"
            ) from exc
    table = source() if callable(source) else source
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"named models of {provider!r}: the provider returned {type(table).__name__}, "
            "not a mapping of name -> path"
        )
    out = {str(k): Path(v) for k, v in sorted(table.items())}
    with _LOCK:
        _tables[provider] = out
    return out


def known_names() -> list[str]:
    """``provider:name`` for every named model (loads each provider's table)."""
    return [f"{p}:{n}" for p in providers() for n in _table(p)]


def resolve_model_name(value: str, field: str = "path") -> str:
    """The local path that ``value`` (``provider:name``) names.

    Args:
        value: e.g. ``"toyworld:zoo/uce-striped"``.
        field: the ModelSpec field it was given for (named in errors).

    Raises:
        ConfigError: an unknown provider or name (listing the known ones), or a
            registered model whose files are missing.
    """
    match = _NAME.match(value)
    if match is None:
        raise ConfigError(f"ModelSpec.{field}: {value!r} is not 'provider:name'")
    provider, name = match["provider"], match["name"]
    known = providers()
    if provider not in known:
        listed = ", ".join(known_names()) or "none installed"
        raise ConfigError(
            f"ModelSpec.{field}: {value!r} is neither an existing path nor a known named "
            f"model: no provider {provider!r} (named models: {listed}); a package adds "
            f"some through the entry-point group {ENTRY_POINT_GROUP!r}"
        )
    table = _table(provider)
    if name not in table:
        near = difflib.get_close_matches(name, list(table), n=1)
        hint = f" (did you mean '{provider}:{near[0]}'?)" if near else ""
        raise ConfigError(
            f"ModelSpec.{field}: unknown named model {value!r}{hint}; "
            f"{provider} provides: {', '.join(f'{provider}:{n}' for n in table) or 'nothing'}"
        )
    path = table[name]
    if not path.exists():
        raise ConfigError(
            f"ModelSpec.{field}: named model {value!r} points to {path}, which is missing; "
            f"reinstall the package that provides {provider!r}"
        )
    return str(path)


def resolve_names(spec: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """``spec`` with every named-model value resolved, and a message per name that is not.

    For checks that read model mappings before a ``ModelSpec`` is built (session-start
    checks): they see real paths, and an unknown name is one clear problem.
    """
    out, problems = dict(spec), []
    for key, value in spec.items():
        if isinstance(value, str) and is_model_name(value):
            try:
                out[key] = resolve_model_name(value, key)
            except ConfigError as exc:
                problems.append(str(exc))
    return out, problems
