"""Detector options: checked against the factory's signature when read and when resolved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.config import load_config
from igmu_audit.detectors import (
    CustomDetector,
    get_detector,
    register_detector,
    registry,
)
from igmu_audit.detectors.options import options_from_source
from igmu_audit.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_registry() -> Any:
    saved = dict(registry._registered)
    yield
    registry._registered.clear()
    registry._registered.update(saved)


def test_builtin_options_are_read_from_source_without_importing() -> None:
    options = options_from_source("igmu_audit.toyworld.detector", "ToyWorldDetector")
    assert options is not None
    assert options.names == ("concept", "attribute", "threshold", "weights")
    assert options.types["threshold"] == "float"
    assert not options.open


def test_reading_detector_tables_imports_no_torch(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.igmu_audit.detectors.toyworld]\nthreshold = 0.7\n"
        "[tool.igmu_audit.detectors.nudenet-igmu]\nthreshold = 0.6\n",
        encoding="utf-8",
    )
    code = (
        "import sys; from igmu_audit.config import load_config;"
        f"c = load_config({str(tmp_path)!r});"
        "print(c.detector_settings['toyworld']['threshold'], 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0.7", "False"]


def _fn(images: Any) -> Any:
    return images.mean(dim=(1, 2, 3))


def test_registered_factory_is_checked_when_read_and_when_resolved(
    tmp_path: Path,
) -> None:
    def bright(*, threshold: float = 0.5, gain: int = 1) -> CustomDetector:
        return CustomDetector(_fn, name="bright", threshold=threshold)

    register_detector("bright", bright)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.igmu_audit.detectors.bright]\ngian = 2\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError,
        match=r"\[tool.igmu_audit.detectors.bright\] gian: detector 'bright' takes no "
        r"option 'gian'; did you mean 'gain'\? \(accepted: threshold, gain\)",
    ):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match=r"get_detector\('bright'\) gian: detector"):
        get_detector("bright", gian=2)
    assert get_detector("bright", threshold=0.3).threshold == 0.3


def test_open_factories_and_unknown_third_party_names_are_deferred(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.igmu_audit.detectors.acme-nsfw]\nanything = 1\n", encoding="utf-8"
    )
    assert load_config(tmp_path).detector_settings == {"acme-nsfw": {"anything": 1}}

    def late(**options: Any) -> CustomDetector:
        return CustomDetector(_fn, name="late", threshold=options.get("t", 0.5))

    register_detector("acme-nsfw", late)
    assert get_detector("acme-nsfw", t=0.2).threshold == 0.2


def test_builtin_misspelt_option_fails_before_the_detector_is_built() -> None:
    with pytest.raises(
        ConfigError, match=r"takes no option 'treshold'; did you mean 'threshold'\?"
    ):
        get_detector("toyworld", concept="striped", treshold=0.5)
