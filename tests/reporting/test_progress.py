"""Cost first, then progress: real pytest runs over the tiny pipeline, read line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.reporting import progress

AUDIT = """
from igmu_audit import assert_forgotten

def dark(images):
    return 0.1 * images.mean(dim=(1, 2, 3))

def test_a(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["p %d" % i for i in range(3)], detector=dark,
                     concept="cats", max_rate=0.9)

def test_b(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, ["q %d" % i for i in range(3)], detector=dark,
                     concept="dogs", max_rate=0.9)
"""


def _ran_two(result: pytest.RunResult) -> None:
    """Both audits ran (their verdicts are not the point here)."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2, (
        result.stdout.str()
    )


def _args(tiny_sd_dir: Path, root: Path) -> list[str]:
    return [f"--igmu-model={tiny_sd_dir}", f"--igmu-cache-dir={root / 'cache'}",
            "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2", "-p", "no:cacheprovider"]  # fmt: skip


def test_cost_first_then_progress_then_cached(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_audit=AUDIT)
    first = pytester.runpytest(*_args(tiny_sd_dir, pytester.path))
    _ran_two(first)
    first.stdout.re_match_lines([
        r"igmu-audit: assert_forgotten: \S+: 6 to generate, 0 cached; time unknown \(no rate measured on this machine yet\)",
        r"igmu-audit: assert_forgotten: \S+: 6 generated, 0 cached, 0 to go; [\d.]+ img/s; took \d+s",
    ])  # fmt: skip
    assert "Captured stderr" not in first.stdout.str()
    rates = json.loads((pytester.path / "cache" / progress.RATES_FILE).read_text())
    (entry,) = rates["rates"].values()
    assert entry["images"] == 6
    assert entry["images_per_second"] > 0
    # the cached audit costs nothing; a new one is estimated from the rate just measured
    (pytester.path / "test_new.py").write_text(
        AUDIT.replace('"p %d"', '"r %d"').replace("test_b", "test_c")
    )
    again = pytester.runpytest(*_args(tiny_sd_dir, pytester.path))
    again.stdout.re_match_lines(
        [
            r"igmu-audit: assert_forgotten: \S+: 0 to generate, 6 cached; nothing to generate"
        ]
    )
    again.stdout.re_match_lines(
        [
            r"igmu-audit: assert_forgotten: \S+: 6 to generate, 0 cached; about \d+s at [\d.]+ img/s \(measured here\)"
        ]
    )


def test_quiet_under_q(pytester: pytest.Pytester, tiny_sd_dir: Path) -> None:
    pytester.makepyfile(test_audit=AUDIT)
    result = pytester.runpytest("-q", *_args(tiny_sd_dir, pytester.path))
    _ran_two(result)
    assert "to generate" not in result.stdout.str()


@pytest.mark.slow
def test_xdist_controller_prints_the_workers_lines(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(test_audit=AUDIT)
    result = pytester.runpytest_subprocess(
        "-n", "2", *_args(tiny_sd_dir, pytester.path)
    )
    _ran_two(result)
    text = result.stdout.str()
    lines = [line for line in text.splitlines() if "to generate" in line]
    assert len(lines) == 2, text
    assert all(line.startswith("[gw") for line in lines), lines
    assert (
        len(
            [
                line
                for line in text.splitlines()
                if "generated, 0 cached, 0 to go" in line
            ]
        )
        == 2
    )


def test_rates_file_unreadable_means_unknown(tmp_path: Path) -> None:
    (tmp_path / progress.RATES_FILE).write_text("{not json")
    assert progress.measured_rate(tmp_path, "k") is None
    progress.store_rate(tmp_path, "k", 10, 4.0)
    assert progress.measured_rate(tmp_path, "k") == 2.5
    assert progress.measured_rate(tmp_path, "other") is None


def test_lines_read_right() -> None:
    assert progress.duration(185) == "3m05s"
    assert progress.duration(3720) == "1h02m"
    assert (
        progress.cost_line("d", 30, 2, 0.5)
        == "igmu-audit: d: 30 to generate, 2 cached; about 1m00s at 0.5 img/s (measured here)"
    )
    assert (
        progress.progress_line("d", 10, 2, 30, 20.0)
        == "igmu-audit: d: 10 generated, 2 cached, 20 to go; 0.5 img/s; ETA 40s"
    )
