"""Bad verdict records and merge inputs: each is a ConfigError naming the file, nothing changed.

``merge_files`` is what ``python -m igmu_audit.record merge`` runs before it writes
anything; every case builds its record files under ``tmp_path`` and must leave them
byte-identical (the harness checks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.errors import ConfigError
from igmu_audit.reporting.merge import IncompleteMerge, merge_files
from igmu_audit.reporting.record import build_record

from .harness import Case, check_case, ids


def audit(
    test: str, label: str = "m", fingerprint: str = "sha256:1", verdict: str = "pass"
) -> dict[str, Any]:
    return {"test_id": test, "order": 0, "verdict": verdict, "assertion": "assert_forgotten",
            "concept": "c", "checks": [], "model": {"label": label, "fingerprint": fingerprint},
            "original": None, "flags": []}  # fmt: skip


def good(
    test: str = "t.py::a", shard: tuple[int, int] | None = None, **kw: Any
) -> dict[str, Any]:
    run = {"shard": {"index": shard[0], "total": shard[1]}} if shard else {}
    return build_record([audit(test, **kw)], run=run)


def edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    record = good()
    change(record)
    return record


def one(
    write: Callable[[Path], None], *, name: str = "r.json"
) -> Callable[[Path], Callable[[], object]]:
    """A case reading one file that ``write`` creates."""

    def run(tmp: Path) -> Callable[[], object]:
        write(tmp / name)
        return lambda: merge_files([tmp / name])

    return run


def text(body: str | bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")

    return write


def record(data: Any) -> Callable[[Path], None]:
    return text(json.dumps(data))


def many(*records: dict[str, Any]) -> Callable[[Path], Callable[[], object]]:
    """A case merging several good-looking files s1.json, s2.json, ..."""

    def run(tmp: Path) -> Callable[[], object]:
        paths = []
        for i, data in enumerate(records, 1):
            paths.append(tmp / f"s{i}.json")
            paths[-1].write_text(json.dumps(data), encoding="utf-8")
        return lambda: merge_files(paths)

    return run


def directory(tmp: Path) -> Callable[[], object]:
    (tmp / "r.json").mkdir()
    return lambda: merge_files([tmp / "r.json"])


def missing(tmp: Path) -> Callable[[], object]:
    return lambda: merge_files([tmp / "r.json"])


def twice(tmp: Path) -> Callable[[], object]:
    (tmp / "r.json").write_text(json.dumps(good()), encoding="utf-8")
    return lambda: merge_files([tmp / "r.json", tmp / "." / "r.json"])


def _del(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda r: r.pop(key)


def _set(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *path, value = path_and_value

    def change(r: dict[str, Any]) -> None:
        target = r
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


F = "{tmp}/r.json"
S1, S2 = "{tmp}/s1.json", "{tmp}/s2.json"
DEEP = "[" * 100_000 + "]" * 100_000
# fmt: off
CASES = [
    Case("missing-file", missing, ConfigError, (F, "not found")),
    Case("directory-not-file", directory, ConfigError, (F, "is a folder")),
    Case("empty-file", one(text("")), ConfigError, (F, "not valid JSON")),
    Case("truncated-json", one(text(json.dumps(good())[:200])), ConfigError, (F, "not valid JSON", "truncated")),
    Case("not-utf8", one(text(b'{"schema": "\xff\xfe"}')), ConfigError, (F, "not UTF-8", "0xff")),
    Case("utf16-bom", one(text(json.dumps(good()).encode("utf-16"))), ConfigError, (F, "not UTF-8")),
    Case("deep-nesting-100k", one(text(DEEP)), ConfigError, (F, "nested too deeply")),
    Case("huge-integer", one(text('{"schema": ' + "9" * 5000 + "}")), ConfigError, (F, "out of range")),
    Case("huge-float-is-inf", one(text('{"schema": 1e999}')), ConfigError, (F, "out of range")),
    Case("nan-literal", one(text('{"schema": NaN}')), ConfigError, (F, "NaN")),
    Case("duplicate-key", one(text('{"verdict": "fail", "verdict": "pass"}')), ConfigError, (F, "'verdict' appears twice")),
    Case("json-list", one(record([good()])), ConfigError, (F, "top level", "a JSON object")),
    Case("json-string", one(record("pass")), ConfigError, (F, "top level")),
    Case("empty-object", one(record({})), ConfigError, (F, "not an igmu-audit verdict record")),
    Case("schema-1-record", one(record({**good(), "schema": "igmu-audit/verdict-record/1"})), ConfigError,
         (F, "igmu-audit/verdict-record/1", "different schema versions cannot be merged")),
    Case("schema-2-record", one(record({**good(), "schema": "igmu-audit/verdict-record/2"})), ConfigError,
         (F, "igmu-audit/verdict-record/2", "older igmu-audit", "different schema versions cannot be merged")),
    Case("schema-4-from-the-future", one(record({**good(), "schema": "igmu-audit/verdict-record/4"})), ConfigError,
         (F, "igmu-audit/verdict-record/4", "newer igmu-audit", "upgrade igmu-audit")),
    Case("foreign-schema", one(record({**good(), "schema": "junit"})), ConfigError, (F, "not an igmu-audit verdict record")),
    Case("missing-verdict", one(record(edited(_del("verdict")))), ConfigError, (F, "verdict: missing")),
    Case("missing-audits", one(record(edited(_del("audits")))), ConfigError, (F, "audits: missing")),
    Case("missing-problems", one(record(edited(_del("problems")))), ConfigError, (F, "problems: missing")),
    Case("missing-run", one(record(edited(_del("run")))), ConfigError, (F, "run: missing")),
    Case("unknown-verdict", one(record(edited(_set("verdict", "passed")))), ConfigError, (F, "verdict", "'passed'")),
    Case("verdict-contradicts-entries", one(record(edited(_set("audits", 0, "verdict", "fail")))), ConfigError,
         (F, "verdict 'pass' contradicts its own entries", "'fail'")),
    Case("pass-with-zero-audits", one(record(edited(_set("audits", [])))), ConfigError, (F, "contradicts", "'incomplete'")),
    Case("exit-status-edited", one(record(edited(_set("exit_status", 0.0)))), ConfigError, (F, "exit_status")),
    Case("audits-not-a-list", one(record(edited(_set("audits", {"a": 1})))), ConfigError, (F, "audits: expected a list")),
    Case("audit-entry-not-object", one(record(edited(_set("audits", ["pass"])))), ConfigError, (F, "audits[0]")),
    Case("audit-verdict-error", one(record(edited(_set("audits", 0, "verdict", "error")))), ConfigError,
         (F, "audits[0].verdict")),
    Case("order-is-bool", one(record(edited(_set("audits", 0, "order", True)))), ConfigError, (F, "audits[0].order")),
    Case("order-negative", one(record(edited(_set("audits", 0, "order", -1)))), ConfigError, (F, "audits[0].order")),
    Case("flags-not-list", one(record(edited(_set("audits", 0, "flags", "positive control")))), ConfigError,
         (F, "audits[0].flags")),
    Case("model-missing-fingerprint", one(record(edited(_set("audits", 0, "model", {"label": "m"})))), ConfigError,
         (F, "audits[0].model")),
    Case("models-entry-without-label", one(record(edited(_set("models", "sha256:1", {})))), ConfigError,
         (F, "models.sha256:1")),
    Case("problem-with-pass-verdict", one(record(edited(_set("problems", [{"test_id": "t", "verdict": "pass",
         "phase": "call", "reason": "", "flags": [], "exception": None}])))), ConfigError, (F, "problems[0].verdict")),
    Case("problem-exception-without-type", one(record(edited(_set("problems", [{"test_id": "t", "verdict": "error",
         "phase": "call", "reason": "", "flags": [], "exception": {"message": "x"}}])))), ConfigError,
         (F, "problems[0].exception.type")),
    Case("shard-index-zero", one(record(good(shard=(0, 2)))), ConfigError, (F, "run.shard.index")),
    Case("shard-index-above-total", one(record(good(shard=(3, 2)))), ConfigError, (F, "run.shard.index")),
    Case("shard-total-string", one(record(edited(_set("run", "shard", {"index": 1, "total": "2"})))), ConfigError,
         (F, "run.shard.total")),
    Case("zero-records", lambda tmp: (lambda: merge_files([])), IncompleteMerge, ("no verdict records",)),
    Case("same-file-twice", twice, IncompleteMerge, (F, "given twice")),
    Case("missing-shard", many(good("t.py::a", (1, 3)), good("t.py::c", (3, 3))), IncompleteMerge,
         ("2/3 missing", S1, S2)),
    Case("duplicate-shard", many(good("t.py::a", (1, 2)), good("t.py::b", (1, 2))), IncompleteMerge,
         ("shard 1/2 appears twice", S1, S2)),
    Case("mixed-shard-counts", many(good("t.py::a", (1, 2)), good("t.py::b", (2, 3))), IncompleteMerge,
         ("different splits", S1, S2)),
    Case("sharded-and-unsharded", many(good("t.py::a", (1, 1)), good("t.py::b")), IncompleteMerge,
         ("sharded and unsharded", S1, S2)),
    Case("overlapping-test-ids", many(good("t.py::a"), good("t.py::a")), ConfigError, ("'t.py::a'", S1, S2, "overlap")),
    Case("models-disagree", many(good("t.py::a"), good("t.py::b", fingerprint="sha256:2")), ConfigError,
         ("model 'm'", S1, S2, "same weights")),
    Case("second-file-bad", many(good("t.py::a"), {"schema": "igmu-audit/verdict-record/1"}), ConfigError,
         (S2, "verdict-record/1")),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_record(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert len(set(ids(CASES))) == len(CASES)


def test_a_good_record_merges(tmp_path: Path) -> None:
    """The corpus's baseline: the same builders make records merge_files accepts."""
    for k in (1, 2):
        (tmp_path / f"s{k}.json").write_text(json.dumps(good(f"t.py::{k}", (k, 2))))
    merged = merge_files([tmp_path / "s1.json", tmp_path / "s2.json"])
    assert (merged["verdict"], merged["counts"]["pass"]) == ("pass", 2)
