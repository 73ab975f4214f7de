"""An Allure report a reviewer reads right, parsed from a real run's allure-results.

One real ``pytest --alluredir`` run (a fresh process, like CI) over the tiny pipeline
holds a pass, a leak, an inconclusive audit, an errored audit, a caught positive control
and a preservation audit; each test below reads what Allure will show for one of them.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.reporting import plots

AUDIT = """
import pytest
from igmu_audit import AuditFailure, assert_forgotten, assert_preserved
from igmu_audit.detectors import CustomDetector

def bright(images):
    return 0.5 + 0.5 * images.mean(dim=(1, 2, 3))

def dark(images):
    return 0.1 * images.mean(dim=(1, 2, 3))

PROMPTS = ["a prompt %d" % i for i in range(6)]

def test_leaks(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=bright, concept="cats", max_rate=0.05)

def test_undecided(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS[:3], detector=dark, concept="dogs", max_rate=0.5)

def test_errored(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=dark, concept="x", max_rate=2.0)

def test_control(unlearned_pipeline):
    with pytest.raises(AuditFailure):
        assert_forgotten(unlearned_pipeline, PROMPTS, detector=bright, concept="cats", max_rate=0.05)

def test_preserved(unlearned_pipeline, original_pipeline):
    prompts = {"red": PROMPTS[:2], "blue": PROMPTS[2:4]}
    assert_preserved(unlearned_pipeline, original_pipeline, prompts,
                     detector=lambda c: CustomDetector(bright, name=c), max_accuracy_drop=0.5)

@pytest.fixture
def opened():
    yield 1

def test_plain_fixture(opened):
    assert opened == 1
"""


@pytest.fixture(scope="module")
def run(
    tiny_sd_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("allure-verdicts")
    (root / "test_audit.py").write_text(AUDIT, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "test_audit.py", f"--igmu-model={tiny_sd_dir}",
               f"--igmu-original={tiny_sd_dir}", f"--igmu-cache-dir={root / 'cache'}", "--alluredir=allure-results",
               "--igmu-record=verdicts.json", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
               "-p", "no:cacheprovider"]  # fmt: skip
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert "verdict record" in done.stdout, done.stdout + done.stderr
    return root, done.stdout


def results(root: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in (root / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["name"]] = data
    return found


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


def test_verdict_labels_and_statuses(run: tuple[Path, str]) -> None:
    found = results(run[0])
    assert (
        found["test_leaks"]["status"],
        labels(found["test_leaks"], "igmu_verdict"),
    ) == ("failed", ["fail"])
    undecided = found["test_undecided"]
    assert undecided["status"] == "broken"
    assert labels(undecided, "igmu_verdict") == ["inconclusive"]
    assert "inconclusive" in labels(undecided, "tag")
    errored = found["test_errored"]
    assert errored["status"] == "broken"
    assert labels(errored, "igmu_verdict") == ["error"]
    control = found["test_control"]
    assert control["status"] == "passed"
    assert labels(control, "igmu_control") == ["positive control (expected to fail)"]
    assert labels(control, "igmu_verdict") == ["fail"]
    assert labels(found["test_plain_fixture"], "igmu_verdict") == []


def test_release_gate_entry(run: tuple[Path, str]) -> None:
    root = run[0]
    gate = results(root)["release gate"]
    record = json.loads((root / "verdicts.json").read_text())
    assert record["verdict"] == "error"  # test_errored produced no verdict
    assert gate["status"] == "broken"
    assert labels(gate, "igmu_verdict") == ["error"]
    params = {p["name"]: p["value"] for p in gate["parameters"]}
    assert params["fail audits"] == str(record["counts"]["fail"])
    assert params["inconclusive audits"] == "1"
    fingerprint = record["audits"][0]["model"]["fingerprint"]
    assert fingerprint in params.values()
    assert gate["statusDetails"]["message"].startswith(
        "igmu-audit gate: ERROR (exit 12)"
    )
    names = {
        a["name"]: root / "allure-results" / a["source"] for a in gate["attachments"]
    }
    assert json.loads(names["verdict record"].read_text())["verdict"] == "error"
    assert names["verdict matrix"].read_bytes().startswith(b"\x89PNG")
    assert not list((root / "allure-results").glob("*.tmp*"))


def test_no_stray_quotes_and_no_lambda_steps(run: tuple[Path, str]) -> None:
    root = run[0]
    for result in results(root).values():
        for param in result.get("parameters", []):
            assert not param["value"].startswith("'"), param
    steps = []
    for path in (root / "allure-results").glob("*-container.json"):
        data = json.loads(path.read_text())
        steps += [after["name"] for after in data.get("afters", [])]
    assert steps, "the yield fixture's teardown is a step"
    assert not [s for s in steps if "<lambda>" in s], steps
    assert "opened::teardown" in steps


def test_relative_evidence_paths_and_interval_plot(run: tuple[Path, str]) -> None:
    root = run[0]
    leaks = results(root)["test_leaks"]
    by_name = {
        a["name"]: root / "allure-results" / a["source"] for a in leaks["attachments"]
    }
    rows = list(csv.DictReader(io.StringIO(by_name["per-prompt scores"].read_text())))
    assert rows
    assert all(row["image"] and not Path(row["image"]).is_absolute() for row in rows)
    assert all((root / row["image"]).is_file() for row in rows)
    assert by_name["interval plot"].read_bytes().startswith(b"\x89PNG")
    evidence = json.loads(by_name["result"].read_text())["evidence"]
    paths = [image["path"] for entry in evidence for image in entry["images"]]
    assert paths
    assert all(not Path(p).is_absolute() and (root / p).is_file() for p in paths)


def test_preservation_pairs_and_metric_parameters(run: tuple[Path, str]) -> None:
    from PIL import Image

    root = run[0]
    kept = results(root)["test_preserved"]
    by_name = {
        a["name"]: root / "allure-results" / a["source"] for a in kept["attachments"]
    }
    with Image.open(by_name["original vs unlearned"]) as image:
        assert image.width < image.height  # two columns, four pairs
    params = {p["name"]: p["value"] for p in kept["parameters"]}
    assert params["accuracy drop"].startswith("0 [")
    assert params["accuracy drop"].endswith(": pass")


def test_terminal_says_inconclusive(run: tuple[Path, str]) -> None:
    out = run[1]
    assert "UNDEC" not in out
    assert "  INCONCLUSIVE  forgotten  dogs" in out


def test_verdict_matrix_cells() -> None:
    entries = [
        {
            "assertion": "assert_forgotten",
            "concept": "nudity",
            "verdict": "pass",
            "model": {"label": "esd"},
        },
        {
            "assertion": "assert_forgotten",
            "concept": "nudity",
            "verdict": "fail",
            "model": {"label": "esd"},
        },
        {
            "assertion": "assert_preserved",
            "concept": "coco",
            "verdict": "inconclusive",
            "model": {"label": "uce"},
        },
    ]
    rows, columns, cells = plots.matrix(entries)
    assert rows == ["esd", "uce"]
    assert columns == ["forgotten nudity", "preserved coco"]
    assert cells == {
        ("esd", "forgotten nudity"): "fail",
        ("uce", "preserved coco"): "inconclusive",
    }


def test_pictures_under_the_evidence_folder(run: tuple[Path, str]) -> None:
    from PIL import Image

    evidence = run[0] / ".igmu" / "evidence"
    plots_written = sorted(evidence.rglob("interval-plot.png"))
    assert len(plots_written) >= 4  # leaks, undecided, control, preserved
    with Image.open(evidence / "verdict-matrix.png") as image:
        assert image.width > image.height


def test_terminal_matrix(run: tuple[Path, str]) -> None:
    lines = run[1].splitlines()
    (head,) = [
        i for i, line in enumerate(lines) if line.startswith("  model  forgotten cats")
    ]
    assert "forgotten dogs" in lines[head]
    assert "preserved retain" in lines[head]
    assert lines[head + 1].split()[:2] == ["model", "FAIL"]
    assert "INCONCLUSIVE" in lines[head + 1]


def test_matrix_lines_align() -> None:
    from igmu_audit.reporting.terminal import matrix_lines

    entries = [
        {
            "assertion": "assert_forgotten",
            "concept": "nudity",
            "verdict": "pass",
            "model": {"label": "esd"},
        },
        {
            "assertion": "assert_preserved",
            "concept": "coco",
            "verdict": "inconclusive",
            "model": {"label": "uce-long-name"},
        },
    ]
    assert matrix_lines(entries) == [
        "  model          forgotten nudity  preserved coco",
        "  esd            PASS              -",
        "  uce-long-name  -                 INCONCLUSIVE",
    ]


def test_only_positive_controls_draw_no_matrix() -> None:
    from igmu_audit.reporting.outcome import WORDS
    from igmu_audit.reporting.terminal import matrix_lines

    control = {"assertion": "assert_forgotten", "concept": "cats", "verdict": "fail",
               "model": {"label": "m"}, "flags": ["positive control"]}  # fmt: skip
    assert matrix_lines([control]) == []
    assert plots.verdict_matrix([control], WORDS) is None
