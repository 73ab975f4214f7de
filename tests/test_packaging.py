"""The wheel a user installs: every package listed, and the shipped data inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_package_list_matches_the_package_folders() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "igmu_audit").rglob("__init__.py")
    }
    assert listed == found | {"igmu_audit._fixtures"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("igmu_audit-*.whl")
    return found


def test_wheel_ships_the_data_and_the_entry_point(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "igmu_audit/_fixtures/dataigm/forgot.json",
        "igmu_audit/_fixtures/dataigm/retain.json",
        "igmu_audit/_fixtures/lexicons/concepts.json",
        "igmu_audit/_fixtures/toyworld/vocabulary.json",
        "igmu_audit/py.typed",
        "igmu_audit/plugin.py",
    ):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text
    assert "igmu_audit = igmu_audit.plugin" in text


def test_installed_wheel_finds_its_data_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "from igmu_audit.prompts import load_dataigm; import igmu_audit._paths as p; print(p.fixtures_dir()); print(len(load_dataigm()['nudity'].forget_prompts()))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    path, count = out.stdout.split()
    assert Path(path) == site / "igmu_audit" / "_fixtures"
    assert int(count) >= 20
