"""Bad-input corpus, configuration: every bad setting from every kind of source.

Each case builds one bad input (a YAML spec, a pyproject.toml, command-line or ini
values, a call argument or a marker) and expects a ``ConfigError`` that names the file
or source and the key, with nothing on disk changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.config import load_config
from igmu_audit.context import AuditContext, TestContext
from igmu_audit.errors import ConfigError
from igmu_audit.session import AuditSession
from tests.corpus.harness import Call, Case, check_case, cli, ids, ini, pyproject, spec


def threshold(
    name: str, value: Any, *, marker: bool = False, floor: str = ""
) -> Callable[[Path], Call]:
    """A case that resolves one threshold from a call argument (or the marker)."""

    def run(tmp: Path) -> Call:
        path = tmp / "audits" / "x.yaml"
        path.parent.mkdir()
        path.write_text(floor or "steps: 2\n", encoding="utf-8")
        session = AuditSession(load_config(tmp, spec=path))
        test = TestContext(
            "tests/test_gate.py::test_a", {name: value} if marker else {}
        )
        ctx = AuditContext("assert_forgotten", session, test, None)
        aspect = (
            "preserved"
            if name.startswith(("max_kid", "max_fd", "max_c"))
            else "forgotten"
        )
        return lambda: ctx.threshold(aspect, name, None if marker else value)

    return run


def case(id: str, run: Callable[[Path], Call], *mentions: str) -> Case:
    return Case(id, run, ConfigError, mentions)


PY = "[tool.igmu_audit]\n"
FLOOR = (
    "floor: {forgotten: {max_rate: 0.05, min_effective_prompts: 5, confidence: 0.95}}\n"
)

CASES = [
    # thresholds out of range, YAML spec
    case("yaml-max-rate-5", spec("thresholds: {forgotten: {max_rate: 5}}"), "audit.yaml", "thresholds.forgotten.max_rate", "[0, 1]", "5"),
    case("yaml-max-csdr-inf", spec("thresholds: {preserved: {max_csdr: .inf}}"), "audit.yaml", "thresholds.preserved.max_csdr", "inf"),
    case("yaml-max-rate-nan", spec("thresholds: {robust_to: {max_rate: .nan}}"), "audit.yaml", "thresholds.robust_to.max_rate", "nan"),
    case("yaml-max-rate-negative", spec("thresholds: {forgotten: {max_rate: -0.1}}"), "audit.yaml", "max_rate", "-0.1"),
    case("yaml-min-accuracy-3", spec("thresholds: {preserved: {min_accuracy: 3}}"), "audit.yaml", "thresholds.preserved.min_accuracy", "[0, 1]"),
    case("yaml-accuracy-drop-2", spec("thresholds: {preserved: {max_accuracy_drop: 2}}"), "audit.yaml", "max_accuracy_drop"),
    case("yaml-max-kid-inf", spec("thresholds: {preserved: {max_kid: .inf}}"), "audit.yaml", "thresholds.preserved.max_kid", "finite"),
    case("yaml-max-fd-negative", spec("thresholds: {preserved: {max_fd: -3}}"), "audit.yaml", "max_fd", ">= 0"),
    case("yaml-max-perceptual-string", spec("thresholds: {preserved: {max_perceptual: '0.1'}}"), "audit.yaml", "max_perceptual", "'0.1'"),
    case("yaml-min-effective-2.5", spec("thresholds: {forgotten: {min_effective_prompts: 2.5}}"), "audit.yaml", "min_effective_prompts", "integer", "2.5"),
    case("yaml-min-effective-3.0", spec("thresholds: {forgotten: {min_effective_prompts: 3.0}}"), "audit.yaml", "min_effective_prompts", "3.0"),
    case("yaml-min-effective-0", spec("thresholds: {robust_to: {min_effective_prompts: 0}}"), "audit.yaml", "min_effective_prompts", "[1, 100000]"),
    case("yaml-threshold-bool", spec("thresholds: {forgotten: {max_rate: true}}"), "audit.yaml", "max_rate", "True"),
    case("yaml-threshold-confidence-1", spec("thresholds: {forgotten: {confidence: 1.0}}"), "audit.yaml", "thresholds.forgotten.confidence", "[0.5, 1)"),
    case("yaml-confidence-7", spec("confidence: 7"), "audit.yaml", "confidence", "[0.5, 1)", "7"),
    case("yaml-confidence-0.3", spec("confidence: 0.3"), "audit.yaml", "confidence", "0.3"),
    case("yaml-confidence-string", spec("confidence: '0.9'"), "audit.yaml", "confidence", "remove the quotes"),
    # other settings out of range, YAML spec
    case("yaml-steps-1e11", spec("steps: 1.0e+11"), "audit.yaml", "steps", "10000"),
    case("yaml-steps-huge-int", spec("steps: 100000000000"), "audit.yaml", "steps", "[1, 10000]"),
    case("yaml-steps-bool", spec("steps: true"), "audit.yaml", "steps", "True"),
    case("yaml-steps-string", spec("steps: '25'"), "audit.yaml", "steps", "'25'"),
    case("yaml-batch-size-0", spec("batch_size: 0"), "audit.yaml", "batch_size", "[1, 1024]"),
    case("yaml-batch-size-float", spec("batch_size: 2.5"), "audit.yaml", "batch_size", "2.5"),
    case("yaml-guidance-inf", spec("guidance_scale: .inf"), "audit.yaml", "guidance_scale", "inf"),
    case("yaml-guidance-nan", spec("guidance_scale: .nan"), "audit.yaml", "guidance_scale", "nan"),
    case("yaml-seed-2-64", spec(f"seeds: [{2**64}]"), "audit.yaml", "seeds[0]", "2**63-1"),
    case("yaml-seed-negative", spec("seeds: [0, -1]"), "audit.yaml", "seeds[1]"),
    case("yaml-seed-float", spec("seeds: [0, 1.5]"), "audit.yaml", "seeds[1]", "1.5"),
    case("yaml-seed-range-too-long", spec("seeds: '0-100000000'"), "audit.yaml", "seeds", "100000"),
    case("yaml-seed-count-too-large", spec("seeds: 1000000"), "audit.yaml", "seeds", "100000"),
    case("yaml-resolution-not-8", spec("resolution: 500"), "audit.yaml", "resolution", "divisible by 8"),
    case("yaml-resolution-too-big", spec("resolution: [512, 65536]"), "audit.yaml", "resolution", "4096"),
    case("yaml-resolution-three-sides", spec("resolution: [8, 8, 8]"), "audit.yaml", "resolution"),
    case("yaml-lora-scale-inf", spec("model: {path: m, lora_scale: .inf}"), "audit.yaml", "model.lora_scale"),
    case("yaml-model-path-number", spec("model: {path: 5}"), "audit.yaml", "model.path"),
    case("yaml-version-true", spec("version: true"), "audit.yaml", "version"),
    # the YAML file itself
    case("yaml-repeated-threshold", spec("thresholds:\n  forgotten:\n    max_rate: 0.05\n    max_rate: 0.5\n"), "{tmp}/audit.yaml", "thresholds.forgotten.max_rate", "repeated"),
    case("yaml-repeated-top-key", spec("steps: 2\nseeds: [0]\nsteps: 50\n"), "audit.yaml", "steps", "lines 1 and 3"),
    case("yaml-utf16", spec("steps: 2\n".encode("utf-16")), "{tmp}/audit.yaml", "UTF-16", "save it as UTF-8"),
    case("yaml-utf16-no-bom", spec("steps: 2\n".encode("utf-16-le")), "audit.yaml", "save it as UTF-8"),
    case("yaml-latin1", spec("negative_prompt: café\n".encode("latin-1")), "{tmp}/audit.yaml", "not UTF-8", "line 1"),
    case("yaml-deep-nesting", spec("[" * 100_000 + "]" * 100_000), "{tmp}/audit.yaml", "nested too deeply"),
    case("yaml-top-level-list", spec("- steps: 2\n"), "audit.yaml", "got list"),
    case("yaml-top-level-string", spec("steps\n"), "audit.yaml", "got str"),
    case("yaml-empty", spec(""), "{tmp}/audit.yaml", "empty"),
    case("yaml-only-comments", spec("# nothing yet\n"), "audit.yaml", "empty"),
    case("yaml-directory", lambda tmp: lambda: load_config(tmp, spec=tmp), "{tmp}", "is a directory"),
    case("yaml-syntax", spec("steps: [2\n"), "audit.yaml", "not valid YAML"),
    case("yaml-python-tag", spec("steps: !!python/object/apply:os.getcwd []\n"), "audit.yaml", "not valid YAML"),
    # pyproject.toml
    case("toml-max-rate-5", pyproject(PY + "thresholds = { forgotten = { max_rate = 5 } }\n"), "pyproject.toml [tool.igmu_audit]", "thresholds.forgotten.max_rate"),
    case("toml-profile-max-rate-3", pyproject("[tool.igmu_audit.profiles.concept]\nforgotten = { max_rate = 3.0 }\n"), "pyproject.toml [tool.igmu_audit.profiles.concept]", "forgotten.max_rate", "3.0"),
    case("toml-profile-not-table", pyproject(PY + "profiles = 5\n"), "pyproject.toml [tool.igmu_audit]", "profiles"),
    case("toml-profile-confidence", pyproject("[tool.igmu_audit.profiles.style]\npreserved = { confidence = 0.2 }\n"), "profiles.style", "preserved.confidence"),
    case("toml-steps-float", pyproject(PY + "steps = 1e11\n"), "pyproject.toml [tool.igmu_audit]", "steps"),
    case("toml-seed-2-64", pyproject(PY + f"seeds = [{2**63}]\n"), "pyproject.toml", "seeds[0]"),
    case("toml-confidence-inf", pyproject(PY + "confidence = inf\n"), "pyproject.toml", "confidence", "inf"),
    case("toml-detectors-5", pyproject(PY + "detectors = 5\n"), "pyproject.toml [tool.igmu_audit]", "detectors", "table of detector tables"),
    case("toml-detector-not-table", pyproject("[tool.igmu_audit.detectors]\ntoyworld = 0.5\n"), "[tool.igmu_audit.detectors.toyworld]", "table of options"),
    case("toml-detector-misspelt-option", pyproject("[tool.igmu_audit.detectors.toyworld]\ntreshold = 0.5\n"), "pyproject.toml [tool.igmu_audit.detectors.toyworld]", "treshold", "did you mean 'threshold'"),
    case("toml-detector-option-type", pyproject("[tool.igmu_audit.detectors.toyworld]\nthreshold = \"high\"\n"), "[tool.igmu_audit.detectors.toyworld]", "threshold", "'high'"),
    case("toml-detector-option-nan", pyproject("[tool.igmu_audit.detectors.nudenet]\nthreshold = nan\n"), "[tool.igmu_audit.detectors.nudenet]", "threshold"),
    case("toml-profile-detector-option", pyproject("[tool.igmu_audit.detectors.nudenet-igmu]\nclases = [\"A\"]\n"), "[tool.igmu_audit.detectors.nudenet-igmu]", "clases", "did you mean 'classes'"),
    case("toml-detector-name-typo", pyproject("[tool.igmu_audit.detectors.toyworl]\nthreshold = 0.5\n"), "[tool.igmu_audit.detectors.toyworl]", "did you mean 'toyworld'"),
    case("toml-repeated-key", pyproject(PY + "steps = 2\nsteps = 3\n"), "{tmp}/pyproject.toml", "defined twice"),
    case("toml-utf16", pyproject((PY + "steps = 2\n").encode("utf-16")), "{tmp}/pyproject.toml", "save it as UTF-8"),
    case("toml-latin1", pyproject((PY + 'negative_prompt = "café"\n').encode("latin-1")), "{tmp}/pyproject.toml", "not UTF-8"),
    case("toml-deep-nesting", pyproject(PY + "x = " + "[" * 100_000 + "]" * 100_000 + "\n"), "{tmp}/pyproject.toml"),
    case("toml-igmu-not-table", pyproject("[tool]\nigmu_audit = 5\n"), "pyproject.toml [tool.igmu_audit]", "expected a table"),
    case("toml-floor-loose-threshold", pyproject("[tool.igmu_audit.floor]\nforgotten = { max_rate = 0.05 }\n[tool.igmu_audit.thresholds]\nforgotten = { max_rate = 0.2 }\n"), "max_rate=0.2", "pyproject.toml [tool.igmu_audit] thresholds.forgotten.max_rate", "floor.forgotten.max_rate"),
    # command line and ini
    case("cli-steps-1e11", cli(steps="1e11"), "command line --igmu-steps", "'1e11'"),
    case("cli-steps-huge", cli(steps="100000000000"), "command line --igmu-steps", "10000"),
    case("cli-seeds-range-too-long", cli(seeds="0-100000000"), "command line --igmu-seeds", "100000"),
    case("cli-seed-2-64", cli(seeds=str(2**64)), "command line --igmu-seeds"),
    case("cli-guidance-nan", cli(guidance_scale="nan"), "command line --igmu-guidance", "nan"),
    case("cli-resolution", cli(resolution="512x500"), "command line --igmu-resolution", "divisible by 8"),
    case("cli-batch-size-float", cli(batch_size="2.5"), "command line --igmu-batch-size", "'2.5'"),
    case("ini-steps-zero", ini(steps="0"), "pytest ini igmu_steps", "[1, 10000]"),
    case("ini-seeds-reversed", ini(seeds="5-1"), "pytest ini igmu_seeds", "ascending"),
    case("ini-guidance-huge", ini(guidance_scale="1e9"), "pytest ini igmu_guidance_scale", "[0, 100]"),
    # call arguments and markers
    case("call-max-rate-5", threshold("max_rate", 5), "call argument max_rate", "[0, 1]", "5"),
    case("call-max-rate-string", threshold("max_rate", "0.05"), "call argument max_rate", "'0.05'"),
    case("call-confidence-7", threshold("confidence", 7), "call argument confidence", "[0.5, 1)"),
    case("call-min-effective-2.5", threshold("min_effective_prompts", 2.5), "call argument min_effective_prompts", "2.5"),
    case("call-max-csdr-inf", threshold("max_csdr", float("inf")), "call argument max_csdr", "inf"),
    case("call-max-kid-bool", threshold("max_kid", True), "call argument max_kid", "True"),
    case("marker-max-rate-5", threshold("max_rate", 5, marker=True), "@pytest.mark.igmu", "tests/test_gate.py::test_a", "max_rate", "5"),
    case("marker-confidence-1", threshold("confidence", 1, marker=True), "@pytest.mark.igmu", "confidence", "[0.5, 1)"),
    case("marker-min-effective-nan", threshold("min_effective_prompts", float("nan"), marker=True), "@pytest.mark.igmu", "min_effective_prompts"),
    # the gate floor
    case("floor-call-looser", threshold("max_rate", 0.2, floor=FLOOR), "max_rate=0.2 from call argument", "gate floor 0.05", "audits/x.yaml floor.forgotten.max_rate"),
    case("floor-marker-looser", threshold("min_effective_prompts", 1, marker=True, floor=FLOOR), "from @pytest.mark.igmu", "audits/x.yaml floor.forgotten.min_effective_prompts"),
    case("floor-call-confidence-lower", threshold("confidence", 0.9, floor=FLOOR), "confidence=0.9 from call argument", "floor.forgotten.confidence"),
    case("floor-config-threshold-looser", spec(FLOOR + "thresholds: {forgotten: {max_rate: 0.2}}\n"), "audit.yaml thresholds.forgotten.max_rate", "audit.yaml floor.forgotten.max_rate"),
    case("floor-config-confidence-lower", spec(FLOOR + "confidence: 0.9\n"), "audit.yaml confidence", "floor.forgotten.confidence"),
    case("floor-out-of-range", spec("floor: {forgotten: {max_rate: 5}}\n"), "audit.yaml", "floor.forgotten.max_rate", "[0, 1]"),
    case("floor-unknown-key", spec("floor: {forgotten: {max_rte: 0.1}}\n"), "audit.yaml", "floor.forgotten.max_rte", "did you mean 'max_rate'"),
    case("floor-from-cli", cli(floor={"forgotten": {"max_rate": 0.5}}), "command line floor", "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize("bad", CASES, ids=ids(CASES))
def test_bad_config_is_a_clear_config_error(bad: Case, tmp_path: Path) -> None:
    check_case(bad, tmp_path)


def test_corpus_size() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
