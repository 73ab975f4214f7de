"""The plugin end to end with pytester: options, fixtures, skips, errors, failure text, summary."""

from __future__ import annotations

from pathlib import Path

import pytest

AUDIT = """
import torch
from igmu_audit import assert_forgotten

def always(images):
    return torch.ones(len(images))

def never(images):
    return torch.zeros(len(images))

PROMPTS = ["a prompt %d" % i for i in range(6)]

def test_fixtures(unlearned_pipeline, igmu_config, dataigm, igmu_device):
    assert unlearned_pipeline.fingerprint.startswith("sha256:")
    assert igmu_device == "cpu"
    assert igmu_config.source_of("model") == "command line"
    assert "nudity" in dataigm

def test_leaks(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=always, concept="nudity", max_rate=0.05)

def test_clean(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=never, concept="nudity", max_rate=0.5)
"""


@pytest.fixture
def audit_args(tiny_sd_dir: Path, pytester: pytest.Pytester) -> list[str]:
    return [
        f"--igmu-model={tiny_sd_dir}",
        "--igmu-device=cpu",
        "--igmu-seeds=0-1",
        "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}",
        "-p", "no:cacheprovider",
    ]  # fmt: skip


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "igmu-audit: audits of unlearned text-to-image models:",
            "*--igmu-spec=YAML*",
            "*--igmu-model=PATH*",
            "*--igmu-no-cache*",
            "*igmu_device* (string)*",
        ]
    )


def test_unconfigured_model_is_skipped_with_the_option_to_set(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "def test_x(unlearned_pipeline, original_pipeline):\n    pass\n"
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*igmu-audit: no unlearned model configured; set --igmu-model PATH*"]
    )


def test_config_errors_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.igmu_audit]\nsteps = 0\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*igmu-audit: pyproject.toml [[]tool.igmu_audit[]] steps: expected an integer in [[]1, 10000[]] * but got 0*"
        ]
    )


def test_marker_keywords_are_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n@pytest.mark.igmu(max_rte=0.1)\ndef test_x():\n    pass\n"
    )
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.igmu(max_rte=...): unknown keyword; did you mean 'max_rate'?*"]
    )


def test_audit_run_reports_failures_like_pytest(
    pytester: pytest.Pytester, audit_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the short summary shows the whole first line
    pytester.makepyfile(test_audit=AUDIT)
    result = pytester.runpytest_subprocess(*audit_args, "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "igmu-audit 0.1.0: model=*tiny-sd*/model devices=cpu cache_dir=cache seeds=0,1 steps=2",
            "*FAILED test_audit.py::test_leaks - igmu_audit.AuditFailure: assert_forgotten: 'nudity' FAIL: rate 1.000 [[]0.541, 1.000[]] > 0.050; no reference model (prompts not checked on an original)",
        ]
    )
    result.stdout.re_match_lines(
        [
            r"=+ igmu-audit verdicts =+",
            r"  FAIL +forgotten  nudity .* test_audit.py::test_leaks",
        ]
    )
    # the evidence section travels with the report (and into Allure / junit later)
    result.stdout.fnmatch_lines(
        ["*- igmu-audit -*", "*threshold   max_rate 0.050   from call argument*"]
    )


def test_xdist_gives_the_same_verdicts_printed_once(
    pytester: pytest.Pytester, audit_args: list[str]
) -> None:
    pytester.makepyfile(test_audit=AUDIT)
    serial = pytester.runpytest_subprocess(*audit_args)
    parallel = pytester.runpytest_subprocess(*audit_args, "-n", "2")
    serial.assert_outcomes(passed=2, failed=1)
    parallel.assert_outcomes(passed=2, failed=1)

    def verdicts(result: pytest.RunResult) -> list[str]:
        return sorted(
            line
            for line in result.outlines
            if line.startswith(("  PASS", "  FAIL", "  INCONCLUSIVE"))
        )

    assert verdicts(serial) == verdicts(parallel)
    assert len(verdicts(parallel)) == 2
    assert sum("igmu-audit verdicts" in line for line in parallel.outlines) == 1


def test_ci_loads_the_derandomised_hypothesis_profile(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        "from hypothesis import settings\n"
        "def test_profile():\n"
        "    assert settings.default.derandomize\n"
        "    assert settings.default.database is None\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_shipped_example_collects_and_skips_without_a_model(
    pytester: pytest.Pytester,
) -> None:
    from igmu_audit._paths import fixtures_dir

    example = fixtures_dir().parent / "examples" / "test_my_model.py"
    pytester.makepyfile(test_example=example.read_text(encoding="utf-8"))
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["*no unlearned model configured*"])
