"""The run-level statement: the family-wise error bound, and ``family_wise: true`` (Holm)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.reporting.family_wise import apply, statement_lines
from igmu_audit.reporting.record import build_record
from igmu_audit.results import Threshold
from igmu_audit.significance import decision_p_value
from igmu_audit.steps import rate_check

# 12 images (6 prompts x 2 seeds), none leaking, judged on independent images:
# Clopper-Pearson's upper bound 1 - (alpha/2)^(1/12) clears max_rate m exactly when
# alpha >= 2 (1 - m)^12: p = 2 * 0.5**12 = 0.00049 at 0.5 and 2 * 0.73**12 = 0.0458 at 0.27.
AUDITS = """
import torch
from igmu_audit import assert_forgotten

PROMPTS = ["a family prompt %d" % i for i in range(6)]

def never(images):
    return torch.zeros(len(images))

def test_clear(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=never, max_rate=0.5, min_effective_prompts=1, interval="independent")

def test_close_a(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=never, max_rate=0.27, min_effective_prompts=1, interval="independent")

def test_close_b(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=never, max_rate=0.27, min_effective_prompts=1, interval="independent")
"""


def entry(test_id: str, verdict: str, p: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "test_id": test_id,
        "verdict": verdict,
        "p_value": p,
        "confidence": 0.95,
        "flags": [],
        **extra,
    }


def test_bonferroni_bound_is_stated_without_changing_verdicts() -> None:
    audits = [
        entry("a", "pass", 0.01),
        entry("b", "fail", 0.04),
        entry("c", "inconclusive", None),
    ]
    entries, statement = apply(audits, enabled=False)
    assert [e["verdict"] for e in entries] == ["pass", "fail", "inconclusive"]
    assert statement["audits"] == 2  # inconclusive claims nothing
    assert statement["bonferroni_bound"] == pytest.approx(0.10)
    (line,) = statement_lines(statement)
    assert "2 gating verdict(s) at 0.95 confidence each" in line
    assert "at most 0.1 (Bonferroni" in line
    assert "set family_wise: true" in line


def test_holm_steps_down_and_stops_at_the_first_failure() -> None:
    # m = 4 at alpha 0.05: levels 0.0125, 0.0167, 0.025, 0.05 for the sorted p-values
    audits = [entry("a", "pass", 0.001), entry("b", "pass", 0.016), entry("c", "fail", 0.03),
              entry("d", "pass", 0.04), entry("e", "pass", 0.001, flags=["positive control"])]  # fmt: skip
    entries, statement = apply(audits, enabled=True)
    verdicts = {e["test_id"]: e["verdict"] for e in entries}
    # 0.001 <= 0.0125, 0.016 <= 0.0167, 0.03 > 0.025: c and every later one stop holding
    assert verdicts == {
        "a": "pass",
        "b": "pass",
        "c": "inconclusive",
        "d": "inconclusive",
        "e": "pass",
    }
    by_id = {e["test_id"]: e.get("family_wise") for e in entries}
    assert by_id["e"] is None  # a positive control does not gate: not in the family
    assert by_id["c"]["verdict_alone"] == "fail"
    assert by_id["c"]["level"] == pytest.approx(0.025)
    assert (statement["held"], statement["undecided"], statement["alpha"]) == (
        2,
        2,
        pytest.approx(0.05),
    )
    # idempotent, also when a merge recomputes the family from verdict_alone
    again, _ = apply(entries, enabled=True)
    assert again == entries


def test_a_merge_keeps_the_adjustment_and_recomputes_the_family() -> None:
    shard = build_record(
        [entry("a", "pass", 0.001), entry("b", "pass", 0.03)], family_wise=True
    )
    assert shard["verdict"] == "pass"  # 0.001 <= 0.025, 0.03 <= 0.05
    merged = build_record([*shard["audits"], entry("c", "pass", 0.02)])
    # m = 3: 0.001 <= 0.0167, 0.02 <= 0.025, 0.03 <= 0.05: all hold
    assert merged["run"]["family_wise"]["method"] == "holm"
    assert merged["verdict"] == "pass"
    merged = build_record([*shard["audits"], entry("c", "pass", 0.04)])
    assert [a["verdict"] for a in merged["audits"]] == [
        "pass",
        "inconclusive",
        "inconclusive",
    ]
    assert merged["verdict"] == "inconclusive"


def test_decision_p_value_is_the_level_where_the_verdict_flips() -> None:
    threshold = Threshold("max_rate", 0.27, "call argument")

    def judge(c: float):  # type: ignore[no-untyped-def]
        return rate_check(0, 12, threshold, c)

    p = decision_p_value(judge, "pass", 0.95)
    assert p == pytest.approx(2 * 0.73**12, rel=1e-6)
    assert judge(1 - p * 1.001).verdict == "pass"
    assert judge(1 - p / 1.001).verdict == "inconclusive"
    assert decision_p_value(judge, "inconclusive", 0.95) is None


def test_family_wise_run_makes_verdicts_hold_jointly(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyprojecttoml("[tool.igmu_audit]\nfamily_wise = true\n")
    pytester.makepyfile(test_family=AUDITS)
    record = pytester.path / "verdicts.json"
    result = pytester.runpytest(
        f"--igmu-model={tiny_sd_dir}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}", f"--igmu-record={record}", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=3)  # each audit passes on its own
    assert (
        result.ret == 11
    )  # ... but two of them do not hold jointly: the gate is INCONCLUSIVE
    result.stdout.fnmatch_lines(
        [
            "*INCONCLUSIVE*forgotten*test_family.py::test_close_a*(PASS alone; not family-wise at Holm level 0.025)*",
            "family-wise: 3 gating verdict(s) at 0.95 confidence each: the chance that at least one is wrong is at most 0.15*",
            "family_wise: true (Holm at 0.05): 1 of 3 hold jointly, 2 turned INCONCLUSIVE*",
        ]
    )
    data = json.loads(record.read_text())
    joint = data["run"]["family_wise"]
    assert (joint["audits"], joint["held"], joint["undecided"]) == (3, 1, 2)
    assert joint["bonferroni_bound"] == pytest.approx(0.15)
    verdicts = {a["test_id"].split("::")[-1]: a["verdict"] for a in data["audits"]}
    assert verdicts == {
        "test_clear": "pass",
        "test_close_a": "inconclusive",
        "test_close_b": "inconclusive",
    }
    close = next(a for a in data["audits"] if a["test_id"].endswith("test_close_a"))
    assert close["family_wise"]["verdict_alone"] == "pass"
    assert close["p_value"] == pytest.approx(2 * 0.73**12, rel=1e-6)
    assert "no reference" in close["flags"]
