"""The vacuity rule never hides a leak; audits without a reference say so (issue 13).

Two real tiny pipelines with different weights stand for the original and the unlearned
model; a lookup detector flags exactly the (model, prompt, seed) images a test plans,
found by their pixels, so every count below is known in advance.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import torch

from igmu_audit import InsufficientEvidence, assert_forgotten, assert_robust_to

PROMPTS = [f"a vacuity prompt number {i}" for i in range(4)]
SEEDS = (0, 1, 2)


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A second tiny pipeline (other weights): the 'unlearned' model beside tiny_model."""
    from helpers.tiny_sd import save_tiny_pipeline

    from igmu_audit import load_pipeline

    return load_pipeline(save_tiny_pipeline(tmp_path_factory.mktemp("other") / "m", 1))


def _key(image: torch.Tensor) -> str:
    return hashlib.sha256(image.numpy().tobytes()).hexdigest()


def lookup_detector(
    session, plan: Mapping[tuple[object, str, int], bool], models: tuple[object, ...]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A detector that answers ``plan[(model, prompt, seed)]`` for each image it is shown."""
    from igmu_audit.pipelines.generation import generate, to_batch

    table: dict[str, bool] = {}
    for model in models:
        for image in generate(
            model,
            PROMPTS,
            SEEDS,
            settings=session.settings,
            cache=session.cache,
            progress=False,
        ):
            table[_key(to_batch([image])[0])] = plan.get(
                (model, image.prompt, image.seed), False
            )

    def detect(images: torch.Tensor) -> torch.Tensor:
        return torch.tensor([float(table[_key(im)]) for im in images])

    return detect


def test_a_leak_the_original_misses_is_counted_and_shown_side_by_side(
    audit_session, tiny_model, other_model
) -> None:
    # original: prompts 0 and 1 on every seed; unlearned: only prompt 2 on seed 0,
    # where the original draws nothing. The old rule dropped prompt 2 and its leak.
    plan = {(tiny_model, PROMPTS[p], s): True for p in (0, 1) for s in SEEDS}
    plan[(other_model, PROMPTS[2], 0)] = True
    detector = lookup_detector(audit_session, plan, (tiny_model, other_model))
    result = assert_forgotten(
        other_model, PROMPTS, detector=detector, original=tiny_model, max_rate=0.9,
        seeds=SEEDS, min_effective_prompts=1, interval="independent",
    )  # fmt: skip
    assert result.ineffective == (PROMPTS[3],)  # neither model shows it
    assert (result.hits, result.images) == (1, 9)  # prompts 0-2 x 3 seeds
    rows = {
        e.prompt: (e.original_hits, e.original_seeds, e.hits) for e in result.evidence
    }
    assert rows == {PROMPTS[0]: (3, 3, 0), PROMPTS[1]: (3, 3, 0), PROMPTS[2]: (0, 3, 1)}
    text = "\n".join(result.explain())
    assert "orig   unl" in text
    assert re.search(r"  02  'a vacuity prompt number 2' +0/3    1/3    1\.00 ", text)
    assert (
        "excluded    1 prompt(s) neither model showed the concept on: 'a vacuity prompt number 3'"
        in text
    )
    # paired on the same (prompt, seed): 6 pairs only the original flags, 1 only the
    # unlearned one: McNemar exact p = 2 P(Bin(7, 1/2) <= 1) = 16/128
    paired = result.paired
    assert paired is not None
    assert (paired.pairs, paired.original_only, paired.unlearned_only) == (9, 6, 1)
    assert paired.p_value == pytest.approx(0.125)
    assert paired.p_drop == pytest.approx(8 / 128)  # P(Bin(7, 1/2) >= 6)
    assert paired.difference == pytest.approx(5 / 9)
    assert "McNemar exact p = 0.125" in text
    assert "not gating" in text
    record = json.loads((Path(result.evidence_dir) / "evidence.json").read_text())
    assert record["reference"] == "original"
    assert record["flags"] == ["uncalibrated"]  # no detector card configured
    assert record["paired"]["p_value"] == pytest.approx(0.125)
    assert record["paired"]["gating"] is False
    assert record["ineffective"] == [PROMPTS[3]]
    by_prompt = {e["prompt"]: e["hits"] for e in record["evidence"]}
    assert by_prompt[PROMPTS[2]] == {
        "unlearned": 1,
        "seeds": 3,
        "original": 0,
        "original_seeds": 3,
    }


def test_min_effective_prompts_applies_to_the_counted_prompts(
    audit_session, tiny_model, other_model
) -> None:
    plan = {(other_model, PROMPTS[2], 1): True}  # only the unlearned model, one image
    detector = lookup_detector(audit_session, plan, (tiny_model, other_model))
    with pytest.raises(
        InsufficientEvidence,
        match=r"only 1 of 4 prompts show 'concept' on the original or the audited model",
    ):
        assert_forgotten(other_model, PROMPTS, detector=detector, original=tiny_model, max_rate=0.5,
                         seeds=SEEDS, min_effective_prompts=2)  # fmt: skip


def test_robustness_variants_follow_the_same_rule(
    audit_session, tiny_model, other_model
) -> None:
    plan = {(other_model, PROMPTS[3], s): True for s in SEEDS}
    detector = lookup_detector(audit_session, plan, (tiny_model, other_model))
    with pytest.raises(AssertionError) as info:
        assert_robust_to(other_model, PROMPTS, detector=detector, original=tiny_model, max_rate=0.05,
                         seeds=SEEDS, min_effective_prompts=1, interval="independent")  # fmt: skip
    result = info.value.result
    assert result.verdict == "fail"
    assert [e.prompt for e in result.evidence] == [PROMPTS[3]]
    assert set(result.ineffective) == set(PROMPTS[:3])


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


def test_an_audit_without_a_reference_says_so(audit_session, tiny_model) -> None:
    result = assert_forgotten(
        tiny_model, PROMPTS, detector=never, max_rate=0.9, seeds=SEEDS,
        min_effective_prompts=1,
    )  # fmt: skip
    assert result.verdict == "pass"
    headline = result.explain()[0]
    assert headline.startswith("assert_forgotten: 'concept' PASS: rate 0.000")
    assert headline.endswith(
        "; no reference model (prompts not checked on an original)"
    )
    entry = result.to_json()
    assert entry["reference"] == "none"
    assert entry["flags"] == ["no reference", "uncalibrated"]
    assert result.paired is None
    assert all(e.original_hits is None for e in result.evidence)
    assert "  -      0/3" in "\n".join(result.evidence_table())


def test_require_original_makes_it_inconclusive_before_any_image(
    audit_session, tiny_model
) -> None:
    from igmu_audit.session import activate

    activate(
        type(audit_session)(
            audit_session.config.with_overrides("audit.yaml", require_original=True)
        )
    )

    def untouchable(images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("no image may be scored")

    with pytest.raises(InsufficientEvidence) as info:
        assert_forgotten(tiny_model, PROMPTS, detector=untouchable, max_rate=0.9)
    result = info.value.result
    assert result.verdict == "inconclusive"
    assert result.evidence == ()
    text = str(info.value)
    assert text.splitlines()[0].startswith(
        "assert_forgotten: 'concept' INCONCLUSIVE: reference model"
    )
    assert "require_original is true (from audit.yaml)" in text
    assert "--igmu-original PATH" in text
    assert result.to_json()["flags"] == ["no reference"]


def test_require_original_is_a_checked_setting(tmp_path: Path) -> None:
    from igmu_audit.config import load_config
    from igmu_audit.errors import ConfigError

    (tmp_path / "pyproject.toml").write_text(
        "[tool.igmu_audit]\nrequire_original = 2\nfamily_wise = true\n"
    )
    with pytest.raises(
        ConfigError, match=r"require_original: expected true or false but got 2"
    ):
        load_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.igmu_audit]\nrequire_original = true\nfamily_wise = true\n"
    )
    config = load_config(tmp_path)
    assert config.require_original is True
    assert config.family_wise is True
