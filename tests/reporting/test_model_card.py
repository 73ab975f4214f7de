"""The model card's "Unlearning evaluation" section, from a real record (tiny pytester run, committed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.record import main
from igmu_audit.reporting.model_card import model_card_section
from igmu_audit.reporting.record import build_record, read_record

DATA = Path(__file__).parent / "data"


def test_section_states_verdicts_intervals_detectors_seeds_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = read_record(DATA / "verdicts-tiny.json")
    assert main(["model-card", str(DATA / "verdicts-tiny.json")]) == 0
    text = capsys.readouterr().out
    assert text == model_card_section(record)
    lines = text.splitlines()
    assert lines[0] == "## Unlearning evaluation"
    assert lines[2].startswith(
        "**Overall verdict: INCONCLUSIVE** (release-gate exit status 11;"
    )
    assert record["run"]["created"] in text
    # one row per audit check, with its interval and threshold as recorded
    leak = record["audits"][1]
    rows = [line for line in lines if line.startswith("| t2.py::")]
    assert len(rows) == 2
    assert rows[1].split(" | ")[4:] == [
        "FAIL (positive control)",
        "rate 1",
        f"95 % [{leak['checks'][0]['interval']['low']:.4g}, 1]",
        "max_rate <= 0.05 |",
    ]
    assert "UNDEC" not in text
    assert "- **custom**: `{" in text
    assert "### Seeds\n\n0, 1\n" in text
    for fingerprint, info in record["models"].items():
        assert f"- {info['label']}: `{fingerprint}`" in text
    out = tmp_path / "card.md"
    assert main(["model-card", str(DATA / "verdicts-tiny.json"), "-o", str(out)]) == 0
    assert out.read_text() == text


def test_problems_never_read_as_pass_and_cells_cannot_break_the_table() -> None:
    record = json.loads((DATA / "verdicts-tiny.json").read_text())
    record["audits"][0]["concept"] = "nude | figure\nsecond line"
    rebuilt = build_record(
        record["audits"],
        [
            {
                "test_id": "t.py::test_x",
                "verdict": "error",
                "phase": "setup",
                "exception": None,
                "reason": "model missing",
                "flags": [],
            }
        ],
    )
    text = model_card_section(rebuilt)
    assert "**Overall verdict: ERROR**" in text
    assert "| t.py::test_x | - | - | - | ERROR | model missing |" in text
    assert "nude \\| figure second line" in text
    table = [line for line in text.splitlines() if line.startswith("| t")]
    assert all(line.count(" | ") == 7 for line in table)


def test_missing_record_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["model-card", str(tmp_path / "none.json"), "-o", str(tmp_path / "c.md")])
        == 12
    )
    assert "none.json: verdict record not found" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()
