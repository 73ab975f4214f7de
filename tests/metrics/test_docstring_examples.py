"""Every docstring example in the metrics package runs offline and is right."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import igmu_audit.metrics

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(igmu_audit.metrics.__path__, "igmu_audit.metrics.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
