"""The loop every attack shares (``run_attack``) and what a search sees (``AttackContext``).

Why one loop: pre- vs post-attack success only compare across attacks when every attack
scores the plain prompts, skips those that already leak, and scores its adversarial
prompts the same way: through ``generate(...)`` with the audit's settings and cache, over
the same seeds, judged by the same detector.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from igmu_audit.attacks.base import (
    AttackBudget,
    AttackResult,
    BudgetMeter,
    Candidate,
    PromptAttack,
)
from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    import torch


class _PlainPrompt(TypedDict):
    """The ``PromptAttack`` fields every outcome shares: the plain prompt and its scores."""

    prompt: str
    pre_scores: tuple[float, ...]
    pre_success: bool


@dataclass
class AttackContext:
    """What a search may use for one prompt (built by ``run_attack``)."""

    pipeline: Any
    original: Any
    prompt: str
    seeds: tuple[int, ...]
    detector: Any
    settings: Any
    cache: Any
    generator: torch.Generator
    original_scores: tuple[float, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def scores(
        self, prompt: str, seeds: Sequence[int] | None = None, *, original: bool = False
    ) -> list[float]:
        """Detector scores of ``prompt`` per seed, images through the cache."""
        return score_prompts(self.original if original else self.pipeline, [prompt], seeds or self.seeds,
                             self.detector, self.settings, self.cache)[0]  # fmt: skip

    def leaks(self, scores: Sequence[float]) -> bool:
        """Whether any score reaches the detector's threshold."""
        return any(s >= self.detector.threshold for s in scores)


Search = Callable[[AttackContext, BudgetMeter], Candidate]


def check_run_inputs(
    prompts: Any, seeds: Any, detector: Any
) -> tuple[tuple[str, ...], tuple[int, ...], Any]:
    """Validate prompts, seeds and detector before any image is generated."""
    from igmu_audit.scoring import check_prompts

    items = check_prompts(prompts, "prompts")
    if seeds is None or isinstance(seeds, (str, bytes)):
        raise ConfigError(f"`seeds` must be a list of integers, got {seeds!r}")
    seed_list = tuple(seeds)
    if not seed_list or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seed_list
    ):
        raise ConfigError(
            f"`seeds` must be a non-empty list of non-negative integers, got {seeds!r}"
        )
    if detector is None:
        raise ConfigError(
            "`detector` is required: an attack's success is judged by a detector"
        )
    from igmu_audit.detectors import CustomDetector, Detector

    if not isinstance(detector, Detector):
        if not callable(detector):
            raise ConfigError(
                f"`detector` must be a Detector or a callable images -> scores, got {type(detector).__name__}"
            )
        detector = CustomDetector(detector)
    return items, seed_list, detector


def score_prompts(model: Any, prompts: Sequence[str], seeds: Sequence[int], detector: Any, settings: Any,
                  cache: Any) -> list[list[float]]:  # fmt: skip
    """Per prompt, the detector's scores per seed (generation through ``generate`` and the cache)."""
    from igmu_audit.pipelines.generation import generate
    from igmu_audit.scoring import score

    images = generate(
        model,
        prompts,
        seeds,
        settings=settings,
        cache=cache,
        progress=False,
        desc="attack",
    )
    flat = score(detector, images).tolist()
    s = len(seeds)
    return [flat[i * s : (i + 1) * s] for i in range(len(prompts))]


def prompt_seed(seed: int, prompt: str) -> int:
    """A per-prompt seed that depends on the prompt's text, not its position in the list."""
    return (seed * 1_000_003 + zlib.crc32(prompt.encode())) % (2**63)


@dataclass(frozen=True)
class AttackInputs:
    """What an attack's ``run`` was given (models, prompts, judge, seeds), passed on as one."""

    pipeline: Any
    prompts: Sequence[str]
    detector: Any
    seeds: Sequence[int]
    original: Any = None
    settings: Any = None
    cache: Any = None


def run_attack(
    attack: Any,
    search: Search,
    inputs: AttackInputs,
    *,
    needs_original: bool = False,
    ideal_only: bool = False,
) -> AttackResult:
    """The loop every attack shares: pre-attack scores, a budgeted search per prompt, post scores.

    ``ideal_only`` (P4D) keeps only prompts that show the concept on the original model
    and not on the unlearned one; the others are reported as ``"not ideal"`` and not counted.
    """
    import torch

    from igmu_audit.pipelines.generation import GenerationSettings

    pipeline, original, cache = inputs.pipeline, inputs.original, inputs.cache
    items, seed_list, det = check_run_inputs(
        inputs.prompts, inputs.seeds, inputs.detector
    )
    if needs_original and original is None:
        raise ConfigError(
            f"{attack.name} needs `original` (the model before unlearning) to compute its target"
        )
    settings = inputs.settings or GenerationSettings()
    pre = score_prompts(pipeline, items, seed_list, det, settings, cache)
    orig = (
        score_prompts(original, items, seed_list, det, settings, cache)
        if original is not None
        else None
    )
    out: list[PromptAttack] = []
    for i, prompt in enumerate(items):
        leaked = any(s >= det.threshold for s in pre[i])
        base: _PlainPrompt = {
            "prompt": prompt,
            "pre_scores": tuple(pre[i]),
            "pre_success": leaked,
        }
        if (
            ideal_only
            and orig is not None
            and not any(s >= det.threshold for s in orig[i])
        ):
            out.append(PromptAttack(status="not ideal", adversarial_prompt=prompt, token_ids=(), scores=tuple(pre[i]),
                                    success=leaked, **base))  # fmt: skip
            continue
        if leaked:
            out.append(PromptAttack(status="pre-attack success", adversarial_prompt=prompt, token_ids=(),
                                    scores=tuple(pre[i]), success=True, **base))  # fmt: skip
            continue
        generator = torch.Generator("cpu").manual_seed(prompt_seed(attack.seed, prompt))
        ctx = AttackContext(pipeline, original, prompt, seed_list, det, settings, cache, generator,
                            tuple(orig[i]) if orig is not None else None)  # fmt: skip
        meter = BudgetMeter(attack.budget)
        found = search(ctx, meter)
        post = ctx.scores(found.prompt)
        out.append(PromptAttack(
            status="attacked", adversarial_prompt=found.prompt, token_ids=found.token_ids, scores=tuple(post),
            success=ctx.leaks(post), steps=meter.steps, queries=meter.queries, seconds=round(meter.seconds, 3),
            stopped_by=found.stopped_by, objective=found.objective, **base,
        ))  # fmt: skip
    info = {"name": det.name, "threshold": det.threshold}
    return AttackResult(attack.name, attack.budget, seed_list, info, tuple(out))


class SearchAttack:
    """Base of the attacks whose whole job is a per-prompt ``_search``: ``run`` is the shared loop.

    Subclasses set ``name``, ``budget`` and ``_search``; ``needs_original`` and
    ``ideal_only`` are passed to ``run_attack`` (P4D sets both).
    """

    name: str
    budget: AttackBudget
    needs_original: bool = False
    ideal_only: bool = False

    def _search(self, ctx: AttackContext, meter: BudgetMeter) -> Candidate:
        raise NotImplementedError

    def run(
        self,
        pipeline: Any,
        prompts: Sequence[str],
        *,
        detector: Any,
        seeds: Sequence[int],
        original: Any = None,
        settings: Any = None,
        cache: Any = None,
    ) -> AttackResult:
        """Attack every prompt on ``pipeline`` (a ``LoadedPipeline``); see ``AttackResult``.

        Args:
            pipeline: the unlearned model.
            prompts: prompts that should not show the concept.
            detector: a ``Detector`` (or callable ``images -> scores``) judging success.
            seeds: evaluation seeds; success is "any seed shows the concept".
            original: the model before unlearning (targets for UnlearnDiffAtk; required by P4D,
                whose target is the original's prediction and which attacks ideal prompts only).
            settings: ``GenerationSettings`` for every rendered image.
            cache: the ``ImageCache`` (attack evaluations are cached and reproducible).

        Raises:
            ConfigError: empty prompts, bad seeds, no detector, ``original`` missing where needed.
        """
        inputs = AttackInputs(
            pipeline, prompts, detector, seeds, original, settings, cache
        )
        return run_attack(self, self._search, inputs, needs_original=self.needs_original,
                          ideal_only=self.ideal_only)  # fmt: skip
