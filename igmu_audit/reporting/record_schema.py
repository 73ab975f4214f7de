"""Reading a verdict record strictly: every way a file can be wrong is a named ConfigError.

A release gate trusts what it reads, so a record is refused (never guessed at) when it
is not UTF-8, not JSON, nested absurdly deep, holds NaN / inf / giant numbers or
duplicate keys, lacks a key, has a wrong type, or states a verdict its own entries
contradict. Each message names the file, the key path and what would fix it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.reporting import outcome

SCHEMA = "igmu-audit/verdict-record/3"
#: bigger files are not records igmu-audit wrote (and would only exhaust memory)
MAX_BYTES = 256 * 1024 * 1024
_MAX_INT = 2**63
_REWRITE = "re-run the audit to write it again (records are written by --igmu-record)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 19 or abs(int(text)) >= _MAX_INT:
        raise ValueError(
            f"integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range"
        )
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def load_json(file: Path) -> Any:
    """The JSON in ``file``, refusing anything a writer of records would not produce."""
    try:
        size = file.stat().st_size
        if file.is_dir():
            raise ConfigError(f"{file}: is a folder, not a verdict record file")
        if size > MAX_BYTES:
            raise ConfigError(f"{file}: {size} bytes is too large for a verdict record")
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: verdict record not found (did the run that should write it crash, or never start?)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the verdict record: {exc.strerror or exc}") from None  # fmt: skip
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); not a verdict record"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_float,
                          parse_int=_int, object_pairs_hook=_no_duplicates)  # fmt: skip
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}; "
            f"a truncated file is what a killed writer leaves; {_REWRITE}"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{file}: JSON nested too deeply to be a verdict record"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{file}: not a verdict record: {exc}") from None


class _Checker:
    """Type checks that name the file and the key path of what is wrong."""

    def __init__(self, file: object) -> None:
        self.file = file

    def fail(self, where: str, expected: str, got: Any) -> ConfigError:
        shown = repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return ConfigError(
            f"{self.file}: {where}: expected {expected}, got {shown}; {_REWRITE}"
        )

    def get(self, data: Mapping[str, Any], key: str, where: str, expected: str,
            ok: Callable[[Any], bool]) -> Any:  # fmt: skip
        if key not in data:
            raise ConfigError(f"{self.file}: {where}{key}: missing; {_REWRITE}")
        value = data[key]
        if not ok(value):
            raise self.fail(f"{where}{key}", expected, value)
        return value


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_model(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and _is_str(v.get("label"))
        and _is_str(v.get("fingerprint"))
    )


def _check_audit(c: _Checker, entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise c.fail(where, "an object (one audit)", entry)
    c.get(
        entry,
        "test_id",
        f"{where}.",
        "a test id or null",
        lambda v: v is None or _is_str(v),
    )
    c.get(
        entry, "order", f"{where}.", "an integer >= 0", lambda v: _is_int(v) and v >= 0
    )
    c.get(entry, "verdict", f"{where}.", f"one of {', '.join(outcome.AUDIT_VERDICTS)}",
          lambda v: v in outcome.AUDIT_VERDICTS)  # fmt: skip
    c.get(entry, "assertion", f"{where}.", "a string", _is_str)
    c.get(entry, "flags", f"{where}.", "a list of strings", _is_strs)
    c.get(entry, "checks", f"{where}.", "a list", lambda v: isinstance(v, list))
    c.get(entry, "model", f"{where}.", "{label, fingerprint}", _is_model)
    c.get(
        entry,
        "original",
        f"{where}.",
        "{label, fingerprint} or null",
        lambda v: v is None or _is_model(v),
    )


def _check_problem(c: _Checker, entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise c.fail(where, "an object (one error or incomplete test)", entry)
    c.get(entry, "test_id", f"{where}.", "a string", _is_str)
    c.get(entry, "verdict", f"{where}.", f"one of {', '.join(outcome.PROBLEM_VERDICTS)}",
          lambda v: v in outcome.PROBLEM_VERDICTS)  # fmt: skip
    c.get(entry, "phase", f"{where}.", "a string", _is_str)
    c.get(entry, "reason", f"{where}.", "a string", _is_str)
    c.get(entry, "flags", f"{where}.", "a list of strings", _is_strs)
    exc = c.get(entry, "exception", f"{where}.", "{type, message} or null",
                lambda v: v is None or isinstance(v, dict))  # fmt: skip
    if exc is not None:
        c.get(exc, "type", f"{where}.exception.", "a string", _is_str)
        c.get(exc, "message", f"{where}.exception.", "a string", _is_str)


def _check_shard(c: _Checker, run: dict[str, Any]) -> None:
    shard = c.get(
        run,
        "shard",
        "run.",
        "{index, total} or null",
        lambda v: v is None or isinstance(v, dict),
    )
    if shard is not None:
        total = c.get(
            shard,
            "total",
            "run.shard.",
            "an integer >= 1",
            lambda v: _is_int(v) and v >= 1,
        )
        c.get(
            shard,
            "index",
            "run.shard.",
            f"an integer in 1..{total}",
            lambda v: _is_int(v) and 1 <= v <= total,
        )


def _schema_hint(schema: Any) -> str:
    """Why a record of another schema is refused: older, newer or not a record at all."""
    prefix = SCHEMA.rpartition("/")[0] + "/"
    if not (isinstance(schema, str) and schema.startswith(prefix)):
        return "not an igmu-audit verdict record"
    version = schema.removeprefix(prefix)
    ours = int(SCHEMA.rpartition("/")[2])
    if version.isdigit() and int(version) > ours:
        return (
            "written by a newer igmu-audit; records of different schema versions cannot be "
            "merged: upgrade igmu-audit, or re-run that audit with this version"
        )
    return (
        "written by an older igmu-audit; records of different schema versions cannot be "
        "merged: re-run that audit with this version"
    )


def validate_record(data: Any, file: object) -> dict[str, Any]:
    """``data`` if it is a well-formed, self-consistent verdict record; else ConfigError."""
    c = _Checker(file)
    if not isinstance(data, dict):
        raise c.fail(
            "top level", "a JSON object (a verdict record)", type(data).__name__
        )
    schema = data.get("schema")
    if schema != SCHEMA:
        hint = _schema_hint(schema)
        raise ConfigError(f"{file}: schema {schema!r}, expected {SCHEMA!r}: {hint}")
    c.get(data, "igmu_audit", "", "a version string", _is_str)
    verdict = c.get(
        data,
        "verdict",
        "",
        f"one of {', '.join(outcome.VERDICTS)}",
        lambda v: v in outcome.VERDICTS,
    )
    c.get(data, "exit_status", "", "an integer", _is_int)
    c.get(data, "counts", "", "an object", lambda v: isinstance(v, dict))
    models = c.get(
        data,
        "models",
        "",
        "an object {fingerprint: {label}}",
        lambda v: isinstance(v, dict),
    )
    for fingerprint, info in models.items():
        if not (isinstance(info, dict) and _is_str(info.get("label"))):
            raise c.fail(f"models.{fingerprint}", "{label: string}", info)
    audits = c.get(data, "audits", "", "a list", lambda v: isinstance(v, list))
    problems = c.get(data, "problems", "", "a list", lambda v: isinstance(v, list))
    for i, entry in enumerate(audits):
        _check_audit(c, entry, f"audits[{i}]")
    for i, entry in enumerate(problems):
        _check_problem(c, entry, f"problems[{i}]")
    c.get(data, "not_applicable", "", "a list", lambda v: isinstance(v, list))
    run = c.get(data, "run", "", "an object", lambda v: isinstance(v, dict))
    _check_shard(c, run)
    expected = outcome.run_verdict(audits, problems)
    if verdict != expected:
        raise ConfigError(
            f"{file}: verdict {verdict!r} contradicts its own entries (they give {expected!r}); "
            f"the file was edited or is corrupt; {_REWRITE}"
        )
    if data["exit_status"] != outcome.exit_status(verdict):
        raise c.fail(
            "exit_status",
            f"{outcome.exit_status(verdict)} for verdict {verdict!r}",
            data["exit_status"],
        )
    return data
