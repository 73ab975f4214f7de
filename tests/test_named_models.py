"""Named models: the toy world by name, a third-party provider by entry point or in process, clear errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from igmu_audit._paths import fixtures_dir
from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines import named
from igmu_audit.pipelines.spec import ModelSpec

TOY = fixtures_dir() / "toyworld"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    """Entry points read again (a test adds a distribution to sys.path)."""
    named._entry_points = None
    named._tables.clear()
    yield
    named._entry_points = None
    named._tables.clear()


def test_toy_world_models_by_name() -> None:
    spec = ModelSpec.from_dict(
        {"path": "toyworld:original", "unet": "toyworld:zoo/uce-striped"}
    )
    assert spec.path == str(TOY / "original")
    assert spec.unet == str(TOY / "zoo" / "uce-striped.safetensors")
    assert spec.label == "original+uce-striped"
    names = named.known_names()
    assert names[0] == "toyworld:original"
    zoo = sorted(p.stem for p in (TOY / "zoo").glob("*.safetensors"))
    assert names[1:] == [f"toyworld:zoo/{z}" for z in zoo]
    assert ModelSpec.coerce("toyworld:zoo/esd-x-striped").path.endswith(
        "zoo/esd-x-striped.safetensors"
    )


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        ModelSpec(path="toyworld:orignal")
    message = str(info.value)
    assert message.startswith("ModelSpec.path: unknown named model 'toyworld:orignal'")
    assert "did you mean 'toyworld:original'?" in message
    assert "toyworld:zoo/uce-striped" in message
    with pytest.raises(
        ConfigError,
        match=r"ModelSpec\.unet: 'acme:sd-1\.5' is neither an existing path",
    ) as info:
        ModelSpec(path=str(TOY / "original"), unet="acme:sd-1.5")
    assert "toyworld:original" in str(info.value)
    assert "igmu_audit.models" in str(info.value)


@pytest.mark.parametrize(
    "value", ["C:/models/sd", "./a:b", "org/name", "a:", "x:/abs", "https://host/x"]
)
def test_paths_and_hub_ids_are_not_names(value: str) -> None:
    assert not named.is_model_name(value)
    assert ModelSpec(path=value).path == value


def test_existing_path_with_a_colon_stays_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme:model").mkdir()
    assert ModelSpec(path="acme:model").path == "acme:model"


def test_in_process_provider(tmp_path: Path) -> None:
    weights = tmp_path / "unet.safetensors"
    weights.write_bytes(b"x")
    named.register_models("my-vendor", {"esd": weights, "gone": tmp_path / "missing"})
    try:
        assert ModelSpec(path=str(TOY / "original"), unet="my-vendor:esd").unet == str(
            weights
        )
        with pytest.raises(
            ConfigError, match=r"'my-vendor:gone' points to .*missing, which is missing"
        ):
            ModelSpec(path="my-vendor:gone")
        with pytest.raises(ConfigError, match="already registered"):
            named.register_models("my-vendor", {})
    finally:
        named.unregister_models("my-vendor")
    with pytest.raises(ConfigError, match="must be a name"):
        named.register_models("x", {})


def test_entry_point_provider_like_a_third_party_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    """A real distribution on sys.path declares the group: resolved without importing it first."""
    pkg = tmp_path / "vendor_models"
    pkg.mkdir()
    (tmp_path / "model").mkdir()
    (pkg / "__init__.py").write_text(
        f"def models():\n    return {{'sd-erased': {str(tmp_path / 'model')!r}}}\n"
    )
    dist = tmp_path / "vendor_models-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vendor-models\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[igmu_audit.models]\nvendor = vendor_models:models\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "vendor" in named.providers()
    assert "vendor_models" not in sys.modules
    assert ModelSpec(path="vendor:sd-erased").path == str(tmp_path / "model")
    assert "vendor:sd-erased" in named.known_names()


def test_broken_provider_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_discovery: None
) -> None:
    dist = tmp_path / "broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[igmu_audit.models]\nbroken = no_such_module:models\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ConfigError,
        match=r"named models of 'broken': cannot load entry point 'no_such_module:models'",
    ):
        ModelSpec(path="broken:x")


def test_spec_file_names_resolve_through_config_and_session_checks(
    tmp_path: Path,
) -> None:
    """A YAML spec's names stay names (not made relative to the spec's folder) and resolve."""
    from igmu_audit.preflight import check_inputs

    spec = tmp_path / "specs" / "m.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "version: 1\nmodel: {path: toyworld:original, unet: toyworld:zoo/uce-striped}\n"
        "original: toyworld:original\n"
    )
    config = load_config(tmp_path, spec=spec)
    assert config.model == {
        "path": "toyworld:original",
        "unet": "toyworld:zoo/uce-striped",
    }
    check_inputs(config)
    assert ModelSpec.from_dict(config.model).unet == str(
        TOY / "zoo" / "uce-striped.safetensors"
    )
    spec.write_text(
        "version: 1\nmodel: {path: toyworld:original, unet: toyworld:zoo/uce}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"unknown named model 'toyworld:zoo/uce' \(did you mean 'toyworld:zoo/uce-striped'\?\)",
    ):
        check_inputs(load_config(tmp_path, spec=spec))


def test_core_resolution_does_not_import_the_toy_world_by_name() -> None:
    source = (ROOT / "igmu_audit" / "pipelines" / "named.py").read_text()
    assert "igmu_audit.toyworld" not in source
    code = (
        "import sys; from igmu_audit.pipelines.spec import ModelSpec; ModelSpec(path='org/name');"
        "print('igmu_audit.toyworld' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]
