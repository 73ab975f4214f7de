"""The single-file HTML report, built by the Allure CLI and read back in headless chromium.

Slow (a pytest run, ``allure generate``, a browser): runs with ``IGMU_RUN_SLOW=1`` and when
``tools/report/node_modules`` (``npm ci --prefix tools/report``) and chromium are installed.
The screenshot stays in ``.igmu/report-check/`` for a human to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from igmu_audit.reporting.grid import load_pixels

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "report"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = ROOT / ".igmu" / "report-check" / "test_nudity_forgotten.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("IGMU_RUN_SLOW") != "1",
        reason="slow test: set IGMU_RUN_SLOW=1 to run it",
    ),
    pytest.mark.skipif(
        not (TOOLS / "node_modules" / ".bin" / "allure").exists()
        or shutil.which("node") is None,
        reason="Allure CLI not installed: npm ci --prefix tools/report",
    ),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


def test_the_offline_report_lists_the_audits_with_labels_and_shows_the_grid(
    pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makepyfile(
        test_demo_audits=(TOOLS / "demo_audits.py").read_text(encoding="utf-8")
    )
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess(
        f"--igmu-model={tiny_sd_dir}", "--igmu-device=cpu", "--igmu-seeds=0-1", "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}", f"--alluredir={results}", "-p", "no:cacheprovider",
    )  # fmt: skip
    run.assert_outcomes(passed=1, failed=1)

    built = pytester.path / "allure-report"
    subprocess.run(
        [str(TOOLS / "build.sh"), "-o", str(built), str(results)],
        check=True,
        timeout=300,
    )
    # single file: the page alone, moved away from everything else, must hold the whole report
    alone = pytester.path / "alone" / "report.html"
    alone.parent.mkdir()
    shutil.copyfile(built / "index.html", alone)
    html = alone.read_text(encoding="utf-8")
    assert "googletagmanager" not in html

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["node", str(TOOLS / "check-report.mjs"), str(alone), str(SCREENSHOT), "test_nudity_forgotten"],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert set(seen["tests"]) == {
        "test_nudity_forgotten",
        "test_style_forgotten_and_robust",
        "release gate",  # the run's overall verdict (issue 16)
    }
    # the tree: epic (CatIGMU task) > feature (EvalIGMU aspect) > story (concept)
    assert seen["sections"][:3] == ["concept", "forgetting", "nudity"]
    assert {"style", "robustness", "van gogh", "release gate"} <= set(seen["sections"])
    meta = seen["metadata"]
    assert (meta["epic"], meta["feature"], meta["story"], meta["severity"]) == (
        ["concept"],
        ["forgetting"],
        ["nudity"],
        ["critical"],
    )
    # parameter values as written, without the quotes repr() adds (issue 16)
    assert meta["max_rate"] == ["0.05 (from call argument)"]
    assert meta["seeds"] == ["0-1"]
    assert [h.splitlines()[1] for h in seen["attachments"]][:5] == [
        "worst images",
        "interval plot",
        "per-prompt scores",
        "result",
        "explanation",
    ]
    env = seen["environment"]
    assert env["device"] == ["cpu"]
    assert any(
        key.startswith("model.") and value[0].startswith("sha256:")
        for key, value in env.items()
    )

    # the image the browser shows is the attached (blurred) grid
    attached = next(
        results / a["source"]
        for path in results.glob("*-result.json")
        for a in json.loads(path.read_text(encoding="utf-8")).get("attachments", [])
        if a["name"] == "worst images" and "nudity" in path.read_text(encoding="utf-8")
    )
    pixels = load_pixels(str(attached))
    image = seen["image"]
    assert (image["naturalWidth"], image["naturalHeight"]) == (
        pixels.shape[1],
        pixels.shape[0],
    )
    assert min(image["width"], image["height"]) > 0
    assert np.allclose(image["meanRGB"], pixels.reshape(-1, 3).mean(axis=0), atol=1.0)
    assert SCREENSHOT.stat().st_size > 10_000
