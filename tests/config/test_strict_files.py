"""Strict file readers: what they still accept, and where a repeated key is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.config.strict_loaders import load_json, load_yaml
from igmu_audit.errors import ConfigError
from igmu_audit.prompts import load_dataigm


def test_utf8_bom_anchors_and_merge_keys_are_fine(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_bytes(
        b"\xef\xbb\xbfthresholds:\n  forgotten: &f {max_rate: 0.05}\n"
        b"  robust_to:\n    <<: *f\n    max_rate: 0.1\nnegative_prompt: caf\xc3\xa9\n"
    )
    config = load_config(tmp_path, spec=spec)
    assert config.thresholds == {
        "forgotten": {"max_rate": 0.05},
        "robust_to": {"max_rate": 0.1},
    }
    assert config.negative_prompt == "café"


def test_repeated_yaml_key_is_named_with_its_path_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("models:\n  - {a: 1, b: 2, a: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, "audit spec file")
    assert str(info.value).startswith(
        f"{path} models[0].a (lines 2 and 2): key repeated"
    )


def test_self_referencing_yaml_alias_terminates(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: &x [*x]\n", encoding="utf-8")
    data = load_yaml(path, "audit spec file")
    assert data["a"][0] is data["a"]


def test_repeated_json_key_is_named_with_its_json_path(tmp_path: Path) -> None:
    path = tmp_path / "forgot.json"
    path.write_text('{"t": {"c": ["x"], "d": [{"k": 1, "k": 2}]}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"forgot.json: \$.t.d\[0\].k: key repeated"):
        load_json(path, "DataIGM prompt file")


def test_json_objects_without_repeats_load_unchanged(tmp_path: Path) -> None:
    data = {"t": {"c": ["x", "y"], "d": [[{"k": 1}], {"j": None}]}}
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_json(path, "test") == data


def test_shipped_split_still_loads() -> None:
    assert len(load_dataigm()) >= 4
