"""Registry: names, profiles, entry points, errors that teach, and a cheap import."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

import igmu_audit.detectors as detectors
from igmu_audit.detectors import (
    CustomDetector,
    DetectorProfile,
    available_detectors,
    available_profiles,
    get_detector,
    register_detector,
    registry,
)
from igmu_audit.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no user registrations and re-reads entry points."""
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points", None)


def _brightness(**options: Any) -> CustomDetector:
    return CustomDetector(lambda x: x.mean(dim=(1, 2, 3)), name="brightness", **options)


def test_builtins_are_listed() -> None:
    names = available_detectors()
    assert {"nudenet", "clip-zero-shot", "clip-head", "custom"} <= set(names)
    assert names == tuple(sorted(names))
    # The toy world's detector is no built-in: it comes from its entry point.
    assert "toyworld" in names
    assert "toyworld" not in registry._BUILTINS
    assert "toyworld" in registry._discover_entry_points()


def test_unknown_name_lists_known_names_and_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        get_detector("nudnet-igmu")
    message = str(info.value)
    assert "unknown detector 'nudnet-igmu'" in message
    assert "Did you mean 'nudenet-igmu'?" in message
    assert "clip-zero-shot" in message
    assert "nudenet-person" in message
    assert "igmu_audit.detectors" in message


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(ConfigError, match="unknown detector 'zzzz'") as info:
        get_detector("zzzz")
    assert "Did you mean" not in str(info.value)


def test_register_and_build_with_options() -> None:
    register_detector("brightness", _brightness)
    assert "brightness" in available_detectors()
    detector = get_detector("brightness", threshold=0.25)
    assert detector.threshold == 0.25
    assert detector(torch.ones(2, 3, 4, 4)).tolist() == [1.0, 1.0]


def test_register_refuses_taken_names_unless_overwrite() -> None:
    with pytest.raises(ConfigError, match="already exists"):
        register_detector("nudenet", _brightness)
    with pytest.raises(ConfigError, match="already exists"):
        register_detector("nudenet-igmu", _brightness)
    register_detector("nudenet", _brightness, overwrite=True)
    assert get_detector("nudenet").name == "brightness"


@pytest.mark.parametrize(
    ("name", "factory"), [("", _brightness), ("x", "not callable")]
)
def test_register_validates_arguments(name: str, factory: Any) -> None:
    with pytest.raises(ConfigError):
        register_detector(name, factory)


def test_factory_returning_a_non_detector_is_an_error() -> None:
    register_detector("broken", lambda **_: object())
    with pytest.raises(ConfigError, match="does not follow the Detector protocol"):
        get_detector("broken")


def test_profile_objects_pass_themselves_and_options_are_overrides() -> None:
    received: dict[str, Any] = {}

    def factory(**options: Any) -> CustomDetector:
        received.update(options)
        return _brightness(threshold=options["profile"].options["threshold"])

    register_detector("fake", factory)
    profile = DetectorProfile("fake-strict", "fake", {"threshold": 0.1}, version="3")
    detector = get_detector(profile, extra=1)
    assert received == {"profile": profile, "extra": 1}
    assert detector.threshold == 0.1


def test_profiles_are_frozen_and_serialisable() -> None:
    profile = detectors.get_profile("nudenet-i2p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.version = "2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.options["threshold"] = 0.9  # type: ignore[index]
    record = json.loads(json.dumps(profile.to_dict()))
    assert record["detector"] == "nudenet"
    assert len(record["options"]["classes"]) == 5
    assert set(available_profiles()) >= {
        "nudenet-unlearndiffatk",
        "nudenet-igmu",
        "nudenet-i2p",
        "nudenet-strict",
        "nudenet-person",
    }


def _fake_distribution(root: Path, entry_points: str, module: str = "") -> None:
    info = root / "fake_igmu_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-igmu-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if module:
        (root / "fake_igmu_plugin.py").write_text(textwrap.dedent(module))


def test_entry_point_detectors_are_found_and_loaded_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path,
        """
        [igmu_audit.detectors]
        fake-ep = fake_igmu_plugin:make
        """,
        """
        from igmu_audit.detectors import CustomDetector

        def make(threshold=0.5):
            return CustomDetector(lambda x: x.mean(dim=(1, 2, 3)), name="fake-ep", threshold=threshold)
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_igmu_plugin", raising=False)
    assert "fake-ep" in available_detectors()
    assert "fake_igmu_plugin" not in sys.modules
    detector = get_detector("fake-ep", threshold=0.3)
    assert "fake_igmu_plugin" in sys.modules
    assert (detector.name, detector.threshold) == ("fake-ep", 0.3)
    monkeypatch.delitem(sys.modules, "fake_igmu_plugin")


def test_broken_entry_point_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path, "[igmu_audit.detectors]\nghost = no_such_module_xyz:make\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"entry point 'ghost'.*fake-igmu-plugin.*failed to load"
    ):
        get_detector("ghost")


def test_entry_point_cannot_shadow_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path, "[igmu_audit.detectors]\nnudenet = no_such_module_xyz:make\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="ignoring entry point 'nudenet'"):
        names = available_detectors()
    assert "nudenet" in names


def test_import_loads_no_backend() -> None:
    code = textwrap.dedent(
        """
        import sys
        import igmu_audit.detectors as d
        d.available_detectors(); d.available_profiles(); d.get_profile("nudenet-igmu")
        heavy = {"torch", "open_clip", "onnxruntime", "nudenet", "cv2", "safetensors"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_broken_entry_point_is_deferred_when_options_are_read_and_named_when_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(
        tmp_path, "[igmu_audit.detectors]\nghost = no_such_pkg_xyz.detector:Ghost\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.detector_options("ghost") == ("ghost", None)
    with pytest.raises(
        ConfigError,
        match=r"entry point 'ghost'.*fake-igmu-plugin 1.0\) failed to load: "
        r"ModuleNotFoundError",
    ):
        get_detector("ghost")
