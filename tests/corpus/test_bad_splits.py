"""Bad-input corpus, DataIGM prompt splits: malformed ``forgot.json`` / ``retain.json``.

Each case writes a split whose forget file (or retain file) is bad and expects a
``ConfigError`` naming that file and the ``$.`` path inside it, with nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError
from igmu_audit.prompts import load_dataigm
from tests.corpus.harness import Call, Case, check_case, ids

GOOD = json.dumps({"t": {"c": ["a prompt"]}})


def split(forget: str | bytes, retain: str | bytes = GOOD) -> Callable[[Path], Call]:
    """A case loading a split whose files hold ``forget`` and ``retain`` (text or bytes)."""

    def run(tmp: Path) -> Call:
        for name, content in (("forgot.json", forget), ("retain.json", retain)):
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            (tmp / name).write_bytes(data)
        return lambda: load_dataigm(tmp)

    return run


def shape(data: object) -> Callable[[Path], Call]:
    return split(json.dumps(data))


def case(id: str, run: Callable[[Path], Call], *mentions: str) -> Case:
    return Case(id, run, ConfigError, mentions)


F = "{tmp}/forgot.json"

CASES = [
    case("repeated-task", split('{"t": {"c": ["a"]}, "t": {"c": ["b"]}}'), F, "$.t", "repeated"),
    case("repeated-category", split('{"t": {"c": ["a"], "c": ["b"]}}'), F, "$.t.c", "repeated"),
    case("repeated-in-retain", split(GOOD, '{"t": {"c": ["a"], "d": ["x"], "d": ["y"]}}'), "{tmp}/retain.json", "$.t.d"),
    case("utf16-bom", split(GOOD.encode("utf-16")), F, "UTF-16", "save it as UTF-8"),
    case("utf16-no-bom", split(GOOD.encode("utf-16-le")), F, "NUL bytes"),
    case("utf32", split(GOOD.encode("utf-32")), F, "UTF-32"),
    case("latin1", split('{"t": {"c": ["café"]}}'.encode("latin-1")), F, "not UTF-8", "save it as UTF-8"),
    case("deep-nesting", split("[" * 100_000 + "]" * 100_000), F, "nested too deeply"),
    case("deep-objects", split('{"a":' * 100_000 + "1" + "}" * 100_000), F, "nested too deeply"),
    case("top-level-list", shape([]), F, "$", "got list"),
    case("top-level-string", shape("t"), F, "$", "got str"),
    case("top-level-number", shape(5), F, "$", "got int"),
    case("top-level-null", split("null"), F, "$", "NoneType"),
    case("empty-object", shape({}), F, "$", "got an empty object"),
    case("empty-file", split(""), F, "is empty"),
    case("whitespace-file", split("  \n"), F, "is empty"),
    case("syntax-error", split('{"t": {"c": ["a",]}}'), F, "not valid JSON", "line 1"),
    case("trailing-garbage", split(GOOD + " x"), F, "not valid JSON"),
    case("task-is-list", shape({"t": ["a"]}), F, "$.t", "categories"),
    case("task-is-empty", shape({"t": {}}), F, "$.t", "non-empty object"),
    case("category-is-string", shape({"t": {"c": "a prompt"}}), F, "$.t.c", "list of prompts"),
    case("category-empty-list", shape({"t": {"c": []}}), F, "$.t.c", "non-empty list"),
    case("category-null", shape({"t": {"c": None}}), F, "$.t.c"),
    case("prompt-number", shape({"t": {"c": ["ok", 3]}}), F, "$.t.c[1]", "non-empty string"),
    case("prompt-null", shape({"t": {"c": [None]}}), F, "$.t.c[0]"),
    case("prompt-empty", shape({"t": {"c": ["ok", ""]}}), F, "$.t.c[1]"),
    case("prompt-blank", shape({"t": {"c": ["   "]}}), F, "$.t.c[0]"),
    case("prompt-list", shape({"t": {"c": [["nested"]]}}), F, "$.t.c[0]"),
    case("prompt-bool", shape({"t": {"c": [True]}}), F, "$.t.c[0]"),
    case("task-only-in-forget", shape({"t": {"c": ["a"]}, "u": {"c": ["b"]}}), "{tmp}/retain.json", "'u'", "forgot.json"),
    case("forget-is-directory", lambda tmp: (tmp / "forgot.json").mkdir() or (lambda: load_dataigm(tmp)), F, "is a directory"),
    case("forget-missing", lambda tmp: (tmp / "retain.json").write_text(GOOD) and (lambda: load_dataigm(tmp)), F, "not found"),
    case("prompts-key-file-repeated", lambda tmp: _configured(tmp), "{tmp}/f.json", "$.t.c", "repeated"),
]  # fmt: skip


def _configured(tmp: Path) -> Call:
    """A split named through the config's ``prompts: {forget, retain}`` mapping."""
    (tmp / "f.json").write_text('{"t": {"c": ["a"], "c": ["b"]}}', encoding="utf-8")
    (tmp / "r.json").write_text(GOOD, encoding="utf-8")
    spec = tmp / "s.yaml"
    spec.write_text("prompts: {forget: f.json, retain: r.json}\n", encoding="utf-8")
    prompts = load_config(tmp, spec=spec).prompts or {}
    return lambda: load_dataigm(forget=prompts["forget"], retain=prompts["retain"])


@pytest.mark.parametrize("bad", CASES, ids=ids(CASES))
def test_bad_split_is_a_clear_config_error(bad: Case, tmp_path: Path) -> None:
    check_case(bad, tmp_path)


def test_corpus_size() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
