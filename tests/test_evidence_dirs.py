"""Evidence folders are unique per pytest node id: nothing overwrites another test's evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.context import SLUG_CHARS, evidence_folder_name

SAME_NAME = """
import torch
from igmu_audit import assert_forgotten

def test_same_name(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["a prompt 0", "a prompt 1"], detector=lambda x: torch.zeros(len(x)),
                     concept="c", max_rate=0.9, min_effective_prompts=1, allow_inconclusive=True)
"""

PARAMETRISED = """
import pytest
import torch
from igmu_audit import assert_forgotten

@pytest.mark.parametrize("concept", ["a/b", "a_b"])
def test_param(unlearned_pipeline, concept):
    for _ in range(2):  # two assertions in one test: two folders
        assert_forgotten(unlearned_pipeline, ["a prompt 0"], detector=lambda x: torch.zeros(len(x)),
                         concept=concept, max_rate=0.9, min_effective_prompts=1, allow_inconclusive=True)
"""


def test_folder_names_tell_apart_ids_that_slug_alike() -> None:
    ids = [
        "tests/a/test_x.py::test_y",
        "tests/b/test_x.py::test_y",
        "tests/a_test_x.py::test_y",
        "test_p.py::test_param[a/b]",
        "test_p.py::test_param[a_b]",
        "test_p.py::test_param[a b]",
    ]
    names = [evidence_folder_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert names[0].startswith("tests_a_test_x.py_test_y-")
    assert names[3].startswith("test_p.py_test_param_a_b-")


def test_long_parametrised_ids_stay_bounded_and_readable() -> None:
    base = "audits/test_robustness.py::test_concept_does_not_come_back"
    long_a = f"{base}[{'x' * 500}-paraphrase]"
    long_b = f"{base}[{'x' * 500}-translation]"
    a, b = evidence_folder_name(long_a), evidence_folder_name(long_b)
    assert a != b
    assert len(a) <= SLUG_CHARS + 13
    assert len(b) <= SLUG_CHARS + 13
    assert a.startswith("audits_test_robustn")
    assert "paraphrase-" in a
    assert all(c.isalnum() or c in "_.-~" for c in a)
    assert evidence_folder_name("..") != ".."
    assert "/" not in evidence_folder_name("a/../b")


def _evidence(root: Path) -> dict[str, list[str]]:
    """test id -> evidence folders (relative to ``root``) whose evidence.json names it."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("evidence.json")):
        data = json.loads(path.read_text())
        found.setdefault(data["test_id"], []).append(str(path.parent.relative_to(root)))
    return found


def test_same_named_tests_and_slug_alike_params_keep_their_own_evidence(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    for pkg in ("a", "b"):
        pytester.mkpydir(pkg)
        (pytester.path / pkg / "test_x.py").write_text(SAME_NAME)
    pytester.makepyfile(test_p=PARAMETRISED)
    root = pytester.path / "evidence"
    result = pytester.runpytest_inprocess(
        f"--igmu-model={tiny_sd_dir}", "--igmu-device=cpu", "--igmu-seeds=0",
        "--igmu-steps=2", f"--igmu-cache-dir={pytester.path / 'cache'}",
        f"--igmu-evidence-dir={root}", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    found = _evidence(root)
    assert sorted(found) == [
        "a/test_x.py::test_same_name",
        "b/test_x.py::test_same_name",
        "test_p.py::test_param[a/b]",
        "test_p.py::test_param[a_b]",
    ]
    folders = [f for fs in found.values() for f in fs]
    assert len(folders) == len(set(folders)) == 6  # nothing shared, nothing overwritten
    assert found["a/test_x.py::test_same_name"] == [
        f"{evidence_folder_name('a/test_x.py::test_same_name')}/forgotten-c"
    ]
    param = evidence_folder_name("test_p.py::test_param[a/b]")
    assert found["test_p.py::test_param[a/b]"] == [
        f"{param}/forgotten-a_b",
        f"{param}/forgotten-a_b-2",
    ]
