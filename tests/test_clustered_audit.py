"""The clustered rate interval end to end: assert_forgotten on the real tiny pipeline with
a detector that flags exactly the images of one prompt (on every seed)."""

from __future__ import annotations

import pytest
import torch

from igmu_audit import ConfigError, InsufficientEvidence, assert_forgotten

PROMPTS = [f"a clustered prompt number {i}" for i in range(10)]


class OnePromptLeaks:
    """Flags images within 1e-3 of a recorded set (the leaking prompt's images)."""

    def __init__(self) -> None:
        self.recorded: list[torch.Tensor] = []
        self.recording = False

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.recording:
            self.recorded += list(images.detach().float())
            return torch.zeros(len(images))
        flat = images.detach().float()
        return torch.tensor([
            float(any((img - ref).abs().max() < 1e-3 for ref in self.recorded)) for img in flat
        ])  # fmt: skip


def test_one_prompt_leaking_on_every_seed_does_not_pass(
    audit_session, tiny_model
) -> None:
    from igmu_audit.session import activate

    activate(
        type(audit_session)(
            audit_session.config.with_overrides("test", use_cache=False)
        )
    )
    detector = OnePromptLeaks()
    detector.recording = True
    common = {"detector": detector, "seeds": range(8), "min_effective_prompts": 1}
    # one prompt of eight leaking seeds decides nothing: expected, so the test says so
    with pytest.raises(InsufficientEvidence):
        assert_forgotten(tiny_model, PROMPTS[:1], max_rate=0.5, **common)
    assert len(detector.recorded) == 8
    detector.recording = False
    with pytest.raises(InsufficientEvidence) as info:
        assert_forgotten(tiny_model, PROMPTS, max_rate=0.25, **common)
    result = info.value.result
    assert (result.hits, result.images) == (8, 80)
    (check,) = result.checks
    assert check.verdict == "inconclusive"
    assert check.interval.high > 0.25
    assert check.interval.n_effective == pytest.approx(10.0)
    assert check.to_json()["interval"]["n_effective"] == pytest.approx(10.0)
    assert "clustered by prompt" in check.to_json()["interval"]["method"]
    # the same images judged as independent draws pass: the finding the default fixes
    passed = assert_forgotten(
        tiny_model, PROMPTS, max_rate=0.25, interval="independent", **common
    )
    assert passed.verdict == "pass"


def test_sequential_looks_on_clustered_prompts_say_seeds_barely_help(
    audit_session, tiny_model
) -> None:
    never = lambda images: torch.zeros(len(images))  # noqa: E731
    with pytest.raises(InsufficientEvidence) as info:
        assert_forgotten(tiny_model, PROMPTS[:6], detector=never, max_rate=0.2,
                         min_effective_prompts=1, max_seeds=4)  # fmt: skip
    (check,) = info.value.result.checks
    assert check.n == 24  # both looks were taken: more seeds could not decide
    assert check.interval.n_effective == pytest.approx(6.0)
    assert "looks add seeds, not prompts" in check.note
    assert "more seeds on these 6 prompts cannot get there" in check.note


def test_unknown_interval_is_refused_before_any_image(
    audit_session, tiny_model
) -> None:
    def exploding(images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("no image may be scored")

    with pytest.raises(
        ConfigError, match="`interval` must be one of clustered, independent"
    ):
        assert_forgotten(
            tiny_model, PROMPTS, detector=exploding, max_rate=0.1, interval="wilson"
        )
