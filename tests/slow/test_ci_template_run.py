"""Run the CI template's shell steps locally: three shards, the gate, a missing shard, a failing audit.

Every ``run:`` step of the two jobs runs as written, in order, with GitHub's ``if:``
rules (a step after a failure runs only with ``always()``); the ``uses:`` steps are
stubbed (checkout = a prepared folder, setup-python = a virtualenv on PATH, cache =
a folder per key, artifacts = folders) and check their inputs: declared paths exist,
hidden ones need ``include-hidden-files``. The audit jobs' virtualenv sees this
checkout's installed dependencies (no second torch download) and installs igmu-audit
from a wheel, as the template does; the gate's virtualenv is bare, so merge / sign /
verify / model-card run with no torch or numpy at all. Slow: IGMU_RUN_SLOW=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

from igmu_audit.reporting.record import read_record
from igmu_audit.sharding import shard_of

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions-audit.yml"
SPEC = """\
version: 1
model: {path: toyworld:original, label: toy}
task: style
concept: striped
seeds: 0-1
steps: 2
resolution: 32
devices: cpu
"""
TEST = """
import os
import torch
from igmu_audit import assert_forgotten

FAILING = os.environ.get("FAIL_TEST", "")
"""
ONE = """

def {name}(unlearned_pipeline):
    leak = 1.0 if FAILING == "{name}" else 0.0
    assert_forgotten(unlearned_pipeline, ["a red square %d-{i}" % k for k in range(6)],
                     detector=lambda x: torch.full((len(x),), leak), max_rate=0.5)
"""


class Runner:
    """Runs one job's steps like a GitHub runner, with the GitHub-specific parts stubbed."""

    def __init__(self, tmp: Path, flow: dict[str, Any], env: dict[str, str]) -> None:
        self.tmp, self.flow, self.env = tmp, flow, env
        self.caches = tmp / "caches"
        self.artifacts = tmp / "artifacts"
        self.log: list[tuple[str, str, int]] = []

    def expr(self, text: str, matrix: dict[str, Any], work: Path) -> str:
        def sub(m: re.Match[str]) -> str:
            key = m[1].strip()
            if key.startswith("matrix."):
                return str(matrix[key[7:]])
            known = {"hashFiles(env.SPEC)": "spec", "github.run_id": self.env["RUN_ID"],
                     "github.workspace": str(work), "secrets.IGMU_SIGNING_KEY": self.env.get("SIGNING_SECRET", "")}  # fmt: skip
            assert key in known, (
                f"the template uses ${{{{ {key} }}}}, which this test does not stub"
            )
            return known[key]

        return re.sub(r"\$\{\{(.*?)\}\}", sub, text)

    def job(
        self, name: str, work: Path, venv: Path, matrix: dict[str, Any]
    ) -> list[tuple[str, str, int]]:
        env = {
            **self.env,
            **{k: str(v) for k, v in self.flow["env"].items()},
            "RUNNER_TEMP": str(self.tmp / "rt"),
        }
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
        (self.tmp / "rt").mkdir(exist_ok=True)
        failed, out = False, []
        for step in self.flow["jobs"][name]["steps"]:
            title = step.get("name", step.get("uses", "?"))
            cond = str(step.get("if", "success()"))
            step_env = {
                k: self.expr(str(v), matrix, work)
                for k, v in step.get("env", {}).items()
            }
            if failed and "always()" not in cond:
                out.append((title, "skipped", 0))
                continue
            if "env.SIGNING_KEY != ''" in cond and not step_env.get("SIGNING_KEY"):
                out.append((title, "skipped", 0))
                continue
            if "uses" in step:
                rc = self.uses(step, work, venv, matrix)
            elif (
                "npx" in step["run"]
            ):  # Node and the npm registry: GitHub's part, stubbed
                assert list(work.glob("shards/*/allure-results")), (
                    "no Allure results reached the gate"
                )
                rc = 0
            else:
                script = self.expr(step["run"], matrix, work)
                done = subprocess.run(["bash", "-e", "-c", script], cwd=work, env={**env, **step_env},
                                      capture_output=True, text=True, check=False, timeout=1200)  # fmt: skip
                rc = done.returncode
                (self.tmp / "logs").mkdir(exist_ok=True)
                safe = re.sub(r"\W+", "-", f"{name}-{matrix}-{title}")[:80]
                (self.tmp / "logs" / f"{safe}.log").write_text(
                    done.stdout + done.stderr
                )
            out.append((title, "ran", rc))
            if rc and not step.get("continue-on-error"):
                failed = True
        return out

    def uses(
        self, step: dict[str, Any], work: Path, venv: Path, matrix: dict[str, Any]
    ) -> int:
        action = step["uses"].split("@")[0]
        given = {
            k: self.expr(str(v), matrix, work) for k, v in step.get("with", {}).items()
        }
        if action in ("actions/checkout", "actions/setup-python"):
            return 0
        if action == "actions/cache/restore":
            keys = [given["key"], *given.get("restore-keys", "").split()]
            for key in keys:
                found = sorted(self.caches.glob(f"{key}*")) if key else []
                if found:
                    shutil.copytree(found[-1], work / given["path"], dirs_exist_ok=True)
                    break
            return 0
        if action == "actions/cache/save":  # like the action: a missing path only warns
            if (work / given["path"]).is_dir():
                shutil.copytree(work / given["path"], self.caches / given["key"])
            return 0
        if action == "actions/upload-artifact":
            target = self.artifacts / given["name"]
            for path in given["path"].split():
                hidden = any(part.startswith(".") for part in Path(path).parts)
                assert not hidden or given.get("include-hidden-files") == "True", (
                    f"{path} would be skipped"
                )
                source = work / path
                if not source.exists():
                    assert given.get("if-no-files-found", "warn") == "warn", path
                    continue
                dest = target / path.rstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if source.is_dir() else shutil.copy)(source, dest)
            return 0
        if action == "actions/download-artifact":
            pattern = given["pattern"]
            for artifact in sorted(self.artifacts.glob(pattern)):
                shutil.copytree(artifact, work / given["path"] / artifact.name)
            return 0
        raise AssertionError(
            f"the template uses {step['uses']}, which this test does not stub"
        )


def _venv(path: Path, *, deps: bool) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    if (
        deps
    ):  # this checkout's installed dependencies, without its editable igmu-audit finder
        site = next((path / "lib").glob("python*/site-packages"))
        (site / "zz-checkout-deps.pth").write_text(
            sysconfig.get_paths()["purelib"] + "\n"
        )
    return path


@pytest.mark.slow
def test_ci_template_steps_run_as_written(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(["make", "-s", "dist", f"DIST={dist}", f"BUILD_PY={sys.executable}"], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    (wheel,) = dist.glob("*.whl")
    flow = yaml.safe_load(WORKFLOW.read_text())
    shards = flow["jobs"]["audit"]["strategy"]["matrix"]["shard"]
    names: dict[int, str] = {}
    i = 0
    while len(names) < len(shards):  # at least one audit per shard
        names.setdefault(
            shard_of(f"audits/test_toy.py::test_audit_{i}", len(shards)),
            f"test_audit_{i}",
        )
        i += 1
    repo = tmp_path / "repo"
    (repo / "audits" / "specs").mkdir(parents=True)
    (repo / "audits" / "specs" / "my-model.yaml").write_text(SPEC)
    (repo / "audits" / "test_toy.py").write_text(
        TEST + "".join(ONE.format(name=n, i=k) for k, n in sorted(names.items()))
    )
    shutil.copy(ROOT / "constraints.txt", repo / "constraints.txt")
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "igmu_audit.record",
            "keygen",
            str(keys / "k.pem"),
            str(keys / "k.pub"),
        ],
        check=True,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST", "IGMU"))
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", RUN_ID="1",
               SIGNING_SECRET=(keys / "k.pem").read_text())  # fmt: skip
    runner = Runner(tmp_path, flow, env)
    runner.flow["env"]["IGMU_AUDIT_SOURCE"] = wheel.as_uri()
    audit_venv = _venv(tmp_path / "audit-venv", deps=True)
    gate_venv = _venv(tmp_path / "gate-venv", deps=False)

    def audit_jobs(tag: str, fail: str = "") -> dict[int, list[tuple[str, str, int]]]:
        results = {}
        for shard in shards:
            work = tmp_path / f"{tag}-audit-{shard}"
            shutil.copytree(repo, work)
            runner.env["FAIL_TEST"] = fail
            results[shard] = runner.job("audit", work, audit_venv, {"shard": shard})
        return results

    def gate(tag: str) -> tuple[list[tuple[str, str, int]], Path]:
        work = tmp_path / f"{tag}-gate"
        work.mkdir()
        return runner.job("verdict", work, gate_venv, {}), work

    def status(steps: list[tuple[str, str, int]], word: str) -> tuple[str, int]:
        return next((s, rc) for title, s, rc in steps if word in title)

    # 1. every shard passes: the gate passes, signs, writes the card; evidence and caches kept
    first = audit_jobs("pass")
    for shard, steps in first.items():
        assert status(steps, "Audit") == ("ran", 0), (
            shard,
            steps,
            sorted((tmp_path / "logs").iterdir()),
        )
        assert (runner.artifacts / f"audit-{shard}" / ".igmu" / "evidence").is_dir()
        assert (runner.artifacts / f"audit-{shard}" / "verdicts.json").is_file()
        assert (runner.caches / f"igmu-cache-{shard}-spec-1").is_dir()
    steps, work = gate("pass")
    assert status(steps, "Install the record tool") == ("ran", 0)
    assert status(steps, "release gate") == ("ran", 0), steps
    assert read_record(work / "verdicts.json")["verdict"] == "pass"
    assert status(steps, "Sign") == ("ran", 0), steps
    verified = subprocess.run([str(gate_venv / "bin" / "python"), "-m", "igmu_audit.record", "verify",
                               str(work / "verdicts.dsse.json"), "--key", str(keys / "k.pub")],
                              capture_output=True, text=True, check=False)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "## Unlearning evaluation" in (work / "model-card-evaluation.md").read_text()
    bare = subprocess.run(
        [str(gate_venv / "bin" / "python"), "-c", "import torch"],
        capture_output=True,
        check=False,
    )
    assert bare.returncode != 0, "the gate's virtualenv must not have torch"

    # 2. a shard's artifact never arrives: the gate names it missing, exit 12
    shutil.rmtree(runner.artifacts / "audit-2")
    steps, work = gate("missing")
    assert status(steps, "release gate") == ("ran", 12)
    assert read_record(work / "verdicts.json")["verdict"] == "incomplete"
    assert "shard(s) 2/3 missing" in (work / "verdicts.json").read_text()

    # 3. an audit fails: its job fails, the cache is still saved, the gate says fail (10)
    shutil.rmtree(runner.artifacts)
    runner.env["RUN_ID"] = "2"
    failing = names[1]
    second = audit_jobs("fail", fail=failing)
    assert status(second[1], "Audit") == ("ran", 10)
    assert status(second[1], "Save the generation cache") == ("ran", 0)
    assert (runner.caches / "igmu-cache-1-spec-2").is_dir()
    # restored from run 1: nothing is generated again for the passing shards
    steps, work = gate("fail")
    assert status(steps, "release gate") == ("ran", 10)
    assert read_record(work / "verdicts.json")["verdict"] == "fail"
