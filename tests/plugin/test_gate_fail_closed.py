"""The release gate fails closed (issue 12): what a PASS rules out, end to end with pytester.

Each run is in-process (``pytester.runpytest``) and cheap: most need no model at all,
the few that generate use the tiny pipeline with two seeds and two steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from igmu_audit.record import main as record_main
from igmu_audit.reporting.record import build_record, read_record, write_record

# In-process pytester runs drop the modules they imported afterwards, and torch cannot
# be imported twice: load the tiny pipeline (torch, diffusers, transformers) up front.
pytestmark = pytest.mark.usefixtures("tiny_model")

AUDIT_HEADER = """
import json, pytest, torch
from igmu_audit import AuditFailure, assert_forgotten
from igmu_audit.applicability import not_applicable
PROMPTS = ["q %d" % i for i in range(6)]
def clean(pipe):
    return assert_forgotten(pipe, PROMPTS, detector=lambda x: torch.zeros(len(x)), max_rate=0.5)
"""

MIXED = (
    AUDIT_HEADER
    + """
def test_0_record_says_incomplete_while_the_run_is_going():
    from pathlib import Path
    record = json.loads(Path("r.json").read_text(encoding="utf-8"))
    assert record["verdict"] == "incomplete" and record["exit_status"] == 12
    assert record["run"]["finished"] is False and record["run"]["collected"] == 6
def test_raises_before_recording(unlearned_pipeline):
    raise RuntimeError("boom before any verdict")
def test_skipped(unlearned_pipeline):
    pytest.skip("no time today")
def test_passes_without_a_verdict(unlearned_pipeline):
    assert unlearned_pipeline is not None
def test_not_for_this_model(unlearned_pipeline):
    not_applicable("needs task: concept")
def test_clean(unlearned_pipeline):
    clean(unlearned_pipeline)
"""
)


def model_args(model: Path, pytester: pytest.Pytester) -> list[str]:
    return [
        f"--igmu-model={model}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}", "-p", "no:cacheprovider",
    ]  # fmt: skip


def by_test(record: dict) -> dict[str, tuple[str, str]]:
    return {
        p["test_id"].split("::")[-1]: (p["verdict"], p["phase"])
        for p in record["problems"]
    }


def test_nonexistent_model_is_an_error_record_and_merge_refuses_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_a=AUDIT_HEADER
        + "def test_one(unlearned_pipeline):\n    clean(unlearned_pipeline)\n"
        "def test_two(unlearned_pipeline):\n    clean(unlearned_pipeline)\n"
    )
    result = pytester.runpytest(
        "--igmu-model=does/not/exist", "--igmu-record=r.json", "-p", "no:cacheprovider"
    )
    # issue 16: a missing model is one usage error at session start, before any test runs
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    record = read_record(pytester.path / "r.json")
    assert record["verdict"] == "error"
    assert record["audits"] == []
    assert "does/not/exist' does not exist" in record["problems"][0]["reason"]
    result.stderr.fnmatch_lines(
        ["*`model:` (set by command line) path *does/not/exist' does not exist*"]
    )
    out = pytester.path / "merged.json"
    assert record_main(["merge", str(pytester.path / "r.json"), "-o", str(out)]) == 12
    assert read_record(out)["verdict"] == "error"


def test_every_audit_test_is_accounted_for(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest(
        *model_args(tiny_sd_dir, pytester), "--igmu-record=r.json"
    )
    result.assert_outcomes(passed=3, failed=1, skipped=2)
    assert result.ret == 12
    record = read_record(pytester.path / "r.json")
    assert record["verdict"] == "error"
    assert record["run"]["finished"] is True
    assert record["run"]["collected"] == 6
    assert [a["test_id"] for a in record["audits"]] == ["test_mixed.py::test_clean"]
    assert by_test(record) == {
        "test_raises_before_recording": ("error", "call"),
        "test_skipped": ("incomplete", "call"),
        "test_passes_without_a_verdict": ("incomplete", "call"),
    }
    raised = next(p for p in record["problems"] if p["verdict"] == "error")
    assert raised["exception"] == {
        "type": "RuntimeError",
        "message": "boom before any verdict",
    }
    assert record["not_applicable"] == [
        {"test_id": "test_mixed.py::test_not_for_this_model", "reason": "needs task: concept"}
    ]  # fmt: skip
    assert record["counts"] == {
        "pass": 1,
        "inconclusive": 0,
        "fail": 0,
        "incomplete": 2,
        "error": 1,
    }
    result.stdout.fnmatch_lines(
        [
            "*PASS *forgotten*test_mixed.py::test_clean*",
            "  ERROR       call     test_mixed.py::test_raises_before_recording  raised in call*RuntimeError: boom*",
            "  INCOMPLETE  call     test_mixed.py::test_skipped  skipped without recording a verdict: no time today",
            "  N/A         test_mixed.py::test_not_for_this_model  needs task: concept",
            "igmu-audit gate: ERROR (exit 12)*",
        ]
    )  # fmt: skip


def test_a_good_run_passes_with_exit_0_and_positive_controls_do_not_gate(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(
        test_good=AUDIT_HEADER
        + """
def test_clean(unlearned_pipeline):
    clean(unlearned_pipeline)
def test_control(unlearned_pipeline):
    with pytest.raises(AuditFailure):
        assert_forgotten(unlearned_pipeline, PROMPTS, detector=lambda x: torch.ones(len(x)), max_rate=0.05)
def test_plain_helper():
    assert True
"""
    )
    result = pytester.runpytest(
        *model_args(tiny_sd_dir, pytester), "--igmu-record=r.json"
    )
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    record = read_record(pytester.path / "r.json")
    assert (record["verdict"], record["problems"]) == ("pass", [])
    assert record["flags"]["positive control"] == 1
    result.stdout.fnmatch_lines(
        ["igmu-audit gate: PASS (exit 0)*1 positive control(s)*"]
    )


def test_zero_audits_is_never_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("--igmu-record=r.json", "-p", "no:cacheprovider")
    assert result.ret == 12
    record = read_record(pytester.path / "r.json")
    assert (record["verdict"], record["audits"]) == ("incomplete", [])


def test_a_plain_run_that_audits_nothing_keeps_pytest_exit_status(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_ok():\n    pass\ndef test_bad():\n    assert 0\n")
    assert pytester.runpytest("-p", "no:cacheprovider", "-k", "ok").ret == 0
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    assert "igmu-audit gate" not in result.stdout.str()


def test_a_run_stopped_early_is_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.igmu\ndef test_a():\n    raise ValueError('first')\n"
        "@pytest.mark.igmu\ndef test_b():\n    pass\n"
    )
    result = pytester.runpytest("-x", "--igmu-record=r.json", "-p", "no:cacheprovider")
    assert result.ret == 12
    assert by_test(read_record(pytester.path / "r.json")) == {
        "test_a": ("error", "call"),
        "test_b": ("incomplete", "none"),
    }


def test_a_collection_error_in_an_audit_run_is_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_broken="import no_such_module_anywhere\n")
    pytester.makepyfile(test_fine="def test_plain():\n    pass\n")
    result = pytester.runpytest("--igmu-record=r.json", "-p", "no:cacheprovider")
    assert result.ret == 12
    problems = read_record(pytester.path / "r.json")["problems"]
    [broken] = [p for p in problems if p["test_id"]]
    assert (broken["test_id"], broken["verdict"], broken["phase"]) == (
        "test_broken.py", "error", "collect"
    )  # fmt: skip
    assert "no_such_module_anywhere" in broken["reason"]


def test_a_crashed_xdist_worker_is_an_error_entry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="import os, pytest\n@pytest.mark.igmu\ndef test_crash():\n    os._exit(3)\n"
    )
    result = pytester.runpytest_subprocess(
        "-n",
        "1",
        "--max-worker-restart=0",
        "--igmu-record=r.json",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 12
    record = read_record(pytester.path / "r.json")
    [entry] = record["problems"]
    assert (entry["test_id"], entry["verdict"]) == (
        "test_crash.py::test_crash",
        "error",
    )
    assert "crash" in entry["reason"]


def test_a_config_error_replaces_an_older_pass_record(
    pytester: pytest.Pytester,
) -> None:
    old = build_record([], [])
    old["verdict"] = "pass"  # an older PASS a careless gate could pick up
    (pytester.path / "r.json").write_text(json.dumps(old))
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(
        "--igmu-record=r.json", "--igmu-seeds=zero", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    record = read_record(pytester.path / "r.json")
    assert record["verdict"] == "error"
    assert (
        "--igmu-seeds" in record["problems"][0]["reason"]
        or "seeds" in record["problems"][0]["reason"]
    )


@pytest.mark.parametrize(
    ("option", "setting"),
    [
        ("--igmu-record=blocker/r.json", "--igmu-record"),
        ("--igmu-evidence-dir=blocker/evidence", "--igmu-evidence-dir"),
        ("--igmu-cache-dir=blocker/cache", "--igmu-cache-dir"),
        ("--alluredir=blocker/allure", "--alluredir"),
    ],
)
def test_an_unwritable_output_is_a_usage_error_before_any_generation(
    pytester: pytest.Pytester, option: str, setting: str, tiny_sd_dir: Path
) -> None:
    (pytester.path / "blocker").write_text("a file where a folder should be")
    pytester.makepyfile(test_plain="def test_plain(unlearned_pipeline):\n    pass\n")
    result = pytester.runpytest(  # an existing model: a missing one is refused first (issue 16)
        f"--igmu-model={tiny_sd_dir}", "-p", "no:cacheprovider", option
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*igmu-audit: cannot write the * to {pytester.path}/blocker/* ({setting}*: {pytester.path}/blocker is a file, not a folder; fix: *"]
    )  # fmt: skip
    assert sorted(p.name for p in pytester.path.iterdir()) == [
        "blocker",
        "test_plain.py",
    ]


def shard(k: int, n: int, test: str, verdict: str = "pass") -> dict:
    audit = {"test_id": test, "order": 0, "verdict": verdict, "assertion": "assert_forgotten",
             "concept": "c", "checks": [], "model": {"label": "m", "fingerprint": "sha256:1"},
             "original": None}  # fmt: skip
    return build_record([audit], run={"shard": {"index": k, "total": n}})


def test_merge_of_shards_missing_one_is_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in (1, 3):
        write_record(tmp_path / f"s{k}.json", shard(k, 3, f"t.py::t{k}"))
    out = tmp_path / "all.json"
    files = [str(tmp_path / "s1.json"), str(tmp_path / "s3.json")]
    assert record_main(["merge", *files, "-o", str(out)]) == 12
    err = capsys.readouterr().err
    assert "shard(s) 2/3 missing" in err
    assert "igmu-audit gate: INCOMPLETE (exit 12)" in err
    assert read_record(out)["verdict"] == "incomplete"
    write_record(tmp_path / "s2.json", shard(2, 3, "t.py::t2"))
    assert (
        record_main(["merge", *files, str(tmp_path / "s2.json"), "-o", str(out)]) == 0
    )
    assert read_record(out)["counts"]["pass"] == 3


def test_merge_of_no_records_is_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all.json"
    assert record_main(["merge", "-o", str(out)]) == 12
    assert "no verdict records to merge" in capsys.readouterr().err
    assert read_record(out)["verdict"] == "incomplete"


def test_merge_refuses_a_record_of_another_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(tmp_path / "new.json", shard(1, 2, "t.py::a"))
    old = {**shard(2, 2, "t.py::b"), "schema": "igmu-audit/verdict-record/2"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    out = tmp_path / "all.json"
    code = record_main(
        [
            "merge",
            str(tmp_path / "new.json"),
            str(tmp_path / "old.json"),
            "-o",
            str(out),
        ]
    )
    assert code == 12
    err = capsys.readouterr().err
    assert f"{tmp_path / 'old.json'}: schema 'igmu-audit/verdict-record/2'" in err
    assert "different schema versions cannot be merged" in err


def test_merge_command_imports_neither_torch_nor_numpy(tmp_path: Path) -> None:
    write_record(tmp_path / "a.json", shard(1, 1, "t.py::a"))
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['x', 'merge', {str(tmp_path / 'a.json')!r}, '-o', {str(tmp_path / 'o.json')!r}]\n"
        "try:\n    runpy.run_module('igmu_audit.record', run_name='__main__')\n"
        "except SystemExit as exc:\n    print('exit', exc.code)\n"
        "print(sorted(m for m in ('torch', 'numpy', 'diffusers', 'PIL') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-2:] == ["exit 0", "[]"]
