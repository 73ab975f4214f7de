"""Early, single errors: a bad input is one line at session start; a load error shows once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FOUR = """
def test_a(unlearned_pipeline): pass
def test_b(unlearned_pipeline): pass
def test_c(unlearned_pipeline): pass
def test_d(unlearned_pipeline): pass
"""


@pytest.fixture(autouse=True)
def _torch_first() -> None:
    """Import torch in this process first: in-process runs must not import it afresh."""
    import diffusers  # noqa: F401


def test_missing_base_model_is_one_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile(test_audit=FOUR)
    result = pytester.runpytest("--igmu-model=ckpt/esd-nudity", "--igmu-record=verdicts.json",
                                "-p", "no:cacheprovider")  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("'ckpt/esd-nudity' does not exist") == 1, err
    assert "--igmu-model PATH" in err
    assert "Traceback" not in err + result.stdout.str()
    assert len(err.strip().splitlines()) <= 3, err
    record = json.loads((pytester.path / "verdicts.json").read_text())
    assert record["verdict"] == "error"


def test_a_load_error_is_shown_once_then_referenced(pytester: pytest.Pytester) -> None:
    broken = pytester.path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionPipeline"}'
    )
    pytester.makepyfile(test_audit=FOUR)
    result = pytester.runpytest(
        f"--igmu-model={broken}", "--igmu-device=cpu", "-p", "no:cacheprovider"
    )
    out = result.stdout.str()
    result.assert_outcomes(errors=4)
    shown = [
        line
        for line in out.splitlines()
        if line.startswith("igmu-audit: cannot load the unlearned model")
    ]
    assert len(shown) == 1, out
    assert "diffusers could not load this folder" in shown[0]
    assert "The above exception was the direct cause" not in out
    result.stdout.fnmatch_lines(
        ["*igmu-audit: the unlearned model (`model:` / --igmu-model) failed to load (*); "
         "the error is shown once, at test_audit.py::test_a"]
    )  # fmt: skip
    assert out.count("the error is shown once, at test_audit.py::test_a") >= 3
    assert "Traceback" not in out


def test_unknown_detector_is_named_at_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_audit="def test_x(igmu_detector): pass\n")
    result = pytester.runpytest("--igmu-detector=nudnet", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*`detector:` (set by command line) unknown detector 'nudnet'; did you mean 'nudenet'*"
        ]
    )


def test_hub_ids_and_named_models_are_left_to_the_loader(
    pytester: pytest.Pytester, tiny_sd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(
        "HF_HUB_OFFLINE", raising=False
    )  # online: the loader asks the hub
    pytester.makepyfile(test_audit="def test_x(): pass\n")
    result = pytester.runpytest(
        f"--igmu-model={tiny_sd_dir}",
        "--igmu-original=org/some-model",
        "--igmu-detector=toyworld",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret != pytest.ExitCode.USAGE_ERROR, result.stderr.str()


def test_help_and_collect_only_still_work_with_a_missing_model(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_audit=FOUR)
    for option in ("--help", "--collect-only"):
        result = pytester.runpytest(
            "--igmu-model=ckpt/missing", option, "-p", "no:cacheprovider"
        )
        assert result.ret != pytest.ExitCode.USAGE_ERROR, (option, result.stderr.str())
