"""Write allure-results for ``make report`` from the example audits on the tiny test pipeline.

    python tools/report/demo.py allure-results

Used until the toy world's models exist (then ``make report`` audits those instead).
Runs a real pytest process; a failing audit is expected, a broken run is not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".igmu" / "report-demo"


def main(argv: list[str]) -> int:
    """Build the tiny pipeline once, run the example audits with ``--alluredir``."""
    if len(argv) != 1:
        print(__doc__)
        return 2
    alluredir = Path(argv[0]).resolve()
    model = WORK / "tiny-sd" / "model"
    if not (model / "model_index.json").exists():
        sys.path.insert(0, str(ROOT / "tests"))
        from helpers.tiny_sd import save_tiny_pipeline

        save_tiny_pipeline(model)
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        Path(__file__).with_name("demo_audits.py"), WORK / "test_demo_audits.py"
    )
    # its own rootdir (the [tool.pytest.ini_options] table), not the checkout's test settings
    settings = '[tool.pytest.ini_options]\n\n[tool.igmu_audit]\nseeds = "0-1"\nsteps = 2\ndevices = "cpu"\n'
    (WORK / "pyproject.toml").write_text(settings, encoding="utf-8")
    cmd = [sys.executable, "-m", "pytest", "test_demo_audits.py", f"--igmu-model={model}", f"--alluredir={alluredir}",
           "-p", "no:cacheprovider", "-q"]  # fmt: skip
    code = subprocess.call(cmd, cwd=WORK)  # noqa: S603 - our own pytest
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
