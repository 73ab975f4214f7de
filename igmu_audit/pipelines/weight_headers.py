"""Validate weight files from their headers alone, before any tensor is read.

A safetensors header (8 bytes and a JSON table) or a torch zip's directory tells whether a
file is whole and well-formed in milliseconds, so a bad override fails before a multi-GB
base model loads. :mod:`igmu_audit.pipelines.checkpoints` (the pickle policy and the
actual reads) runs these checks first.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError

#: Bytes per element of each safetensors dtype (the format's own table).
SAFETENSORS_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
#: The safetensors library refuses headers larger than this; so do we, before reading.
MAX_HEADER_BYTES = 100_000_000
REEXPORT_HINT = (
    "re-download the file, or re-export it with safetensors.torch.save_file "
    "(an interrupted download or copy leaves exactly this)"
)


def where_prefix(field: str | None, what: str | None) -> str:
    """Message prefix naming who asked for the file: a ModelSpec field or a free label."""
    if field:
        return f"model {field!r}: "
    return f"{what}: " if what else ""


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
    return ConfigError(f"{where}weight file {str(path)!r} {what}; {REEXPORT_HINT}")


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
    where = where_prefix(field, what)
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
                    else f" (truncated, or another format); {REEXPORT_HINT}"
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
    where = where_prefix(field, what)
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
