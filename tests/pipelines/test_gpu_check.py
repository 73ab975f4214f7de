"""The prepared GPU check runs end to end on the CPU at its tiny size (``--tiny``)."""

from __future__ import annotations

import json
import runpy
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_tiny_writes_every_figure(tmp_path: Path) -> None:
    main = runpy.run_path(str(ROOT / "benchmarks" / "gpu_check.py"))["main"]
    out = tmp_path / "figures.json"
    main(["--tiny", "--images", "4", "--batch", "2", "--out", str(out)])
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["architecture"] == "tiny"
    assert figures["images"] == 4
    for key in ("raw_s", "cold_s", "warm_s", "cold_over_raw"):
        assert figures[key] > 0, key
    assert figures["warm_s"] < figures["cold_s"]  # every warm image came from the cache
    assert figures["peak_gpu_memory_gib"] is None  # not measured on the CPU


def test_gpu_check_script_is_valid_bash() -> None:
    script = ROOT / "benchmarks" / "gpu_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert script.stat().st_mode & 0o111
