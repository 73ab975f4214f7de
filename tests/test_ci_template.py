"""The CI template as written: action versions, the always-saved cache, hidden evidence, a closed gate.

The slow twin (tests/slow/test_ci_template_run.py) runs its shell steps; this reads the
YAML and pins what would silently break it on GitHub.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions-audit.yml"
#: the newest majors as of late 2025 (the template's header says so)
MAJORS = {
    "actions/checkout": "v5",
    "actions/setup-python": "v6",
    "actions/cache/restore": "v4",
    "actions/cache/save": "v4",
    "actions/upload-artifact": "v5",
    "actions/download-artifact": "v6",
}


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: str) -> list[dict[str, Any]]:
    return workflow()["jobs"][job]["steps"]


def test_action_versions_are_the_newest_majors() -> None:
    used = [
        s["uses"] for job in ("audit", "verdict") for s in steps(job) if "uses" in s
    ]
    assert used
    for ref in used:
        action, _, version = ref.partition("@")
        assert MAJORS.get(action) == version, ref
    assert not any(u.startswith("actions/cache@") for u in used), (
        "plain actions/cache saves only on success"
    )


def test_cache_is_saved_even_when_the_audit_fails() -> None:
    audit = steps("audit")
    names = [s.get("uses", s.get("name")) for s in audit]
    save = next(s for s in audit if s.get("uses", "").startswith("actions/cache/save"))
    restore = next(
        s for s in audit if s.get("uses", "").startswith("actions/cache/restore")
    )
    assert save["if"] == "always()"
    assert save["with"]["path"] == restore["with"]["path"] == ".igmu/cache"
    assert save["with"]["key"] == restore["with"]["key"]
    run = next(i for i, s in enumerate(audit) if "pytest" in s.get("run", ""))
    assert names.index(restore["uses"]) < run < names.index(save["uses"])


def test_uploads_of_hidden_paths_include_hidden_files() -> None:
    for job in ("audit", "verdict"):
        for step in steps(job):
            if not step.get("uses", "").startswith("actions/upload-artifact"):
                continue
            assert step.get("if") == "always()", step["name"]
            paths = step["with"]["path"].split()
            if any(part.startswith(".") for p in paths for part in Path(p).parts):
                assert step["with"].get("include-hidden-files") is True, step["name"]


def test_shards_and_the_gate() -> None:
    flow = workflow()
    shards = flow["jobs"]["audit"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(flow["env"]["SHARDS"]) + 1))
    audit_run = next(s["run"] for s in steps("audit") if "pytest" in s.get("run", ""))
    assert "--igmu-shard ${{ matrix.shard }}/$SHARDS" in audit_run
    assert "--igmu-record verdicts.json" in audit_run
    gate = flow["jobs"]["verdict"]
    assert gate["if"] == "always()"
    assert gate["needs"] == "audit"
    merge = next(s for s in gate["steps"] if "record merge" in s.get("run", ""))
    assert merge["if"] == "always()"
    assert merge["shell"] == "bash"
    assert "shopt -s nullglob" in merge["run"]
    assert not merge.get("continue-on-error")
    install = next(s for s in gate["steps"] if "pip install" in s.get("run", ""))
    assert "--no-deps" in install["run"]
    # installs from a source the user sets, never from an index igmu-audit is not on
    for job in ("audit", "verdict"):
        for step in steps(job):
            for line in step.get("run", "").splitlines():
                if "pip install" in line and "cryptography" not in line:
                    assert "$IGMU_AUDIT_SOURCE" in line, line


def test_guide_sharding_words_match_the_workflow() -> None:
    guide = (ROOT / "examples" / "ci" / "README.md").read_text()
    assert "one aspect per job" not in guide
    assert "hash of" in guide
    assert "--igmu-shard" in guide
    assert re.search(r"SHARDS", guide)
