"""Ring-A-Bell (Tsai et al., ICLR 2024): find the concept through the text encoder alone.

Why: erasure methods that leave the text encoder's *representation* of a concept intact
can be re-triggered by any prompt that lands near it. With f the text encoder's output
(SD's conditioning, 77 × d) and pairs of prompts with / without the concept,

    c = mean_i [ f(p_i^with) - f(p_i^without) ]          (the concept vector)
    T = f(P) + η·c                                        (the target for prompt P)

a genetic algorithm over token ids searches a prompt x minimising || f'(x) - T ||².

``f`` is the original model's text encoder when ``original`` is given (how the concept
looked before unlearning), ``f'`` the unlearned one's, so a text-encoder edit (a rewired
token) is searched around; for UNet-only methods (ESD, UCE) f = f' as in the paper. The
candidate has the target prompt's length and half the initial population are mutations of
the prompt's own tokens (the paper draws all at random; short prompts need the anchor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from igmu_audit.attacks._run import (
    AttackContext,
    AttackInputs,
    check_run_inputs,
    run_attack,
)
from igmu_audit.attacks._tokens import (
    compose,
    diffusers_pipe,
    encode,
    ids_from_tokens,
    input_ids,
    prompt_ids,
    word_token_ids,
)
from igmu_audit.attacks.base import (
    AttackBudget,
    AttackResult,
    BudgetMeter,
    Candidate,
    resolve_budget,
)
from igmu_audit.errors import ConfigError


def strip_words(prompt: str, words: Sequence[str]) -> str:
    """``prompt`` without ``words`` (whole words, case-insensitive), spaces collapsed."""
    for word in words:
        prompt = re.sub(
            rf"(?<!\w){re.escape(word)}(?!\w)", " ", prompt, flags=re.IGNORECASE
        )
    return " ".join(prompt.split())


class RingABell:
    """Genetic search for a prompt whose text embedding is the prompt's plus η × the concept vector.

    Args:
        budget: per-prompt budget (steps = generations, queries = candidates encoded;
            default 150 generations, 60 s).
        concept: the concept's word(s); pairs are (prompt, prompt without the words).
        pairs: explicit (with concept, without concept) prompt pairs instead.
        eta: η, the concept vector's strength (the paper uses 3 for nudity).
        population: candidates per generation.
        mutation: per-token mutation probability.
        crossover: probability that a child takes a token from its second parent.
        vocabulary: restrict tokens to those of these words (``None``: every whole-word token).
        seed: seeds the genetic search (per prompt).

    Raises:
        ConfigError: neither ``concept`` nor ``pairs``, or invalid options.

    Example:
        >>> RingABell(concept="circle").name
        'ring-a-bell'
    """

    name = "ring-a-bell"

    def __init__(
        self,
        budget: AttackBudget | None = None,
        *,
        concept: str | Sequence[str] | None = None,
        pairs: Sequence[tuple[str, str]] | None = None,
        eta: float = 3.0,
        population: int = 64,
        mutation: float = 0.25,
        crossover: float = 0.5,
        vocabulary: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.budget = resolve_budget(budget, AttackBudget(steps=150, seconds=60.0))
        if concept is None and not pairs:
            raise ConfigError(
                "RingABell needs `concept` (its word or words) or `pairs` of prompts with/without it"
            )
        self.words = [concept] if isinstance(concept, str) else list(concept or [])
        self.pairs = [(str(a), str(b)) for a, b in pairs] if pairs else None
        if (
            isinstance(population, bool)
            or not isinstance(population, int)
            or population < 4
        ):
            raise ConfigError(
                f"`population` must be an integer >= 4, got {population!r}"
            )
        for name, value in (("mutation", mutation), ("crossover", crossover)):
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(
                    f"`{name}` must be a probability in [0, 1], got {value!r}"
                )
        if not isinstance(eta, (int, float)) or isinstance(eta, bool):
            raise ConfigError(f"`eta` must be a number, got {eta!r}")
        self.eta, self.population, self.mutation, self.crossover = (
            float(eta),
            population,
            mutation,
            crossover,
        )
        self.vocabulary = vocabulary
        self.seed = seed

    def __repr__(self) -> str:
        return f"RingABell(eta={self.eta}, population={self.population}, budget={self.budget})"

    def concept_vector(self, prompts: Sequence[str], reference: Any) -> Any:
        """c = mean_i [f(p_i^with) - f(p_i^without)] on ``reference``'s text encoder."""
        import torch

        pairs = self.pairs or [
            (p, strip_words(p, self.words))
            for p in prompts
            if strip_words(p, self.words) != p
        ]
        if not pairs:
            raise ConfigError(
                f"RingABell: no prompt contains the concept words {self.words!r}; pass `pairs=`"
            )
        pipe = diffusers_pipe(reference)
        with torch.no_grad():
            on = encode(
                pipe.text_encoder, input_ids(pipe.tokenizer, [a for a, _ in pairs])
            )
            off = encode(
                pipe.text_encoder, input_ids(pipe.tokenizer, [b for _, b in pairs])
            )
        return (on - off).mean(0).float()

    def _search(self, ctx: AttackContext, meter: BudgetMeter) -> Candidate:
        import torch

        pipe = diffusers_pipe(ctx.pipeline)
        reference = diffusers_pipe(ctx.original) if ctx.original is not None else pipe
        tok, te, g = pipe.tokenizer, pipe.text_encoder, ctx.generator
        cands = torch.tensor(word_token_ids(tok, self.vocabulary), dtype=torch.long)
        with torch.no_grad():
            target = encode(
                reference.text_encoder, input_ids(reference.tokenizer, [ctx.prompt])
            )[0].float()
        target = target + self.eta * ctx.extra["concept"].to(target.device)
        allowed = set(cands.tolist())
        own = torch.tensor(
            [i if i in allowed else int(cands[0]) for i in prompt_ids(tok, ctx.prompt)]
            or [int(cands[0])]
        )
        n, length = self.population, len(own)

        def mutate(pop: torch.Tensor) -> torch.Tensor:
            mask = torch.rand(pop.shape, generator=g) < self.mutation
            return torch.where(
                mask, cands[torch.randint(len(cands), pop.shape, generator=g)], pop
            )

        pop = torch.cat(
            [
                mutate(own.repeat(n // 2, 1)),
                cands[torch.randint(len(cands), (n - n // 2, length), generator=g)],
            ]
        )
        pop[0] = own
        best: tuple[float, tuple[int, ...]] = (float("inf"), tuple(own.tolist()))
        stopped = meter.exhausted(n)
        while stopped is None:
            with torch.no_grad():
                dist = (
                    (encode(te, ids_from_tokens(tok, pop)).float() - target)
                    .pow(2)
                    .mean(dim=(1, 2))
                    .cpu()
                )
            meter.queries += n
            meter.steps += 1
            order = dist.argsort()
            if float(dist[order[0]]) < best[0]:
                best = (float(dist[order[0]]), tuple(pop[order[0]].tolist()))
            parents = pop[order[: n // 2]]
            a = parents[torch.randint(len(parents), (n - 1,), generator=g)]
            b = parents[torch.randint(len(parents), (n - 1,), generator=g)]
            children = torch.where(
                torch.rand(a.shape, generator=g) < self.crossover, b, a
            )
            pop = torch.cat([parents[:1], mutate(children)])
            stopped = meter.exhausted(n)
        return Candidate(
            best[1],
            compose(tok, best[1]),
            stopped,
            best[0] if best[0] < float("inf") else None,
        )

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
        """Attack every prompt on ``pipeline``; see ``UnlearnDiffAtk.run``.

        The concept vector is computed once per run, from ``pairs`` or from ``prompts``
        with the concept words removed, on ``original``'s text encoder when given.

        Raises:
            ConfigError: empty prompts, bad seeds, no detector, no prompt with the concept.
        """
        items, _, _ = check_run_inputs(prompts, seeds, detector)
        vector = self.concept_vector(
            items, original if original is not None else pipeline
        )

        def search(ctx: AttackContext, meter: BudgetMeter) -> Candidate:
            ctx.extra["concept"] = vector
            return self._search(ctx, meter)

        inputs = AttackInputs(
            pipeline, items, detector, seeds, original, settings, cache
        )
        return run_attack(self, search, inputs)
