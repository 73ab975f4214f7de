"""Read weight files safely: safetensors always, pickles only when the user opted in.

Every public unlearning evaluator loads checkpoints with an unrestricted ``torch.load``,
which runs arbitrary code from the file. An auditor reads files it did not write, so
pickles (``.pt``, ``.ckpt``, ``.bin``, ``.pth``) are refused unless ``allow_pickle=True``,
and even then only ``torch.load(weights_only=True)`` is used: never a fallback.

This is the one home of that policy: model overrides, LoRA files and detector weights
(``igmu_audit.detectors._clip``) all read through :func:`read_state_dict`, and every
refusal is an ``UnsafeCheckpointError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError, UnsafeCheckpointError
from igmu_audit.pipelines.weight_headers import (
    REEXPORT_HINT,
    check_pickle_container,
    read_safetensors_header,
    where_prefix,
)

if TYPE_CHECKING:
    import torch

#: Weight formats that cannot run code when read.
SAFE_SUFFIXES = (".safetensors",)
#: Pickle-based weight formats: refused unless ``allow_pickle=True``.
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
WEIGHT_SUFFIXES = SAFE_SUFFIXES + PICKLE_SUFFIXES

#: How a user opts into pickles for a file named in a model spec / a Python argument.
MODEL_OPT_IN = "set `allow_pickle: true` on the model"
ARGUMENT_OPT_IN = "pass allow_pickle=True"

_CONVERT_SNIPPET = """\
    import torch, safetensors.torch
    sd = torch.load("{src}", map_location="cpu", weights_only=True)
    safetensors.torch.save_file({{k: v.contiguous() for k, v in sd.items()}}, "{dst}")"""


def is_pickle(path: str | Path) -> bool:
    """Whether ``path`` names a pickle-based weight file (by suffix)."""
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


def is_weight_file(path: str | Path) -> bool:
    """Whether ``path`` names a weight file igmu-audit knows how to read (by suffix)."""
    return Path(path).suffix.lower() in WEIGHT_SUFFIXES


def refusal_message(
    path: str | Path,
    *,
    field: str | None = None,
    what: str | None = None,
    opt_in: str = MODEL_OPT_IN,
) -> str:
    """The text of the ``UnsafeCheckpointError`` for a pickle ``path``.

    Args:
        path: the refused file.
        field: the ModelSpec field that named it (``"unet"``, ``"path"``...), if any.
        what: what the file is when no ModelSpec field named it (``"classifier head"``).
        opt_in: how this caller's user opts in (:data:`MODEL_OPT_IN`, :data:`ARGUMENT_OPT_IN`).

    Returns:
        What file, why it is refused, and the two ways forward.
    """
    path = Path(path)
    where = f" (model {field!r})" if field else (f" ({what})" if what else "")
    dst = path.with_suffix(".safetensors")
    return (
        f"refusing to read pickle checkpoint {str(path)!r}{where}: pickle files can run "
        "arbitrary code when loaded.\n"
        f"  to opt in, {opt_in} (it is then read with torch.load(weights_only=True), "
        "which only accepts tensors and plain containers), or convert it once to "
        "safetensors with safetensors.torch.save_file:\n"
        + _CONVERT_SNIPPET.format(src=path, dst=dst)
    )


def check_pickle_policy(
    path: str | Path,
    *,
    allow_pickle: bool,
    field: str | None = None,
    what: str | None = None,
    opt_in: str = MODEL_OPT_IN,
) -> None:
    """Raise ``UnsafeCheckpointError`` if ``path`` is a pickle and pickles are not allowed.

    Args:
        path: a weight file.
        allow_pickle: the user's opt-in.
        field: the ModelSpec field that named it, for the message.
        what: what the file is, when no ModelSpec field named it.
        opt_in: how the user opts in, for the message.

    Raises:
        UnsafeCheckpointError: ``path`` is a pickle and ``allow_pickle`` is false.
    """
    if is_pickle(path) and not allow_pickle:
        raise UnsafeCheckpointError(
            refusal_message(path, field=field, what=what, opt_in=opt_in)
        )


def read_state_dict(
    path: str | Path,
    *,
    allow_pickle: bool = False,
    field: str | None = None,
    what: str | None = None,
    opt_in: str = MODEL_OPT_IN,
) -> dict[str, Any]:
    """Read a weight file into a (possibly nested) dict of tensors on CPU.

    Args:
        path: a ``.safetensors`` file, or a pickle (``.pt``/``.pth``/``.ckpt``/``.bin``).
        allow_pickle: read pickles with ``torch.load(weights_only=True)``.
        field: the ModelSpec field that named the file, for messages.
        what: what the file is when no ModelSpec field named it (detector weights).
        opt_in: how the user opts into pickles, for the refusal.

    Returns:
        The mapping stored in the file. Safetensors files are flat; pickles may nest
        (e.g. DoCo's ``{"unet": {...}}`` or Lightning's ``{"state_dict": {...}}``).

    Raises:
        ConfigError: the file is missing or its format is unknown.
        UnsafeCheckpointError: a pickle without ``allow_pickle``, or a pickle that
            ``weights_only=True`` cannot read (it holds more than tensors).
    """
    path = Path(path)
    where = where_prefix(field, what)
    if not path.is_file():
        raise ConfigError(f"{where}weight file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        from safetensors.torch import load_file

        read_safetensors_header(path, field=field, what=what)
        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:  # SafetensorError, OSError, MemoryError...
            raise ConfigError(
                f"{where}weight file {str(path)!r} could not be read as safetensors "
                f"({type(exc).__name__}: {exc}); {REEXPORT_HINT}"
            ) from exc
    if suffix not in PICKLE_SUFFIXES:
        raise ConfigError(
            f"{where}{str(path)!r}: unknown weight format {suffix!r} "
            f"(accepted: {', '.join(WEIGHT_SUFFIXES)})"
        )
    check_pickle_policy(
        path, allow_pickle=allow_pickle, field=field, what=what, opt_in=opt_in
    )
    check_pickle_container(path, field=field, what=what)
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (EOFError, OSError) as exc:
        raise ConfigError(
            f"{where}weight file {str(path)!r} is truncated or corrupt "
            f"({type(exc).__name__}: {exc}); re-download or re-export it"
        ) from exc
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        # Never retry with weights_only=False: that is exactly the unsafe path.
        raise UnsafeCheckpointError(
            f"{where}{str(path)!r} could not be read with torch.load(weights_only=True): "
            f"it holds objects other than tensors and plain containers ({exc}). "
            "igmu-audit never unpickles arbitrary objects; extract the state dict in a "
            "trusted environment and save it with safetensors.torch.save_file."
        ) from exc
    if not isinstance(obj, Mapping):
        raise ConfigError(
            f"{where}{str(path)!r} holds a {type(obj).__name__}, not a state dict"
        )
    return dict(obj)


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file (diffusers keeps LoRA configs there).

    Call after :func:`~igmu_audit.pipelines.weight_headers.read_safetensors_header`
    accepted the file.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def tensor_items(mapping: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensor entries of ``mapping``; non-tensor entries are returned by :func:`non_tensor_keys`."""
    import torch

    return {k: v for k, v in mapping.items() if isinstance(v, torch.Tensor)}


def non_tensor_keys(mapping: Mapping[str, Any]) -> list[str]:
    """Keys of ``mapping`` whose values are not tensors (nested dicts, step counters...)."""
    import torch

    return [str(k) for k, v in mapping.items() if not isinstance(v, torch.Tensor)]


def validate_weight_file(
    path: str | Path,
    *,
    allow_pickle: bool,
    field: str | None = None,
    what: str | None = None,
) -> dict[str, str] | None:
    """Every check that needs no tensor read: policy, existence, header / container.

    Returns:
        name -> safetensors dtype for a safetensors file; ``None`` for a pickle.

    Raises:
        ConfigError: missing, empty, truncated or corrupt, or an unknown format.
        UnsafeCheckpointError: a pickle without ``allow_pickle``.
    """
    path = Path(path)
    where = where_prefix(field, what)
    suffix = path.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        return read_safetensors_header(path, field=field, what=what)
    if suffix not in PICKLE_SUFFIXES:
        raise ConfigError(
            f"{where}{str(path)!r}: unknown weight format {suffix!r} "
            f"(accepted: {', '.join(WEIGHT_SUFFIXES)})"
        )
    check_pickle_policy(path, allow_pickle=allow_pickle, field=field, what=what)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"{where}weight file {str(path)!r} {problem}")
    check_pickle_container(path, field=field, what=what)
    return None
