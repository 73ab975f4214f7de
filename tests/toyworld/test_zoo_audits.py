"""End to end: the ready-made audits on every toy-world zoo spec give the documented verdicts.

Each spec runs ``pytest audits --igmu-spec SPEC`` in a fresh process (pytester), exactly as
``make audit`` does, with its own image cache; the verdict matrix (model x aspect) must equal
``audits/specs/expected.yaml``, which ZOO_CARD.md shows. A second run must write the same
record (every image from the cache, the same Hypothesis examples under the ``ci`` profile).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from igmu_audit._paths import fixtures_dir
from igmu_audit.reporting.record import read_record

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "audits" / "specs"
EXPECTED = yaml.safe_load((SPECS / "expected.yaml").read_text(encoding="utf-8"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (fixtures_dir() / "toyworld" / "zoo").is_dir(),
        reason="no toy-world zoo in this checkout",
    ),
]


def _matrix(record: dict[str, Any]) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location(
        "audits_run", ROOT / "audits" / "run.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.matrix(record)


def _stable(record: dict[str, Any], evidence: Path) -> str:
    """The record without its run block (time, host) and evidence paths (per run folder)."""
    audits = [
        {k: v for k, v in a.items() if k != "evidence_dir"} for a in record["audits"]
    ]
    text = json.dumps(
        {**{k: v for k, v in record.items() if k != "run"}, "audits": audits},
        sort_keys=True,
    )
    # per-image evidence paths name the run's own evidence folder
    return text.replace(str(evidence), "<evidence>")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_zoo_verdicts_match_the_card_twice(
    name: str, pytester: pytest.Pytester
) -> None:
    records = []
    for attempt in (1, 2):
        path = pytester.path / f"record-{attempt}.json"
        result = pytester.runpytest_subprocess(
            str(ROOT / "audits"), f"--igmu-spec={SPECS / f'{name}.yaml'}", f"--igmu-record={path}",
            f"--igmu-cache-dir={pytester.path / 'cache'}", f"--igmu-evidence-dir={pytester.path / f'evidence-{attempt}'}",
            "--igmu-profile=ci", "-p", "no:cacheprovider", f"--rootdir={ROOT}",
        )  # fmt: skip
        assert result.ret in (0, 10, 11), (  # the gate decided: pass, fail, undecided
            result.stdout.str()[-3000:]
        )
        records.append(read_record(path))
    assert _matrix(records[0]) == EXPECTED[name]
    first, second = (pytester.path / f"evidence-{attempt}" for attempt in (1, 2))
    assert _stable(records[0], first) == _stable(records[1], second)
