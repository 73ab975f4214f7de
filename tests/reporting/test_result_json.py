"""Results serialise from their dataclass fields: every field reaches the record entry.

Each result class is built with every field set away from its default; its ``to_json()``
must survive a JSON round trip and carry each field under its own name, with the value
written as documented (docs/verdict-record.md). A field added later reaches the record
without touching ``to_json`` (``igmu_audit._serialise``), and this test sees it too: every
field, with or without a sample here, must appear.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from igmu_audit._serialise import fields_json, rows, skip, to_jsonable
from igmu_audit.metrics.functional.intervals import Interval
from igmu_audit.prompt_evidence import ModelInfo, PromptEvidence
from igmu_audit.prompts.dedupe import Duplicate
from igmu_audit.results import (
    AuditResult,
    Check,
    ForgettingResult,
    PreservationResult,
    RobustnessResult,
    Threshold,
)
from igmu_audit.vacuity import PairedDrop

IV = Interval(0.1, 0.3, 0.95, "wilson", n_effective=12.5)
IV_JSON = {"low": 0.1, "high": 0.3, "confidence": 0.95, "method": "wilson", "n_effective": 12.5}  # fmt: skip
CHECK = Check(
    "rate", 0.2, IV, Threshold("max_rate", 0.05, "marker"), "<=", "fail", 40, "note"
)
CHECK_JSON = {"metric": "rate", "value": 0.2, "interval": IV_JSON,
              "threshold": {"name": "max_rate", "value": 0.05, "source": "marker"},
              "direction": "<=", "verdict": "fail", "n": 40, "note": "note"}  # fmt: skip
EVIDENCE = PromptEvidence(
    3, "a cat", (0, 1), (0.9, 0.1), (True, False), ("/e/a.png", None), 2, 2
)
PAIRED = PairedDrop(
    10, 8, 2, 6, 0, 0.03, 0.015, 0.6, Interval(0.2, 0.8, 0.95, "agresti-min")
)
DUPLICATE = Duplicate("prompts[1]", "a  cat", "prompts[0]", "a cat", "same text")

#: field -> (a value other than the default, the JSON the record must hold for it)
SAMPLES: dict[str, tuple[Any, Any]] = {
    "assertion": ("assert_x", "assert_x"),
    "concept": ("nudity", "nudity"),
    "verdict": ("fail", "fail"),
    "checks": ((CHECK,), [CHECK_JSON]),
    "model": (ModelInfo("m", "sha256:aa"), {"label": "m", "fingerprint": "sha256:aa"}),
    "original": (ModelInfo("o", "sha256:bb"), {"label": "o", "fingerprint": "sha256:bb"}),
    "detector": ({"name": "d", "classes": ("a", "b")}, {"name": "d", "classes": ["a", "b"]}),
    "seeds": ((0, 1), [0, 1]),
    "evidence": ((EVIDENCE,), [EVIDENCE.to_json()]),
    "evidence_dir": ("/e", "/e"),
    "settings": ({"steps": 2, "cache": Path("/c")}, {"steps": 2, "cache": "/c"}),
    "test_id": ("t.py::test", "t.py::test"),
    "raised": (True, True),
    "duplicates": ((DUPLICATE,), [dataclasses.asdict(DUPLICATE)]),
    "confidence": (0.95, 0.95),
    "p_value": (0.01, 0.01),
    "ineffective": (("never shown",), ["never shown"]),
    "hits": (7, 7),
    "images": (40, 40),
    "paired": (PAIRED, PAIRED.to_json()),
    "metrics": ({"KID[f]": {"value": np.float32(0.5), "n": np.int64(4)}}, {"KID[f]": {"value": 0.5, "n": 4}}),
    "feature_space": ("toy-clip (64-d)", "toy-clip (64-d)"),
    "image_pairs": ((("a cat (seed 0)", "/u.png", None),),
                    [{"caption": "a cat (seed 0)", "unlearned": "/u.png", "original": None}]),
    "kind": ("paraphrase", "paraphrase"),
    "pre_attack": (CHECK, CHECK_JSON),
    "shortest_leak": ("cat", "cat"),
    "shortest_leak_seed": (3, 3),
    "shrink_calls": (9, 9),
    "shrink_trail": ((("a cat", 1), ("cat", 3)), [{"prompt": "a cat", "seed": 1}, {"prompt": "cat", "seed": 3}]),
    "shrink_minimal": (True, True),
}  # fmt: skip
RESULT_CLASSES = (AuditResult, ForgettingResult, PreservationResult, RobustnessResult)


def _build(cls: type[AuditResult]) -> AuditResult:
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    kwargs = {
        n: SAMPLES[n][0]
        for n in (f.name for f in dataclasses.fields(cls))
        if n in SAMPLES
    }
    missing = required - kwargs.keys()
    assert not missing, f"add samples for the required fields {sorted(missing)}"
    return cls(**kwargs)


def test_every_result_class_is_covered() -> None:
    """A new result class must be added here, so its fields are checked too."""
    # by name: ``slots=True`` leaves the pre-slots copy of each class among the subclasses
    names = {c.__qualname__ for c in AuditResult.__subclasses__()}
    assert names <= {c.__qualname__ for c in RESULT_CLASSES}


@pytest.mark.parametrize("cls", RESULT_CLASSES, ids=lambda c: c.__name__)
def test_every_field_reaches_the_record_entry(cls: type[AuditResult]) -> None:
    result = _build(cls)
    entry = json.loads(json.dumps(result.to_json()))
    names = [f.name for f in dataclasses.fields(cls)]
    assert set(entry) == {*names, "reference", "flags"}
    for name in names:
        if name in SAMPLES:
            assert entry[name] == SAMPLES[name][1], name
    assert entry["reference"] == "original"
    assert entry["flags"] == []


def test_the_forgetting_and_preservation_fields_that_were_lost_are_recorded() -> None:
    """The fields hand-written ``to_json`` left out (issue 11) are in the entry now."""
    forgetting = _build(ForgettingResult).to_json()
    assert (forgetting["hits"], forgetting["images"]) == (7, 40)
    assert forgetting["evidence"][0]["images"][0] == {
        "seed": 0,
        "score": 0.9,
        "present": True,
        "path": "/e/a.png",
    }
    preservation = _build(PreservationResult).to_json()
    assert preservation["metrics"] == {"KID[f]": {"value": 0.5, "n": 4}}
    assert preservation["feature_space"] == "toy-clip (64-d)"


def test_no_reference_is_a_flag_and_original_is_null() -> None:
    result = dataclasses.replace(_build(ForgettingResult), original=None)
    entry = result.to_json()
    assert (entry["original"], entry["reference"], entry["flags"]) == (None, "none", ["no reference"])  # fmt: skip


def test_an_interval_without_effective_size_writes_null() -> None:
    check = dataclasses.replace(
        CHECK, interval=Interval(0.0, 0.5, 0.9, "clopper-pearson")
    )
    assert check.to_json()["interval"] == {
        "low": 0.0,
        "high": 0.5,
        "confidence": 0.9,
        "method": "clopper-pearson",
        "n_effective": None,
    }


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class _Live:
    name: str
    handle: object = dataclasses.field(default=None, metadata=skip("a live pipeline"))
    pairs: tuple[tuple[str, int], ...] = dataclasses.field(
        default=(), metadata=rows("k", "v")
    )


def test_converter_handles_paths_numpy_enums_sets_and_nested_dataclasses() -> None:
    value = {
        "path": Path("/a/b"),
        "array": np.arange(3, dtype=np.int16),
        "scalar": np.float64(1.5),
        "colour": Colour.RED,
        Colour.RED: 1,
        2: "two",
        "set": frozenset({"b", "a"}),
        "nested": _Live("x", object(), (("a", 1),)),
    }
    assert to_jsonable(value) == {
        "path": "/a/b",
        "array": [0, 1, 2],
        "scalar": 1.5,
        "colour": "red",
        "red": 1,
        "2": "two",
        "set": ["a", "b"],
        "nested": {"name": "x", "pairs": [{"k": "a", "v": 1}]},
    }


def test_a_value_without_json_form_names_its_field() -> None:
    with pytest.raises(TypeError, match=r"_Live\.name: object has no JSON form"):
        fields_json(_Live(object()))  # type: ignore[arg-type]


def test_a_row_of_the_wrong_width_names_its_field() -> None:
    with pytest.raises(
        TypeError, match=r"_Live\.pairs\[0\]: expected a row of 2 \(k, v\)"
    ):
        fields_json(_Live("x", pairs=(("a",),)))  # type: ignore[arg-type]


def test_leaving_a_field_out_needs_a_reason() -> None:
    @dataclasses.dataclass
    class Silent:
        kept: int
        dropped: int = dataclasses.field(default=0, metadata={"serialise": False})

    with pytest.raises(
        TypeError, match=r"Silent\.dropped is left out of the JSON without a reason"
    ):
        fields_json(Silent(1))
    with pytest.raises(ValueError, match="say why"):
        skip(" ")


def test_fields_json_refuses_what_is_not_a_dataclass_instance() -> None:
    with pytest.raises(TypeError, match="expects a dataclass instance, got dict"):
        fields_json({"a": 1})
    with pytest.raises(TypeError, match="got type"):
        fields_json(Check)
