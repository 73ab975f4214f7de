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

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError, UnsafeCheckpointError

if TYPE_CHECKING:
    import torch

#: Weight formats that cannot run code when read.
SAFE_SUFFIXES = (".safetensors",)
#: Pickle-based weight formats: refused unless ``allow_pickle=True``.
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
WEIGHT_SUFFIXES = SAFE_SUFFIXES + PICKLE_SUFFIXES

#: Bytes per element of each safetensors dtype (the format's own table).
SAFETENSORS_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
#: The safetensors library refuses headers larger than this; so do we, before reading.
MAX_HEADER_BYTES = 100_000_000
_REEXPORT = (
    "re-download the file, or re-export it with safetensors.torch.save_file "
    "(an interrupted download or copy leaves exactly this)"
)

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


def _where(field: str | None, what: str | None) -> str:
    # Message prefix naming who asked for the file: a ModelSpec field or a free label.
    if field:
        return f"model {field!r}: "
    return f"{what}: " if what else ""


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
    where = _where(field, what)
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
                f"({type(exc).__name__}: {exc}); {_REEXPORT}"
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

    Call after :func:`read_safetensors_header` accepted the file.
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


def _sniff(first: bytes) -> str | None:
    # What a file that is not safetensors most likely is, from its first bytes.
    if first.startswith(b"PK"):
        return "a zip archive (torch.save's checkpoint format)"
    if first[:1] == b"\x80":
        return "a pickle (a legacy torch checkpoint)"
    if first.startswith(b"\x89PNG"):
        return "a PNG image"
    if first[:1] in (b"{", b"["):
        return "a JSON file"
    return None


def _header_error(where: str, path: Path, what: str) -> ConfigError:
    return ConfigError(f"{where}weight file {str(path)!r} {what}; {_REEXPORT}")


def _check_entry(name: str, info: Any) -> tuple[int, int, str]:
    """(begin, end, dtype) of one header entry, or ``ValueError`` saying what is wrong."""
    if not isinstance(info, dict):
        raise ValueError(f"entry {name!r} is a {type(info).__name__}, not an object")
    dtype, shape, offsets = (
        info.get("dtype"),
        info.get("shape"),
        info.get("data_offsets"),
    )
    if dtype not in SAFETENSORS_DTYPES:
        raise ValueError(
            f"tensor {name!r} has unknown dtype {dtype!r} "
            f"(known: {', '.join(SAFETENSORS_DTYPES)})"
        )
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(f"tensor {name!r} has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise ValueError(f"tensor {name!r} has invalid data_offsets {offsets!r}")
    numel = 1
    for d in shape:
        numel *= d
    if offsets[1] - offsets[0] != numel * SAFETENSORS_DTYPES[dtype]:
        raise ValueError(
            f"tensor {name!r} ({dtype} {shape}) spans {offsets[1] - offsets[0]} bytes, "
            f"expected {numel * SAFETENSORS_DTYPES[dtype]}"
        )
    return offsets[0], offsets[1], dtype


def read_safetensors_header(
    path: str | Path, *, field: str | None = None, what: str | None = None
) -> dict[str, str]:
    """Validate a ``.safetensors`` file from its header alone and return name -> dtype.

    Reads 8 bytes and the JSON header (never the tensors), so a bad override fails in
    milliseconds, before a multi-GB base model is loaded.

    Raises:
        ConfigError: missing, empty, truncated, not safetensors, or a malformed header;
            the message names the file and what was wrong.
    """
    path = Path(path)
    where = _where(field, what)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"{where}weight file {str(path)!r} {problem}")
    size = path.stat().st_size
    if size < 8:
        problem = "is empty (0 bytes)" if size == 0 else f"is only {size} bytes"
        raise _header_error(where, path, f"{problem}: not a safetensors file")
    with path.open("rb") as fh:
        first = fh.read(8)
        (length,) = struct.unpack("<Q", first)
        if length > min(size - 8, MAX_HEADER_BYTES):
            kind = _sniff(first)
            raise ConfigError(
                f"{where}weight file {str(path)!r} is not safetensors: its first 8 bytes "
                f"give a header of {length} bytes, the file has {size}"
                + (
                    f". It looks like {kind}: rename it to its real suffix (a torch "
                    "checkpoint needs `allow_pickle: true`) or convert it to safetensors"
                    if kind
                    else f" (truncated, or another format); {_REEXPORT}"
                )
            )
        raw = fh.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _header_error(
            where, path, f"has a corrupt header (not UTF-8 JSON: {exc})"
        ) from exc
    if not isinstance(header, dict):
        raise _header_error(
            where,
            path,
            f"has a corrupt header (a JSON {type(header).__name__}, not an object)",
        )
    spans: list[tuple[int, int]] = []
    dtypes: dict[str, str] = {}
    try:
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end, dtypes[name] = _check_entry(name, info)
            spans.append((begin, end))
    except ValueError as exc:
        raise _header_error(where, path, f"has a corrupt header: {exc}") from exc
    data = size - 8 - length
    needed = max((end for _, end in spans), default=0)
    if needed > data:
        raise _header_error(
            where,
            path,
            f"is truncated: its header describes {needed} bytes of tensor data, "
            f"only {data} follow",
        )
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            break
        position = end
    if position != data:
        raise _header_error(
            where,
            path,
            f"has a corrupt layout: the header's {len(spans)} tensors do not tile its "
            f"{data} bytes of tensor data (gaps, overlaps or trailing bytes)",
        )
    return dtypes


def check_pickle_container(
    path: str | Path, *, field: str | None = None, what: str | None = None
) -> None:
    """Cheap structural check of a pickle checkpoint before ``torch.load`` sees it.

    Raises:
        ConfigError: the file is empty, or a truncated / corrupt zip (``torch.save``'s
            format since torch 1.6).
    """
    import zipfile

    path = Path(path)
    where = _where(field, what)
    with path.open("rb") as fh:
        magic = fh.read(4)
    if not magic:
        raise ConfigError(
            f"{where}weight file {str(path)!r} is empty (0 bytes); re-download or re-export it"
        )
    if magic.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise ConfigError(
                f"{where}weight file {str(path)!r} is a truncated or corrupt torch "
                f"checkpoint (zip: {exc}); re-download or re-export it"
            ) from exc
        if not any(n.endswith("data.pkl") for n in names):
            raise ConfigError(
                f"{where}weight file {str(path)!r} is a zip archive but not a torch "
                "checkpoint (no data.pkl inside)"
            )


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
    where = _where(field, what)
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
