"""Every docstring example in the metrics and attacks packages runs offline and is right."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import igmu_audit.attacks
import igmu_audit.metrics

MODULES = sorted(
    m.name
    for package in (igmu_audit.metrics, igmu_audit.attacks)
    for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
