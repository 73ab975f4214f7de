"""Configuration: precedence, provenance, path resolution and errors that teach."""

from __future__ import annotations

from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.seeds == (0, 1, 2, 3)
    assert config.steps == 25
    assert config.dtype == "float32"
    assert config.model is None
    assert config.sources == {}
    assert config.source_of("seeds") == "default"
    assert config.cache_dir == str(tmp_path / ".igmu" / "cache")


def test_precedence_cli_over_ini_over_pyproject_over_yaml(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.igmu_audit]\nsteps = 30\nseeds = [7]\nguidance_scale = 5\n",
    )
    spec = write(
        tmp_path / "spec.yaml",
        "steps: 40\nseeds: [1, 2]\nguidance_scale: 3\nbatch_size: 2\ndtype: float16\n",
    )
    config = load_config(tmp_path, cli={"steps": "10"}, ini={"seeds": "4-5"}, spec=spec)
    assert config.steps == 10
    assert config.seeds == (4, 5)
    assert config.guidance_scale == 5.0
    assert config.batch_size == 2
    assert config.dtype == "float16"
    assert config.source_of("steps") == "command line"
    assert config.source_of("seeds") == "pytest ini"
    assert config.source_of("guidance_scale") == "pyproject.toml [tool.igmu_audit]"
    assert config.source_of("batch_size") == "spec.yaml"


def test_spec_named_in_pyproject_and_paths_relative_to_their_source(
    tmp_path: Path,
) -> None:
    (tmp_path / "models" / "sd").mkdir(parents=True)
    write(tmp_path / "pyproject.toml", '[tool.igmu_audit]\nspec = "audits/esd.yaml"\n')
    write(
        tmp_path / "audits" / "esd.yaml",
        "model: {path: ../models/sd, unet: ckpt/esd.safetensors}\noriginal: CompVis/stable-diffusion-v1-4\n",
    )
    config = load_config(tmp_path)
    assert config.model == {
        "path": str(tmp_path / "models" / "sd"),
        "unet": str(tmp_path / "audits" / "ckpt" / "esd.safetensors"),
    }
    assert config.original == {
        "path": "CompVis/stable-diffusion-v1-4"
    }  # a hub id stays a hub id
    assert config.spec_path == str(tmp_path / "audits" / "esd.yaml")


def test_thresholds_merge_per_key_with_their_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.igmu_audit.thresholds]\nforgotten = { max_rate = 0.05 }\n",
    )
    spec = write(
        tmp_path / "s.yaml",
        "thresholds: {forgotten: {max_rate: 0.2, confidence: 0.9}}\n",
    )
    config = load_config(tmp_path, spec=spec)
    assert config.thresholds == {"forgotten": {"max_rate": 0.05, "confidence": 0.9}}
    assert (
        config.source_of("thresholds.forgotten.max_rate")
        == "pyproject.toml [tool.igmu_audit]"
    )
    assert config.source_of("thresholds.forgotten.confidence") == "s.yaml"


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (
            "seedz = [1]",
            r"pyproject.toml \[tool.igmu_audit\] seedz: unknown key; did you mean 'seeds'\?",
        ),
        (
            'steps = "many"',
            r"pyproject.toml \[tool.igmu_audit\] steps: expected a number but got the string 'many'",
        ),
        (
            'dtype = "float64"',
            r"dtype: expected one of float32, float16, bfloat16 \(or fp32, fp16, half, bf16\) but got 'float64'",
        ),
        ("seeds = [1, 1]", r"seeds: expected distinct seeds"),
        (
            "guidance_scale = true",
            r"guidance_scale: expected a number in \[0, 100\] but got True",
        ),
        ("resolution = 30", r"resolution: expected a resolution divisible by 8"),
        (
            "[tool.igmu_audit.profiles.objct]",
            r"profiles.objct: unknown task category; did you mean 'object'\?",
        ),
        (
            "[tool.igmu_audit.profiles.concept]\nforgotten = { max_rte = 0.1 }",
            r"\[tool.igmu_audit.profiles.concept\] forgotten.max_rte: unknown key; did you mean 'max_rate'\?",
        ),
    ],
)
def test_pyproject_errors_name_file_key_and_accepted_values(
    tmp_path: Path, pyproject: str, message: str
) -> None:
    header = "" if pyproject.startswith("[") else "[tool.igmu_audit]\n"
    write(tmp_path / "pyproject.toml", header + pyproject + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "task: nudity\n",
            r"s.yaml task: expected one of object, style, concept, identity but got 'nudity'",
        ),
        ("model: {pth: x}\n", r"s.yaml model.pth: unknown key; did you mean 'path'\?"),
        ("model: {unet: x.safetensors}\n", r"s.yaml model: missing 'path'"),
        (
            "thresholds: {forgoten: {max_rate: 1}}\n",
            r"thresholds.forgoten: unknown aspect; did you mean 'forgotten'\?",
        ),
        (
            "- a\n- b\n",
            r"s.yaml: expected a mapping of settings at the top level, got list",
        ),
        ("seeds: [a\n", r"s.yaml: not valid YAML"),
        ("version: 2\n", r"version: expected 1 but got 2"),
    ],
)
def test_yaml_errors(tmp_path: Path, yaml_text: str, message: str) -> None:
    spec = write(tmp_path / "s.yaml", yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, spec=spec)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--igmu-spec .*nope.yaml: file not found"):
        load_config(tmp_path, spec="nope.yaml", invocation_dir=tmp_path)


def test_config_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        load_config(tmp_path, cli={"sedes": 1})


@pytest.mark.parametrize(
    ("raw", "seeds"),
    [
        ("0-3", (0, 1, 2, 3)),
        ("0,1,5", (0, 1, 5)),
        ("2-3,7", (2, 3, 7)),
        (3, (0, 1, 2)),
        ([4, 2], (4, 2)),
    ],
)
def test_seed_forms(tmp_path: Path, raw: object, seeds: tuple[int, ...]) -> None:
    assert load_config(tmp_path, cli={"seeds": raw}).seeds == seeds


@pytest.mark.parametrize(
    ("raw", "devices"),
    [
        ("auto", ("auto",)),
        ("0,1", ("cuda:0", "cuda:1")),
        ("cpu", ("cpu",)),
        (["cuda:2", 3], ("cuda:2", "cuda:3")),
    ],
)
def test_device_forms(tmp_path: Path, raw: object, devices: tuple[str, ...]) -> None:
    assert load_config(tmp_path, cli={"devices": raw}).devices == devices


def test_with_overrides_records_the_source(tmp_path: Path) -> None:
    config = load_config(tmp_path).with_overrides("@pytest.mark.igmu", seeds=[9])
    assert config.seeds == (9,)
    assert config.source_of("seeds") == "@pytest.mark.igmu"
