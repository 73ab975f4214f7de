"""Bad-input corpus, audit logic (issue 13): the ``require_original`` and ``family_wise``
settings from every source, each a ``ConfigError`` naming the source and the key with
nothing on disk changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from igmu_audit.errors import ConfigError
from tests.corpus.harness import Call, Case, check_case, cli, ids, ini, pyproject, spec


def case(id: str, run: Callable[[Path], Call], *mentions: str) -> Case:
    return Case(id, run, ConfigError, ("true or false", *mentions))


CASES = [
    case("yaml-require-original-int", spec("require_original: 2\n"), "audit.yaml", "require_original", "2"),
    case("yaml-require-original-word", spec("require_original: always\n"), "audit.yaml", "require_original", "always"),
    case("yaml-require-original-list", spec("require_original: [true]\n"), "audit.yaml", "require_original"),
    case("yaml-require-original-float", spec("require_original: 1.0\n"), "audit.yaml", "require_original", "1.0"),
    case("yaml-family-wise-int", spec("family_wise: 0\n"), "audit.yaml", "family_wise", "0"),
    case("yaml-family-wise-method", spec("family_wise: holm\n"), "audit.yaml", "family_wise", "holm"),
    case("yaml-family-wise-mapping", spec("family_wise: {method: holm}\n"), "audit.yaml", "family_wise"),
    case("toml-require-original-string", pyproject('[tool.igmu_audit]\nrequire_original = "sure"\n'), "pyproject.toml", "require_original", "sure"),
    case("toml-family-wise-int", pyproject("[tool.igmu_audit]\nfamily_wise = 1\n"), "pyproject.toml", "family_wise"),
    case("toml-family-wise-array", pyproject("[tool.igmu_audit]\nfamily_wise = [true]\n"), "pyproject.toml", "family_wise"),
    case("ini-family-wise-word", ini(family_wise="bonferroni"), "igmu_family_wise", "bonferroni"),
    case("cli-require-original-word", cli(require_original="maybe"), "--igmu-require-original", "maybe"),
]  # fmt: skip


@pytest.mark.parametrize("bad", CASES, ids=ids(CASES))
def test_bad_audit_logic_setting(bad: Case, tmp_path: Path) -> None:
    check_case(bad, tmp_path)
