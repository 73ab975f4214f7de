"""The verdict record: identical across xdist modes, atomic, gating, and mergeable across shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.errors import ConfigError
from igmu_audit.record import main as record_main
from igmu_audit.reporting.merge import merge_records
from igmu_audit.reporting.record import SCHEMA, build_record, read_record

AUDITS = {
    "test_a": """
import torch
from igmu_audit import assert_forgotten
def test_leaks(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["p %d" % i for i in range(6)], detector=lambda x: torch.ones(len(x)), max_rate=0.05)
""",
    "test_b": """
import torch
from igmu_audit import assert_forgotten
def test_clean(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["q %d" % i for i in range(6)], detector=lambda x: torch.zeros(len(x)), max_rate=0.5)
def test_undecided_but_allowed(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["r %d" % i for i in range(6)], detector=lambda x: torch.zeros(len(x)),
                     max_rate=0.05, allow_inconclusive=True)
""",
}


def run(
    pytester: pytest.Pytester, model: Path, record: str, *extra: str
) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        f"--igmu-model={model}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}", f"--igmu-record={record}", "-p", "no:cacheprovider", *extra,
    )  # fmt: skip


def stable(record: dict) -> dict:
    """The record without the run block (time, worker count)."""
    return {k: v for k, v in record.items() if k != "run"}


def test_records_are_identical_without_xdist_with_n0_and_n2(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(**AUDITS)
    records = []
    for name, extra in [("plain", ()), ("n0", ("-n", "0")), ("n2", ("-n", "2"))]:
        result = run(pytester, tiny_sd_dir, f"{name}.json", *extra)
        # one real failure, one allowed-inconclusive pass: the gate still fails the run
        result.assert_outcomes(passed=2, failed=1)
        assert result.ret == 10
        result.stdout.fnmatch_lines([f"verdict record: *{name}.json"])
        records.append(read_record(pytester.path / f"{name}.json"))
    assert stable(records[0]) == stable(records[1]) == stable(records[2])
    record = records[0]
    assert record["schema"] == SCHEMA
    assert record["verdict"] == "fail"
    assert record["counts"] == {
        "pass": 1,
        "fail": 1,
        "inconclusive": 1,
        "error": 0,
        "incomplete": 0,
    }
    assert "positive control" not in record["flags"]
    assert record["problems"] == []
    assert [a["test_id"] for a in record["audits"]] == [
        "test_a.py::test_leaks", "test_b.py::test_clean", "test_b.py::test_undecided_but_allowed"
    ]  # fmt: skip
    check = record["audits"][0]["checks"][0]
    assert check["threshold"] == {
        "name": "max_rate",
        "value": 0.05,
        "source": "call argument",
    }
    assert check["interval"]["method"].startswith(("wilson", "clopper-pearson"))
    # every result field reaches the record and evidence.json (schema 3)
    leak = record["audits"][0]
    assert (leak["hits"], leak["images"]) == (12, 12)
    assert [e["prompt"] for e in leak["evidence"]] == [f"p {i}" for i in range(6)]
    evidence = json.loads(
        (pytester.path / leak["evidence_dir"] / "evidence.json").read_text()
    )
    assert (evidence["hits"], evidence["images"]) == (12, 12)
    assert evidence["evidence"] == leak["evidence"]
    assert list(record["models"].values()) == [{"label": "model"}]
    assert records[2]["run"]["workers"] == 2


def test_inconclusive_alone_fails_the_gate(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_b=AUDITS["test_b"])
    result = run(pytester, tiny_sd_dir, "r.json", "-k", "undecided")
    result.assert_outcomes(
        passed=1, deselected=1
    )  # allow_inconclusive lets the test pass...
    assert result.ret == 11  # ...but not the release gate
    result.stdout.fnmatch_lines(
        ["igmu-audit gate: INCONCLUSIVE (exit 11): *1 inconclusive, 0 pass*"]
    )
    assert read_record(pytester.path / "r.json")["verdict"] == "inconclusive"


POSITIVE_CONTROL = """
import pytest, torch
from igmu_audit import AuditFailure, assert_forgotten
def test_original_still_leaks(unlearned_pipeline):
    # the detector sees the concept on a model that was never unlearned: the audit can fail
    with pytest.raises(AuditFailure):
        assert_forgotten(unlearned_pipeline, ["o %d" % i for i in range(6)], detector=lambda x: torch.ones(len(x)), max_rate=0.05)
@pytest.mark.xfail(raises=AuditFailure, reason="known leak, tracked")
def test_known_leak(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["k %d" % i for i in range(6)], detector=lambda x: torch.ones(len(x)), max_rate=0.05)
"""


def test_a_failure_the_test_expects_does_not_gate(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_control=POSITIVE_CONTROL)
    result = run(pytester, tiny_sd_dir, "r.json")
    result.assert_outcomes(passed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*FAIL*test_known_leak  (caught by the test)*",
            "*FAIL*test_original_still_leaks  (caught by the test)*",
            "igmu-audit gate: PASS (exit 0): *2 positive control(s) caught by their tests*",
        ]
    )
    record = read_record(pytester.path / "r.json")
    assert record["verdict"] == "pass"
    assert record["counts"] == {
        "pass": 0,
        "fail": 2,
        "inconclusive": 0,
        "error": 0,
        "incomplete": 0,
    }
    assert record["flags"]["positive control"] == 2
    assert [
        (a["verdict"], a["raised"], "positive control" in a["flags"])
        for a in record["audits"]
    ] == [("fail", True, True)] * 2


SHARDED = {
    "test_a": AUDITS["test_a"]
    + """
def test_leaks_too(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["s %d" % i for i in range(6)], detector=lambda x: torch.ones(len(x)), max_rate=0.05)
""",
    "test_b": AUDITS["test_b"],
}


def test_two_shards_merge_into_the_unsharded_record(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(**SHARDED)
    run(pytester, tiny_sd_dir, "whole.json")
    for k in (1, 2):
        result = run(
            pytester,
            tiny_sd_dir,
            f"shard{k}.json",
            f"--igmu-shard={k}/2",
            f"--alluredir=allure{k}",
        )
        result.stdout.fnmatch_lines(["*deselected*"])
    shards = [read_record(pytester.path / f"shard{k}.json") for k in (1, 2)]
    ids = [{a["test_id"] for a in shard["audits"]} for shard in shards]
    assert ids[0].isdisjoint(ids[1])
    assert ids[1] == {
        "test_a.py::test_leaks_too"
    }  # sha256 of the test id, not collection order
    merged = pytester.path / "merged.json"
    assert (
        record_main(
            [
                "merge",
                str(pytester.path / "shard1.json"),
                str(pytester.path / "shard2.json"),
                "-o",
                str(merged),
            ]
        )
        == 10
    )
    whole, together = read_record(pytester.path / "whole.json"), read_record(merged)
    assert together["audits"] == whole["audits"]
    assert together["verdict"] == whole["verdict"] == "fail"
    assert (
        together["counts"]
        == whole["counts"]
        == {"pass": 1, "fail": 2, "inconclusive": 1, "error": 0, "incomplete": 0}
    )
    for k in (
        1,
        2,
    ):  # each shard's Allure results, for Allure's own merge of result folders
        results = [
            json.loads(f.read_text())
            for f in (pytester.path / f"allure{k}").glob("*-result.json")
        ]
        # plus each shard's own "release gate" entry (issue 16)
        assert {r["name"] for r in results} == {
            i.split("::")[-1] for i in ids[k - 1]
        } | {"release gate"}


def test_bad_shard_option_is_a_usage_error(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_b=AUDITS["test_b"])
    result = run(pytester, tiny_sd_dir, "r.json", "--igmu-shard=3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--igmu-shard '3/2': expected K/N with 1 <= K <= N*"])


def audit(test_id: str, label: str, fingerprint: str, verdict: str = "pass") -> dict:
    return {"test_id": test_id, "order": 0, "verdict": verdict, "assertion": "assert_forgotten", "concept": "c",
            "checks": [], "model": {"label": label, "fingerprint": fingerprint}, "original": None}  # fmt: skip


def test_merge_of_two_shards(tmp_path: Path) -> None:
    one = build_record([audit("t.py::a", "esd", "sha256:aa")])
    two = build_record([audit("t.py::b", "esd", "sha256:aa", "fail")])
    merged = merge_records([("one", one), ("two", two)])
    assert [a["test_id"] for a in merged["audits"]] == ["t.py::a", "t.py::b"]
    assert merged["verdict"] == "fail"
    assert merged["run"]["shards"] == ["one", "two"]


def test_merge_refuses_mixed_fingerprints_and_overlaps() -> None:
    one = build_record([audit("t.py::a", "esd", "sha256:aa")])
    other_weights = build_record([audit("t.py::b", "esd", "sha256:bb")])
    with pytest.raises(
        ConfigError, match=r"model 'esd' is sha256:aa.. in one but sha256:bb.. in two"
    ):
        merge_records([("one", one), ("two", other_weights)])
    with pytest.raises(ConfigError, match=r"'t.py::a' appears in both one and again"):
        merge_records([("one", one), ("again", one)])


def test_merge_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, verdict in [("a", "pass"), ("b", "pass")]:
        (tmp_path / f"{name}.json").write_text(
            json.dumps(build_record([audit(f"t.py::{name}", "m", "sha256:1", verdict)]))
        )
    out = tmp_path / "all.json"
    assert (
        record_main(
            [
                "merge",
                str(tmp_path / "a.json"),
                str(tmp_path / "b.json"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (
        "PASS (2 pass, 0 fail, 0 inconclusive, 0 error, 0 incomplete, 0 positive control(s) caught by their tests) from 2 record(s)"
        in capsys.readouterr().out
    )
    assert read_record(out)["counts"]["pass"] == 2
    (tmp_path / "bad.json").write_text("{}")
    assert record_main(["merge", str(tmp_path / "bad.json"), "-o", str(out)]) == 12
    assert "not an igmu-audit verdict record" in capsys.readouterr().err
