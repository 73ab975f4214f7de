"""A fresh machine's install path: ``make dist``, a new virtualenv, the toy world audited by name.

Slow (several GB of torch install from this machine's disk): IGMU_RUN_SLOW=1. Everything
runs from a temporary folder outside the checkout, so only the installed wheel is used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

AUDIT = """
from igmu_audit import assert_forgotten


def test_striped_forgotten(unlearned_pipeline, forget_prompts, igmu_detector):
    assert_forgotten(unlearned_pipeline, forget_prompts[:4], detector=igmu_detector,
                     allow_inconclusive=True)
"""

SPEC = """\
version: 1
model: {path: toyworld:original, unet: toyworld:zoo/uce-striped, label: uce-striped}
original: {path: toyworld:original, label: toy-original}
task: style
concept: striped
dataigm_task: texture_striped
detector: toyworld
seeds: 0-1
steps: 4
resolution: 32
devices: cpu
"""


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        IGMU_RUN_SLOW="0",
    )
    return env


def _run(
    args: list[str], cwd: Path, timeout: int = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_audits_the_toy_world_by_name(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run(
        ["make", "-s", "dist", f"DIST={dist}", f"BUILD_PY={sys.executable}"], ROOT
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("igmu_audit-*-py3-none-any.whl")
    assert list(dist.glob("igmu_audit-*.tar.gz"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    install = _run(
        [
            py,
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            f"{wheel}[sign]",
        ],
        tmp_path,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([py, "-c", "import igmu_audit, sys; print(igmu_audit.__file__)"], work)
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    (work / "spec.yaml").write_text(SPEC)
    (work / "test_toy.py").write_text(AUDIT)
    audit = _run([py, "-m", "pytest", "test_toy.py", "--igmu-spec", "spec.yaml", "--igmu-record", "verdicts.json",
                  "-p", "no:cacheprovider", "-q"], work)  # fmt: skip
    assert audit.returncode in (0, 10, 11), audit.stdout[-4000:] + audit.stderr[-3000:]
    record = json.loads((work / "verdicts.json").read_text())
    assert record["counts"]["error"] == record["counts"]["incomplete"] == 0
    assert {m["label"] for m in record["models"].values()} == {
        "uce-striped",
        "toy-original",
    }
    assert record["audits"][0]["assertion"] == "assert_forgotten"
    # the record commands work from the installed wheel too
    for args in (["keygen", "k.pem", "k.pub"], ["sign", "verdicts.json", "--key", "k.pem", "-o", "v.dsse.json"],
                 ["verify", "v.dsse.json", "--key", "k.pub", "--model", "spec.yaml"],
                 ["model-card", "verdicts.json", "-o", "card.md"]):  # fmt: skip
        done = _run([py, "-m", "igmu_audit.record", *args], work)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    assert "## Unlearning evaluation" in (work / "card.md").read_text()
