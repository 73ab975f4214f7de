"""Random and greedy discrete token search: the black-box baseline under the same budget.

Why: a gradient attack's gain only means something against what blind search achieves
with the same effort. This attack needs nothing but the rendered images and the detector:
it prepends k real tokens to the prompt and scores the images over the seeds,

    score(x) = max_seed detector(G'(x, seed)),

either drawing every prefix afresh (``greedy=False``: random search) or replacing one
token of the best prefix so far per step and keeping the change when the score does not
drop (``greedy=True``: coordinate hill-climbing). It stops at the first leak.
"""

from __future__ import annotations

from collections.abc import Sequence

from igmu_audit.attacks._run import AttackContext, SearchAttack
from igmu_audit.attacks._tokens import (
    compose,
    diffusers_pipe,
    random_tokens,
    word_token_ids,
)
from igmu_audit.attacks.base import (
    AttackBudget,
    BudgetMeter,
    Candidate,
    resolve_budget,
)
from igmu_audit.errors import ConfigError


class RandomSearch(SearchAttack):
    """Black-box search over k-token prefixes, scored by the detector on rendered images.

    Args:
        budget: per-prompt budget (steps = candidates tried, queries = images; default 40
            steps and 120 s, UnlearnDiffAtk's step count).
        k: prefix tokens.
        greedy: hill-climb one token at a time (``False``: independent random prefixes).
        vocabulary: restrict tokens to those of these words (``None``: every whole-word token).
        seed: seeds the token draws (per prompt).

    Raises:
        ConfigError: invalid options.

    Example:
        >>> RandomSearch(greedy=False).name
        'random-search'
    """

    def __init__(
        self,
        budget: AttackBudget | None = None,
        *,
        k: int = 5,
        greedy: bool = True,
        vocabulary: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.budget = resolve_budget(budget, AttackBudget(steps=40, seconds=120.0))
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"`k` must be a positive integer, got {k!r}")
        self.k, self.greedy = k, bool(greedy)
        self.name = "greedy-search" if self.greedy else "random-search"
        self.vocabulary = vocabulary
        self.seed = seed

    def __repr__(self) -> str:
        return f"RandomSearch(k={self.k}, greedy={self.greedy}, budget={self.budget})"

    def _search(self, ctx: AttackContext, meter: BudgetMeter) -> Candidate:
        import torch

        tok = diffusers_pipe(ctx.pipeline).tokenizer
        cands = torch.tensor(word_token_ids(tok, self.vocabulary), dtype=torch.long)
        g = ctx.generator
        best: tuple[float, tuple[int, ...]] = (
            float("-inf"),
            tuple(random_tokens(cands, self.k, g).tolist()),
        )
        proposal = best[1]
        stopped = meter.exhausted(len(ctx.seeds))
        while stopped is None:
            text = compose(tok, proposal, ctx.prompt)
            scores = ctx.scores(text)
            meter.queries += len(ctx.seeds)
            meter.steps += 1
            if ctx.leaks(scores):
                return Candidate(proposal, text, "leak", max(scores))
            if max(scores) >= best[0]:
                best = (max(scores), proposal)
            if self.greedy:
                ids = list(best[1])
                ids[int(torch.randint(self.k, (1,), generator=g))] = int(
                    random_tokens(cands, 1, g)
                )
                proposal = tuple(ids)
            else:
                proposal = tuple(random_tokens(cands, self.k, g).tolist())
            stopped = meter.exhausted(len(ctx.seeds))
        return Candidate(
            best[1],
            compose(tok, best[1], ctx.prompt),
            stopped,
            best[0] if best[0] > float("-inf") else None,
        )
