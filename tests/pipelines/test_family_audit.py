"""A real pytest audit run (the plugin, a YAML spec, a verdict record) on tiny SDXL and
FLUX pipelines saved to disk: the same spec keys and fixtures as for SD 1.x."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.tiny_families import save_family

AUDIT = """
import torch
from igmu_audit import assert_forgotten
def test_concept_forgotten(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["a photo of a cat %d" % i for i in range(6)],
                     detector=lambda x: torch.zeros(len(x)), max_rate=0.5)
def test_concept_leaks(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["a photo of a dog %d" % i for i in range(6)],
                     detector=lambda x: torch.ones(len(x)), max_rate=0.05)
"""

SLOW = os.environ.get("IGMU_RUN_SLOW") == "1"
SPECS = {
    "sdxl": "generation_args: {original_size: [32, 32], target_size: [16, 16]}\n",
    "flux": "generation_args: {max_sequence_length: 8}\nguidance_scale: 3.5\n",
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both families saved before any pytester test (pytester restores sys.modules
    after each test, and torch refuses to register its operator libraries twice)."""
    root = tmp_path_factory.mktemp("saved")
    return {
        name: save_family(name, root / name) for name in SPECS if name == "flux" or SLOW
    }


@pytest.mark.parametrize(
    "family", [pytest.param("sdxl", marks=pytest.mark.slow), "flux"]
)
def test_audit_run_on_a_saved_family_writes_a_verdict_record(
    family: str, pytester: pytest.Pytester, saved: dict[str, Path]
) -> None:
    model = saved[family]
    spec = pytester.path / "audit.yaml"
    spec.write_text(
        f"model: {model}\nresolution: 16\n{SPECS[family]}", encoding="utf-8"
    )
    pytester.makepyfile(test_audit=AUDIT)
    result = pytester.runpytest_inprocess(
        f"--igmu-spec={spec}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}", "--igmu-record=record.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 10
    record = json.loads((pytester.path / "record.json").read_text(encoding="utf-8"))
    assert record["verdict"] == "fail"
    assert record["counts"]["pass"] == 1
    assert record["counts"]["fail"] == 1
    pngs = list((pytester.path / "cache").rglob("*.png"))
    assert len(pngs) == 24  # 2 audits x 6 prompts x 2 seeds
    meta = [
        json.loads(p.read_text()) for p in (pytester.path / "cache").rglob("*.json")
    ]
    families = {m.get("family") for m in meta if isinstance(m, dict)}
    assert family in families
