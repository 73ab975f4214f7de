"""Allure compliance output from real pytest runs with ``--alluredir``, parsed from disk.

One real audit run (a pytest subprocess over the tiny pipeline) is shared by the tests
that read its allure-results folder, so the module stays fast; the xdist check
(slow: IGMU_RUN_SLOW=1) and the "not active" check use pytester.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from igmu_audit.config import AuditConfig
from igmu_audit.reporting import allure as igmu_allure
from igmu_audit.reporting.evidence import blur
from igmu_audit.reporting.grid import (
    Tile,
    decisive_tiles,
    load_pixels,
    render_grid,
    thumbnail,
    tile_box,
)
from igmu_audit.results import PromptEvidence

AUDIT = """
import allure
import pytest
from igmu_audit import assert_forgotten, assert_robust_to

def bright(images):
    return 0.5 + 0.5 * images.mean(dim=(1, 2, 3))

def dark(images):
    return 0.4 * images.mean(dim=(1, 2, 3))

PROMPTS = ["a prompt %d" % i for i in range(6)]

@pytest.mark.igmu(task="concept")
def test_nudity_leaks(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=bright, concept="nudity", max_rate=0.05)

@pytest.mark.igmu(task="style", concept="vangogh")
def test_style_clean(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=dark, max_rate=0.5)

def test_cats_leak(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=bright, concept="cats", max_rate=0.05)

@allure.severity(allure.severity_level.MINOR)
@pytest.mark.igmu(task="identity", concept="someone")
def test_two_aspects(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=dark, max_rate=0.5)
    assert_robust_to(unlearned_pipeline, PROMPTS, detector=dark, max_rate=0.5)

def test_no_audit():
    pass
"""

COMMON = [
    "--igmu-device=cpu",
    "--igmu-seeds=0-1",
    "--igmu-steps=2",
    "-p",
    "no:cacheprovider",
]


def load_results(alluredir: Path) -> dict[str, dict[str, Any]]:
    """Every test result in an allure-results folder, by test name."""
    found = {}
    for path in alluredir.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["name"]] = data
    return found


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def attachment(alluredir: Path, result: dict[str, Any], name: str) -> Path:
    (entry,) = [a for a in result["attachments"] if a["name"] == name]
    return alluredir / entry["source"]


def read_properties(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    )
    return dict(pairs)


def variation(pixels: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: detail that blurring removes."""
    p = pixels.astype(np.float64)
    return float(np.abs(np.diff(p, axis=0)).mean() + np.abs(np.diff(p, axis=1)).mean())


@pytest.fixture(scope="module")
def allure_run(
    tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """One real ``pytest --alluredir`` run of AUDIT (a fresh process, like CI)."""
    root = tmp_path_factory.mktemp("allure-run")
    (root / "test_audit.py").write_text(AUDIT, encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[tool.igmu_audit]\ntask = "object"\n', encoding="utf-8"
    )
    command = [sys.executable, "-m", "pytest", "test_audit.py", f"--igmu-model={tiny_sd_dir}",
               f"--igmu-cache-dir={root / 'cache'}", "--alluredir=allure-results", *COMMON]  # fmt: skip
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert "2 failed, 3 passed" in done.stdout, done.stdout + done.stderr
    return root / "allure-results", done.stdout


@pytest.fixture(scope="module")
def results(allure_run: tuple[Path, str]) -> dict[str, dict[str, Any]]:
    return load_results(allure_run[0])


def test_labels_place_each_audit_in_the_taxonomy(
    results: dict[str, dict[str, Any]],
) -> None:
    leak = results["test_nudity_leaks"]
    assert leak["status"] == "failed"
    assert labels(leak, "epic") == ["concept"]
    assert labels(leak, "feature") == ["forgetting"]
    assert labels(leak, "story") == ["nudity"]
    assert labels(leak, "severity") == ["critical"]
    assert "verdict:fail" in labels(leak, "tag")
    clean = results["test_style_clean"]
    assert (
        labels(clean, "epic"),
        labels(clean, "story"),
        labels(clean, "severity"),
    ) == (["style"], ["vangogh"], ["normal"])
    # no marker task: the config's task (pyproject) is the epic
    assert labels(results["test_cats_leak"], "epic") == ["object"]


def test_a_test_with_two_audits_gets_both_aspects_and_keeps_its_own_severity(
    results: dict[str, dict[str, Any]],
) -> None:
    both = results["test_two_aspects"]
    assert labels(both, "feature") == ["forgetting", "robustness"]
    assert labels(both, "severity") == [
        "minor"
    ]  # @allure.severity wins over the identity default
    names = {p["name"] for p in both["parameters"]}
    assert {"1. forgetting max_rate", "2. robustness max_rate"} <= names
    # per audit: the worst-images grid and the interval plot
    assert sum(a["type"] == "image/png" for a in both["attachments"]) == 4


def test_parameters_carry_thresholds_with_source_seeds_detector_and_fingerprints(
    results: dict[str, dict[str, Any]], tiny_sd_dir: Path
) -> None:
    params = {p["name"]: p for p in results["test_nudity_leaks"]["parameters"]}
    # values as written: no quotes from repr() (issue 16)
    assert params["max_rate"]["value"] == "0.05 (from call argument)"
    assert params["seeds"]["value"] == "0-1"
    assert params["detector"]["value"] == "custom"
    assert "sha256:" in params["model"]["value"]
    assert all(
        p["excluded"] for p in params.values()
    )  # a changed threshold keeps the test's history


@pytest.mark.parametrize("test", ["test_nudity_leaks", "test_style_clean"])
def test_fails_and_passes_carry_the_same_evidence(
    allure_run: tuple[Path, str], results: dict[str, dict[str, Any]], test: str
) -> None:
    alluredir = allure_run[0]
    result = results[test]
    types = {a["name"]: a["type"] for a in result["attachments"]}
    assert types == {"worst images": "image/png", "interval plot": "image/png", "per-prompt scores": "text/csv",
                     "result": "application/json", "explanation": "text/plain"} | ({"stderr": "text/plain"} if "stderr" in types else {})  # fmt: skip
    with attachment(alluredir, result, "worst images").open("rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    rows = list(
        csv.DictReader(
            io.StringIO(
                attachment(alluredir, result, "per-prompt scores").read_text(
                    encoding="utf-8"
                )
            )
        )
    )
    assert len(rows) == 6 * 2
    assert set(rows[0]) == {
        "prompt_index",
        "prompt",
        "seed",
        "score",
        "present",
        "image",
    }
    record = json.loads(
        attachment(alluredir, result, "result").read_text(encoding="utf-8")
    )
    assert record["test_id"] == f"test_audit.py::{test}"
    assert len(record["evidence"]) == 6
    text = attachment(alluredir, result, "explanation").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("assert_forgotten: ")
    assert "threshold   max_rate" in text


def test_the_sensitive_grid_is_blurred(
    allure_run: tuple[Path, str], results: dict[str, dict[str, Any]]
) -> None:
    # same prompts, seeds and detector: the 'cats' grid holds the same images unblurred
    alluredir = allure_run[0]
    sensitive = load_pixels(
        str(attachment(alluredir, results["test_nudity_leaks"], "worst images"))
    )
    plain = load_pixels(
        str(attachment(alluredir, results["test_cats_leak"], "worst images"))
    )
    assert sensitive.shape == plain.shape
    for i in range(igmu_allure.GRID_IMAGES):
        left, top, right, bottom = tile_box(i, count=igmu_allure.GRID_IMAGES)
        blurred_tile, plain_tile = (
            sensitive[top:bottom, left:right],
            plain[top:bottom, left:right],
        )
        assert np.abs(blurred_tile.astype(int) - plain_tile.astype(int)).mean() > 5
        assert variation(blurred_tile) < 0.3 * variation(plain_tile)


def test_environment_properties_name_models_libraries_and_device(
    allure_run: tuple[Path, str],
) -> None:
    alluredir = allure_run[0]
    env = read_properties(alluredir / "environment.properties")
    record = next(  # an audit's result (the release gate attaches the whole record)
        r
        for p in alluredir.glob("*-attachment.json")
        if "model" in (r := json.loads(p.read_text(encoding="utf-8")))
    )
    assert env[f"model.{record['model']['label']}"] == record["model"]["fingerprint"]
    assert env["igmu-audit"] == version("igmu-audit")
    assert env["torch"] == version("torch")
    assert env["diffusers"] == version("diffusers")
    assert env["transformers"] == version("transformers")
    assert env["device"] == "cpu"


def test_tests_without_audits_get_nothing(results: dict[str, dict[str, Any]]) -> None:
    plain = results["test_no_audit"]
    assert labels(plain, "epic") == []
    assert labels(plain, "severity") == []
    assert plain.get("attachments", []) == []


def test_without_alluredir_nothing_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_x(request):\n"
        "    assert not request.config.pluginmanager.has_plugin('igmu-audit-allure')\n"
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.slow  # a second full process start (~30 s on 2 shared cores)
def test_xdist_workers_attach_and_the_controller_writes_the_environment(
    pytester: pytest.Pytester, tiny_sd_dir: Path, allure_run: tuple[Path, str]
) -> None:
    pytester.makepyfile(test_audit=AUDIT)
    out = pytester.path / "allure-results"
    cache = (
        allure_run[0].parent / "cache"
    )  # the shared run's images: no generation here
    run = pytester.runpytest_subprocess(f"--igmu-model={tiny_sd_dir}", f"--igmu-cache-dir={cache}", f"--alluredir={out}",
                                        "-n", "1", "-k", "nudity or style or no_audit", *COMMON)  # fmt: skip
    run.assert_outcomes(passed=2, failed=1)
    found = load_results(out)
    assert all(
        len(found[name]["attachments"]) >= 4
        for name in ("test_nudity_leaks", "test_style_clean")
    )
    env = read_properties(out / "environment.properties")
    assert env["device"] == "cpu"
    assert sum(key.startswith("model.") for key in env) == 1


def test_default_severity_and_category_without_a_task() -> None:
    config = AuditConfig()
    assert igmu_allure.task_category({}, config) == "unspecified"
    assert igmu_allure.severity_for("unspecified", {}, config) == "normal"
    assert igmu_allure.severity_for("identity", {}, config) == "critical"
    assert (
        igmu_allure.severity_for("style", {"severity": "Blocker"}, config) == "blocker"
    )
    with pytest.raises(ValueError, match="severity must be one of"):
        igmu_allure.severity_for("style", {"severity": "urgent"}, config)


def test_seeds_are_written_as_the_option_spells_them() -> None:
    assert igmu_allure.seeds_text((0, 1, 2, 3, 7, 9, 10)) == "0-3,7,9-10"


def test_environment_keys_are_escaped_and_runs_into_one_folder_merge(
    tmp_path: Path,
) -> None:
    first = [
        {
            "model": {"label": "esd nudity:v1", "fingerprint": "sha256:ab"},
            "original": None,
        }
    ]
    path = igmu_allure.write_environment(tmp_path, first, ["cuda:0 (H100)"])
    text = path.read_text(encoding="utf-8")
    assert "model.esd\\ nudity\\:v1=sha256:ab\n" in text
    assert "device=cuda:0 (H100)\n" in text
    # a second spec's run into the same allure-results keeps the first model and device
    second = [
        {
            "model": {"label": "uce", "fingerprint": "sha256:cd"},
            "original": {"label": "sd", "fingerprint": "sha256:ef"},
        }
    ]
    env = igmu_allure.read_environment(
        igmu_allure.write_environment(tmp_path, second, ["cpu"])
    )
    assert env["model.esd nudity:v1"] == "sha256:ab"
    assert (env["model.uce"], env["original.sd"]) == ("sha256:cd", "sha256:ef")
    assert env["device"] == "cpu, cuda:0 (H100)"


def test_grid_thumbnails_are_the_blurred_pixels_and_worst_comes_first(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    from PIL import Image

    paths = []
    for seed in range(3):
        path = tmp_path / f"p00-s{seed}.png"
        Image.fromarray(np.roll(pixels, seed * 7, axis=0)).save(path)
        paths.append(str(path))
    evidence = [
        PromptEvidence(
            0, "p", (0, 1, 2), (0.2, 0.9, 0.6), (False, True, True), tuple(paths)
        )
    ]
    tiles = decisive_tiles(evidence, limit=2)
    assert tiles == [
        Tile(paths[1], "p00 s1 0.90", True),
        Tile(paths[2], "p00 s2 0.60", True),
    ]
    grid = load_pixels_from_bytes(render_grid(tiles, sensitive=True))
    left, top, right, bottom = tile_box(0, count=2)
    expected = thumbnail(
        np.asarray(Image.open(paths[1]).convert("RGB")), sensitive=True
    )
    assert np.array_equal(grid[top:bottom, left:right], expected)
    unblurred = thumbnail(
        np.asarray(Image.open(paths[1]).convert("RGB")), sensitive=False
    )
    assert variation(expected) < 0.3 * variation(unblurred)
    assert np.array_equal(
        thumbnail(blur(pixels), sensitive=False), thumbnail(pixels, sensitive=True)
    )


def load_pixels_from_bytes(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
