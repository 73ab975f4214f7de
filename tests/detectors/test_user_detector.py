"""A user's own detector, end to end: the example of docs/extending.md as a real package.

The documented module and its entry point are written to a temporary folder on
``sys.path`` with a ``*.dist-info`` (what ``pip install`` leaves), so importlib.metadata
finds the entry point exactly as it finds an installed package's; the same class is also
registered in process from a ``conftest.py``. Both drive real audits of a tiny real
pipeline in a pytester run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

# Imported before the in-process pytester runs below snapshot ``sys.modules``: a module
# those runs import first is dropped afterwards, and a fresh import would then hand later
# tests other objects than the ones ``igmu_audit`` already handed out.
import igmu_audit.assertions  # noqa: F401
from igmu_audit.config import load_config
from igmu_audit.detectors import (
    Detector,
    available_detectors,
    get_detector,
    register_detector,
    registry,
)
from igmu_audit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
MODULE_MARK = "# my_detectors/red.py"


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def _documented_module() -> str:
    (module,) = [b for b in _blocks("python") if b.startswith(MODULE_MARK)]
    return module


def _documented_entry_points() -> str:
    """The documented ``[project.entry-points.*]`` table as ``entry_points.txt`` text."""
    for block in _blocks("toml"):
        table = tomllib.loads(block).get("project", {}).get("entry-points", {})
        if "igmu_audit.detectors" in table:
            return "".join(
                f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
                for group, eps in table.items()
            )
    raise AssertionError(f"{DOC} shows no igmu_audit.detectors entry point")


def _forget_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "my_detectors"]:
        monkeypatch.delitem(sys.modules, name)


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points", None)


@pytest.fixture
def user_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The documented package on ``sys.path``; with ``dist-info`` unless asked not to."""
    site = tmp_path / "site"
    (site / "my_detectors").mkdir(parents=True)
    (site / "my_detectors" / "__init__.py").write_text("", encoding="utf-8")
    (site / "my_detectors" / "red.py").write_text(
        _documented_module(), encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    _forget_imports(monkeypatch)
    yield site
    _forget_imports(monkeypatch)


def _install_metadata(site: Path) -> None:
    info = site / "my_detectors-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-detectors\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(_documented_entry_points(), encoding="utf-8")


def _images(red: float, others: float) -> torch.Tensor:
    """Two 8x8 images: the left half of each is (red, others, others), the right grey."""
    batch = torch.full((2, 3, 8, 8), 0.5)
    batch[:, 0, :, :4] = red
    batch[:, 1:, :, :4] = others
    return batch


def test_the_documented_detector_is_found_through_its_entry_point_lazily(
    user_package: Path,
) -> None:
    _install_metadata(user_package)
    assert "red-fraction" in available_detectors()
    assert "my_detectors.red" not in sys.modules
    detector = get_detector("red-fraction", concept="red", margin=0.3)
    assert isinstance(detector, Detector)
    assert "my_detectors.red" in sys.modules
    assert (detector.name, detector.threshold) == ("red-fraction", 0.2)
    assert detector.profile["margin"] == 0.3
    assert detector(_images(1.0, 0.0)).tolist() == [0.5, 0.5]
    assert detector(_images(0.6, 0.5)).tolist() == [0.0, 0.0]


def test_a_misspelt_option_fails_when_the_configuration_is_read(
    user_package: Path, tmp_path: Path
) -> None:
    _install_metadata(user_package)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.igmu_audit.detectors.red-fraction]\nmargn = 0.3\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError,
        match=r"detector 'red-fraction' takes no option 'margn'; did you mean 'margin'\?",
    ):
        load_config(project)
    # Read from the module's source: the detector module itself was not imported.
    assert "my_detectors.red" not in sys.modules


def test_without_its_metadata_the_name_is_unknown_and_the_error_says_how_to_add_it(
    user_package: Path,
) -> None:
    with pytest.raises(ConfigError, match="unknown detector 'red-fraction'") as info:
        get_detector("red-fraction", concept="red")
    assert "'igmu_audit.detectors'" in str(info.value)


AUDIT = """
import pytest
from igmu_audit import AuditFailure, assert_forgotten, get_detector

PROMPTS = ["a prompt %d" % i for i in range(6)]


def test_every_image_counts_as_red_so_the_audit_fails(unlearned_pipeline, igmu_detector):
    # Built from `detector:` for `concept:`, with the options table's margin.
    assert igmu_detector.name == "red-fraction"
    assert igmu_detector.profile["concept"] == "red"
    with pytest.raises(AuditFailure) as info:
        assert_forgotten(unlearned_pipeline, PROMPTS, max_rate=0.05)
    result = info.value.result
    assert result.verdict == "fail"
    assert result.detector["detector"] == "red-fraction"
    assert result.detector["margin"] == -1.0
    assert (result.hits, result.images) == (12, 12)


def test_no_image_counts_as_red_so_the_audit_passes(unlearned_pipeline):
    detector = get_detector("red-fraction", concept="red", margin=1.0)
    result = assert_forgotten(unlearned_pipeline, PROMPTS, detector=detector, max_rate=0.5)
    assert result.verdict == "pass"
    assert (result.hits, result.images) == (0, 12)
"""

PYPROJECT = """
[tool.igmu_audit]
detector = "red-fraction"
concept = "red"

[tool.igmu_audit.detectors.red-fraction]
margin = -1.0
"""


def _run_audit(pytester: pytest.Pytester, tiny_sd_dir: Path) -> pytest.RunResult:
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.makepyfile(test_red=AUDIT)
    return pytester.runpytest(
        f"--igmu-model={tiny_sd_dir}",
        "--igmu-device=cpu",
        "--igmu-seeds=0-1",
        "--igmu-steps=2",
        f"--igmu-cache-dir={pytester.path / 'cache'}",
        "-p",
        "no:cacheprovider",
    )


def test_an_entry_point_detector_drives_real_audits(
    user_package: Path, pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    _install_metadata(user_package)
    result = _run_audit(pytester, tiny_sd_dir)
    result.assert_outcomes(passed=2)


def test_a_detector_registered_in_conftest_drives_the_same_audits(
    user_package: Path, pytester: pytest.Pytester, tiny_sd_dir: Path
) -> None:
    pytester.makeconftest(
        "from igmu_audit import register_detector\n"
        "from my_detectors.red import RedFractionDetector\n\n"
        'register_detector("red-fraction", RedFractionDetector)\n'
    )
    result = _run_audit(pytester, tiny_sd_dir)
    result.assert_outcomes(passed=2)


class _Labelled:
    """A detector whose ``concept`` is a label with a default: the audit leaves it alone."""

    name = "labelled"
    threshold = 0.5

    def __init__(self, concept: str = "label") -> None:
        self.concept = concept

    @property
    def profile(self) -> dict[str, str]:
        return {"concept": self.concept}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images))


def test_only_a_required_concept_is_filled_in_by_the_audit(
    user_package: Path, audit_session: Any
) -> None:
    from my_detectors.red import RedFractionDetector  # type: ignore[import-not-found]

    from igmu_audit.scoring import resolve_detector

    register_detector("labelled", _Labelled)
    register_detector("red-fraction", RedFractionDetector)
    assert (
        resolve_detector("labelled", audit_session, "red").profile["concept"] == "label"
    )
    built = resolve_detector("red-fraction", audit_session, "red")
    assert built.profile["concept"] == "red"
    assert registry.needs_concept("red-fraction")
    assert not registry.needs_concept("labelled")
    assert not registry.needs_concept("nudenet")
