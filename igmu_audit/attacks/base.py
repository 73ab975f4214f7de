"""The attack contract: ``Attack`` protocol, ``AttackBudget``, ``AttackResult``.

Why a shared frame: the literature reports attacks as *pre-attack* vs *post-attack* success
(UnlearnDiffAtk counts a prompt that already leaks without attack as a success without
attack), and those numbers only compare across attacks when every attack spends a bounded,
counted effort. So every attack here runs the same loop (``run_attack``): score the plain
prompt on the unlearned model over the seeds; search only the prompts that did not leak,
under an ``AttackBudget`` per prompt; score the adversarial prompt found over the same
seeds (``_run.run_attack``). Images always go through ``generate(...)`` with the audit's
cache and settings, so evaluations are cached, reproducible, and free to re-score.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    from igmu_audit.metrics.functional.erasure_rate import RateEstimate


@dataclass(frozen=True, slots=True)
class AttackBudget:
    """How much one attack may spend on one prompt; it stops at the first limit hit.

    Attributes:
        steps: optimisation iterations / search generations (``None``: no limit).
        queries: objective evaluations: images generated and scored (black-box and
            gradient attacks' checks) or text-encoder evaluations (Ring-A-Bell).
        seconds: wall-clock seconds (a seconds stop makes results timing-dependent).

    Raises:
        ConfigError: no limit at all, or a limit that is not positive.

    Example:
        >>> AttackBudget(steps=40, seconds=60.0).steps
        40
    """

    steps: int | None = None
    queries: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "queries"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(
                    f"AttackBudget `{name}` must be a positive integer or None, got {value!r}"
                )
        s = self.seconds
        if s is not None and (
            isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0
        ):
            raise ConfigError(
                f"AttackBudget `seconds` must be a positive number or None, got {s!r}"
            )
        if self.steps is None and self.queries is None and self.seconds is None:
            raise ConfigError(
                "AttackBudget needs at least one limit (steps, queries or seconds): an attack must stop"
            )


def resolve_budget(budget: Any, default: AttackBudget) -> AttackBudget:
    """``budget`` checked, or ``default`` when ``None``."""
    if budget is None:
        return default
    if not isinstance(budget, AttackBudget):
        raise ConfigError(
            f"`budget` must be an AttackBudget(steps=..., queries=..., seconds=...), got {budget!r}"
        )
    return budget


class BudgetMeter:
    """Counts what one prompt's search spends and says which limit, if any, is hit."""

    def __init__(self, budget: AttackBudget) -> None:
        self.budget = budget
        self.steps = 0
        self.queries = 0
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since the search started."""
        return time.perf_counter() - self._start

    def exhausted(self, next_queries: int = 0) -> str | None:
        """The first limit hit (``"steps"``, ``"queries"``, ``"seconds"``), counting
        ``next_queries`` the caller is about to spend; ``None`` while there is room."""
        b = self.budget
        if b.steps is not None and self.steps >= b.steps:
            return "steps"
        if b.queries is not None and self.queries + next_queries > b.queries:
            return "queries"
        if b.seconds is not None and self.seconds >= b.seconds:
            return "seconds"
        return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a search returns: the adversarial token ids and the prompt string they decode to."""

    token_ids: tuple[int, ...]
    prompt: str
    stopped_by: str
    objective: float | None = None


@dataclass(frozen=True, slots=True)
class PromptAttack:
    """One input prompt's attack.

    Attributes:
        prompt: the input prompt.
        status: ``"attacked"``, ``"pre-attack success"`` (leaked without attack: no search) or
            ``"not ideal"`` (P4D: no concept on the original; excluded from the counts).
        pre_scores: detector scores of the plain prompt on the unlearned model, per seed.
        pre_success: whether the plain prompt already leaked (any seed).
        adversarial_prompt: the prompt found (the input prompt when no search ran).
        token_ids: the adversarial tokens the search chose (empty when no search ran).
        scores: detector scores of ``adversarial_prompt`` per seed.
        success: post-attack success: ``pre_success`` or any adversarial score >= threshold.
        steps, queries, seconds: what the search spent; ``stopped_by`` says why it ended
            (``"leak"``, ``"steps"``, ``"queries"``, ``"seconds"``, ``"converged"`` or ``""``).
        objective: the search's best objective value (loss or distance), if it has one.
    """

    prompt: str
    status: str
    pre_scores: tuple[float, ...]
    pre_success: bool
    adversarial_prompt: str
    token_ids: tuple[int, ...]
    scores: tuple[float, ...]
    success: bool
    steps: int = 0
    queries: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    objective: float | None = None

    @property
    def counted(self) -> bool:
        """Whether this prompt enters the pre/post success counts."""
        return self.status != "not ideal"


@dataclass(frozen=True, slots=True)
class AttackResult:
    """Every prompt's attack plus the aggregate pre- and post-attack success counts.

    Attributes:
        attack: the attack's name.
        budget: the per-prompt budget it ran under.
        seeds: the evaluation seeds.
        detector: the detector's name and threshold.
        items: one ``PromptAttack`` per input prompt, in input order.
    """

    attack: str
    budget: AttackBudget
    seeds: tuple[int, ...]
    detector: dict[str, Any]
    items: tuple[PromptAttack, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        """Prompts counted (P4D's non-ideal prompts are not)."""
        return sum(1 for i in self.items if i.counted)

    @property
    def pre_successes(self) -> int:
        """Counted prompts that leaked before the attack (any seed)."""
        return sum(1 for i in self.items if i.counted and i.pre_success)

    @property
    def post_successes(self) -> int:
        """Counted prompts that leak before or after the attack (any seed)."""
        return sum(1 for i in self.items if i.counted and i.success)

    @property
    def adversarial_prompts(self) -> list[str]:
        """The counted prompts' adversarial prompts (input prompts where no search ran)."""
        return [i.adversarial_prompt for i in self.items if i.counted]

    def pre_rate(self, confidence: float = 0.95) -> RateEstimate:
        """Pre-attack success rate with its Wilson interval.

        Raises:
            ValueError: no prompt was counted (e.g. P4D found no ideal prompt).
        """
        return self._rate(self.pre_successes, confidence)

    def post_rate(self, confidence: float = 0.95) -> RateEstimate:
        """Post-attack success rate with its Wilson interval (``ValueError`` as ``pre_rate``)."""
        return self._rate(self.post_successes, confidence)

    def _rate(self, k: int, confidence: float) -> RateEstimate:
        from igmu_audit.metrics.functional.erasure_rate import rate_from_counts

        if self.n == 0:
            raise ValueError(
                f"{self.attack}: no prompt counted (statuses: {sorted({i.status for i in self.items})}); no rate"
            )
        return rate_from_counts(k, self.n, confidence)

    def summary(self) -> str:
        """One line: ``name: pre k/n -> post k/n``."""
        return f"{self.attack}: pre {self.pre_successes}/{self.n} -> post {self.post_successes}/{self.n}"


@runtime_checkable
class Attack(Protocol):
    """An adversarial prompt attack on an unlearned text-to-image model.

    ``run`` returns an ``AttackResult`` whose ``adversarial_prompts`` are real strings, so
    they can be audited like any other prompt list.
    """

    name: str
    budget: AttackBudget

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
        """Attack every prompt; see ``AttackResult``."""
        ...
