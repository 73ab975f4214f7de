"""One dtype rule: the configuration, a ModelSpec and ``load_pipeline`` read a dtype alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.dtypes import canonical_dtype, to_torch_dtype
from igmu_audit.pipelines.loading import ModelSpec, resolve_dtype

SPELLINGS = [
    ("float32", "float32"),
    ("FP32", "float32"),
    ("float", "float32"),
    ("fp16", "float16"),
    ("half", "float16"),
    ("torch.float16", "float16"),
    ("bf16", "bfloat16"),
    (" BFloat16 ", "bfloat16"),
    (torch.bfloat16, "bfloat16"),
    (None, "float32"),
]
BAD = ["float64", "int8", "", "fp8", torch.float64, 16, True]


@pytest.mark.parametrize(("value", "name"), SPELLINGS)
def test_every_door_reads_a_spelling_the_same_way(
    value: object, name: str, tmp_path: Path
) -> None:
    assert canonical_dtype(value) == name
    assert to_torch_dtype(value) == getattr(torch, name)
    assert resolve_dtype(value) == getattr(torch, name)  # type: ignore[arg-type]
    if value is not None:
        assert ModelSpec(path="m", torch_dtype=value).torch_dtype == name  # type: ignore[arg-type]
    if isinstance(value, str):
        (tmp_path / "pyproject.toml").write_text(
            f'[tool.igmu_audit]\ndtype = "{value}"\n', encoding="utf-8"
        )
        assert load_config(rootdir=tmp_path).dtype == name


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_every_door_refuses_the_same_values_naming_the_field(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^torch_dtype: expected one of float32"):
        canonical_dtype(value)
    with pytest.raises(ConfigError, match=r"torch_dtype: expected one of float32"):
        resolve_dtype(value)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^ModelSpec\.torch_dtype: expected"):
        ModelSpec(path="m", torch_dtype=value)  # type: ignore[arg-type]
