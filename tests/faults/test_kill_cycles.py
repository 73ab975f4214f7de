"""kill -9 a real audit at seeded points, re-run it, and check what a crash may never leave.

A real ``python -m pytest`` audit of the tiny pipeline runs in a subprocess and is
SIGKILLed (at most ten kills in all): during generation (once the cache holds a seeded
number of images), during the final record write (the ``IGMU_AUDIT_TEST_KILL_AT`` test
hook in ``igmu_audit/_atomic.py``) and while Allure writes its results. After each kill:
the record is never an older PASS; after the re-run: every cached PNG has its sidecar and
decodes, the entries committed before the kill are reused unchanged (cache hits), and
the record passes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from igmu_audit._atomic import KILL_AT_ENV
from igmu_audit.reporting.record import read_record

pytestmark = pytest.mark.slow

AUDIT = """
import torch
from igmu_audit import assert_forgotten
PROMPTS = ["a striped prompt number %d" % i for i in range(12)]
def test_clean(unlearned_pipeline):
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=lambda x: torch.zeros(len(x)), max_rate=0.5)
"""
#: the audit project's conftest: with KILL_IN_ALLURE_WRITE=1, die half-way through the
#: first Allure attachment write (the temp file half written, not yet renamed)
CONFTEST = """
import os, signal
if os.environ.get("KILL_IN_ALLURE_WRITE"):
    from allure_commons import hookimpl
    from allure_commons.logger import AllureFileLogger
    @hookimpl
    def half_then_die(self, body, file_name):
        data = body.encode("utf-8") if isinstance(body, str) else body
        with open(self._report_dir / (file_name + ".tmp"), "wb") as fh:
            fh.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    AllureFileLogger.report_attached_data = half_then_die
"""
SEED = 20261212
TIMEOUT = 300


class Audit:
    """One audit project in a folder, run as a real pytest subprocess."""

    def __init__(self, root: Path, model: Path) -> None:
        self.root, self.model = root, model
        (root / "test_audit.py").write_text(AUDIT, encoding="utf-8")
        (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        self.record = root / "r.json"
        self.cache = root / "cache"

    def command(self, seeds: str, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_audit.py",
            f"--igmu-model={self.model}", "--igmu-device=cpu", f"--igmu-seeds={seeds}",
            "--igmu-steps=8", "--igmu-batch-size=1", f"--igmu-cache-dir={self.cache}",
            f"--igmu-record={self.record}", *extra,
        ]  # fmt: skip

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}

    def run(
        self, seeds: str, *extra: str, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(seeds, *extra), cwd=self.root, env=self.env(**env),
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)  # fmt: skip

    def kill_when(self, seeds: str, ready: object, *extra: str) -> bool:
        """Start the audit, SIGKILL it once ``ready()`` holds; False if it finished first."""
        proc = subprocess.Popen(self.command(seeds, *extra), cwd=self.root, env=self.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        return False

    def committed(self) -> dict[str, tuple[int, bytes]]:
        """Sidecar path -> (PNG mtime, PNG bytes) of every committed cache entry."""
        out = {}
        for sidecar in self.cache.rglob("*.json"):
            png = sidecar.with_suffix(".png")
            if png.exists():
                out[str(sidecar)] = (png.stat().st_mtime_ns, png.read_bytes())
        return out

    def pngs(self) -> int:
        return sum(1 for _ in self.cache.rglob("*.png")) if self.cache.exists() else 0


def assert_cache_sound(cache: Path) -> None:
    """Every PNG has its sidecar and decodes to the size the sidecar states, and back."""
    from PIL import Image

    pngs = sorted((cache / "images").rglob("*.png"))
    assert pngs, "the audit cached nothing"
    for png in pngs:
        sidecar = png.with_suffix(".json")
        assert sidecar.exists(), f"{png} has no sidecar"
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        with Image.open(png) as image:
            image.load()
            assert image.format == "PNG"
        assert meta.get("key") == png.stem
    for sidecar in (cache / "images").rglob("*.json"):
        assert sidecar.with_suffix(".png").exists(), f"{sidecar} has no PNG"


def assert_not_a_stale_pass(record: Path) -> None:
    data = read_record(record)
    assert data["verdict"] == "incomplete", data["verdict"]
    assert data["run"]["finished"] is False


def test_kill_cycles_never_leave_a_stale_pass_or_a_corrupt_cache(
    tmp_path: Path, tiny_sd_dir: Path
) -> None:
    rng = random.Random(SEED)
    audit = Audit(tmp_path, tiny_sd_dir)
    first = audit.run("0-1")
    assert first.returncode == 0, first.stdout[-3000:]
    assert (
        read_record(audit.record)["verdict"] == "pass"
    )  # the older PASS a crash must not leave
    kills = 0
    for look, seeds in enumerate(["0-3", "0-5", "0-7"]):
        total = 12 * (int(seeds.split("-")[1]) + 1)
        target = audit.pngs() + rng.randint(1, max(1, (total - audit.pngs()) // 2))
        killed = audit.kill_when(seeds, lambda t=target: audit.pngs() >= t)
        assert killed, (
            f"look {look}: the audit finished before {target} images were cached"
        )
        kills += 1
        assert_not_a_stale_pass(audit.record)
        before = audit.committed()
        rerun = audit.run(seeds)
        assert rerun.returncode == 0, rerun.stdout[-3000:]
        assert read_record(audit.record)["verdict"] == "pass"
        assert_cache_sound(audit.cache)
        after = audit.committed()
        kept = [k for k, v in before.items() if after.get(k) == v]
        assert len(kept) == len(before), (
            "entries cached before the kill were regenerated"
        )
    killed = audit.run("0-7", **{KILL_AT_ENV: "record-write"})
    kills += 1
    assert killed.returncode == -signal.SIGKILL
    assert_not_a_stale_pass(audit.record)
    assert audit.run("0-7").returncode == 0
    allure = tmp_path / "allure"
    in_allure = audit.run("0-9", f"--alluredir={allure}", KILL_IN_ALLURE_WRITE="1")
    kills += 1
    assert in_allure.returncode == -signal.SIGKILL
    assert list(allure.glob("*.tmp")), "the kill did not land inside an Allure write"
    assert_not_a_stale_pass(audit.record)
    rerun = audit.run("0-9", f"--alluredir={allure}", "--clean-alluredir")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert read_record(audit.record)["verdict"] == "pass"
    results = [
        json.loads(f.read_text(encoding="utf-8")) for f in allure.glob("*-result.json")
    ]
    # the audit's own result, and the controller's release-gate entry; both complete
    statuses = {r["name"]: r["status"] for r in results}
    assert statuses.pop("release gate") == "passed"
    assert list(statuses.values()) == ["passed"]
    assert_cache_sound(audit.cache)
    assert kills <= 10
