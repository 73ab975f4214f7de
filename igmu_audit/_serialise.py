"""Dataclasses to JSON by their fields: one rule, so a field a result gains reaches the record.

A hand-written ``to_json`` per class silently drops every field its author forgot (the
forgetting result's hits and images never reached the verdict record). Here every
``dataclasses.fields`` entry is written unless the field opts out explicitly, with a
reason, through ``field(metadata=skip("why"))``; a value this module cannot convert is
a ``TypeError`` naming the field, never a ``str()`` a reviewer cannot read back.

Pure Python (numpy arrays and tensors are recognised by their ``tolist``), so the
record's readers run without numpy or torch.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

__all__ = ["REASON", "ROW_KEYS", "SERIALISE", "fields_json", "rows", "skip", "to_jsonable"]  # fmt: skip

#: field metadata key: ``False`` leaves the field out of the JSON (needs ``REASON``)
SERIALISE = "serialise"
#: field metadata key: why a field is left out (required with ``SERIALISE: False``)
REASON = "reason"
#: field metadata key: names for the items of each tuple row (rows become objects)
ROW_KEYS = "row_keys"


def skip(reason: str) -> dict[str, Any]:
    """Field metadata that leaves a field out of the JSON, saying why (e.g. a live object)."""
    if not reason.strip():
        raise ValueError("skip(reason): say why the field is left out of the record")
    return {SERIALISE: False, REASON: reason}


def rows(*keys: str) -> dict[str, Any]:
    """Field metadata for a tuple of tuples: each row becomes ``{key: item}`` in that order."""
    if not keys:
        raise ValueError("rows(*keys): name at least one column")
    return {ROW_KEYS: keys}


def fields_json(obj: Any) -> dict[str, Any]:
    """``obj``'s dataclass fields as a JSON-ready dict, in declaration order.

    Raises:
        TypeError: ``obj`` is not a dataclass instance, a field opts out without a
            reason, or a value has no JSON form (the message names the field).
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(
            f"fields_json expects a dataclass instance, got {type(obj).__qualname__}"
        )
    name = type(obj).__qualname__
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        where = f"{name}.{f.name}"
        if f.metadata.get(SERIALISE, True) is False:
            if not str(f.metadata.get(REASON, "")).strip():
                raise TypeError(
                    f"{where} is left out of the JSON without a reason: "
                    'use field(metadata=skip("why it must not be recorded"))'
                )
            continue
        value = getattr(obj, f.name)
        keys = f.metadata.get(ROW_KEYS)
        out[f.name] = (
            _rows(value, tuple(keys), where) if keys else to_jsonable(value, where)
        )
    return out


def _rows(value: Any, keys: tuple[str, ...], where: str) -> Any:
    if value is None:
        return None
    out = []
    for i, row in enumerate(value):
        if (
            not isinstance(row, Sequence)
            or isinstance(row, str)
            or len(row) != len(keys)
        ):
            raise TypeError(
                f"{where}[{i}]: expected a row of {len(keys)} ({', '.join(keys)}), got {row!r}"
            )
        out.append(
            {
                k: to_jsonable(v, f"{where}[{i}].{k}")
                for k, v in zip(keys, row, strict=True)
            }
        )
    return out


def _key(key: Any, where: str) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise TypeError(
        f"{where}: mapping key {key!r} ({type(key).__qualname__}) has no JSON form"
    )


def to_jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as JSON-ready data: dataclasses by their fields, paths as text, arrays as lists.

    A dataclass with its own ``to_json()`` (a row that has a documented shape of its
    own, e.g. ``PromptEvidence``) is written by it. Floats stay floats (NaN included:
    ``reporting/record.py`` writes non-finite numbers as text).

    Raises:
        TypeError: naming ``where`` for a value with no JSON form.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where)
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        own = getattr(value, "to_json", None)
        return to_jsonable(own(), where) if callable(own) else fields_json(value)
    if isinstance(value, Mapping):
        return {
            _key(k, where): to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v, f"{where}{{}}") for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars, torch tensors
        return to_jsonable(tolist(), where)
    raise TypeError(
        f"{where}: {type(value).__qualname__} has no JSON form; give the field a JSON-able "
        "type (numbers, text, paths, lists, mappings, dataclasses) or leave it out with "
        'field(metadata=skip("why"))'
    )
