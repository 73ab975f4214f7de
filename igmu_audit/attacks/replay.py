"""Replay published adversarial prompt files (UnlearnDiffAtk, Ring-A-Bell, P4D releases).

Why: the papers publish the prompts they found; replaying them on a new model is the
cheapest robustness check there is (zero search), and comparable with the published
figures when the file's own evaluation seed and guidance are used. The CSV needs a
``prompt`` column; optional columns: ``original_prompt`` (the plain prompt it attacks),
``seed`` or ``evaluation_seed``, ``guidance`` or ``evaluation_guidance``, ``case_number``.
Every malformed value is reported as ``file:line: column ...``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from igmu_audit.attacks._run import (
    AttackContext,
    AttackInputs,
    check_run_inputs,
    run_attack,
)
from igmu_audit.attacks._tokens import diffusers_pipe, prompt_ids
from igmu_audit.attacks.base import (
    AttackBudget,
    AttackResult,
    BudgetMeter,
    Candidate,
    resolve_budget,
)
from igmu_audit.errors import ConfigError

_SEED = ("seed", "evaluation_seed")
_GUIDANCE = ("guidance", "evaluation_guidance")


@dataclass(frozen=True, slots=True)
class AttackPrompt:
    """One row of an attack prompt file.

    Attributes:
        prompt: the adversarial prompt.
        original_prompt: the plain prompt it attacks, if the file says.
        seed: the published evaluation seed, if any.
        guidance: the published guidance scale, if any.
        case_number: the file's case id, if any.
        source: ``"file:line"`` of the row.
    """

    prompt: str
    original_prompt: str | None
    seed: int | None
    guidance: float | None
    case_number: str | None
    source: str


def _cell(row: dict[str, Any], names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        value = row.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def load_attack_prompts(path: str | Path) -> list[AttackPrompt]:
    """Parse an attack prompt CSV.

    Args:
        path: the CSV file (UTF-8, header row first).

    Returns:
        One ``AttackPrompt`` per data row, in file order.

    Raises:
        ConfigError: unreadable file, no ``prompt`` column, no rows, or a malformed row
            (named as ``file:line: column ...``).

    Example:
        >>> load_attack_prompts("fixtures/attacks/nudity.csv")  # doctest: +SKIP
        [AttackPrompt(prompt='...', original_prompt=None, seed=42, guidance=7.5, case_number='0', source='nudity.csv:2')]
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot read attack prompts: {err}") from err
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if "prompt" not in header:
        raise ConfigError(
            f"{file}:1: no `prompt` column (header: {header!r}); an attack prompt file needs one"
        )
    reader.fieldnames = header
    rows: list[AttackPrompt] = []
    for row in reader:
        where = f"{file}:{reader.line_num}"
        if None in row or any(v is None for v in row.values()):
            count = sum(1 for h in header if row.get(h) is not None) + len(
                row.get(None) or []
            )
            raise ConfigError(
                f"{where}: row has {count} fields, the header has {len(header)}"
            )
        prompt = (row.get("prompt") or "").strip()
        if not prompt:
            raise ConfigError(f"{where}: column `prompt` is empty")
        seed = _cell(row, _SEED)
        guidance = _cell(row, _GUIDANCE)
        try:
            seed_value = int(float(seed[1])) if seed else None
            if seed and (
                seed_value is None or seed_value < 0 or float(seed[1]) != seed_value
            ):
                raise ValueError
        except ValueError:
            column, got = seed or ("seed", "")  # only a present cell can fail to parse
            raise ConfigError(
                f"{where}: column `{column}` must be a non-negative integer, got {got!r}"
            ) from None
        try:
            guidance_value = float(guidance[1]) if guidance else None
        except ValueError:
            column, got = guidance or ("guidance", "")  # only a present cell can fail
            raise ConfigError(
                f"{where}: column `{column}` must be a number, got {got!r}"
            ) from None
        case = _cell(row, ("case_number",))
        original = _cell(row, ("original_prompt",))
        rows.append(AttackPrompt(prompt, original[1] if original else None, seed_value, guidance_value,
                                 case[1] if case else None, f"{file.name}:{reader.line_num}"))  # fmt: skip
    if not rows:
        raise ConfigError(f"{file}: no attack prompts (only a header)")
    return rows


class Replay:
    """Replay a published attack prompt file: zero search, one evaluation per row.

    Input prompts are matched to rows by ``original_prompt`` when the file has that
    column, else by position (then the counts must agree).

    Args:
        source: a CSV path or rows from ``load_attack_prompts``.
        use_file_seeds: evaluate each row with its own seed (when it has one).
        use_file_guidance: evaluate each row with its own guidance scale (when it has one).
        budget: accepted for the protocol; a replay spends no search.

    Raises:
        ConfigError: a malformed file (see ``load_attack_prompts``).
    """

    name = "replay"
    seed = 0

    def __init__(self, source: str | Path | Sequence[AttackPrompt], *, use_file_seeds: bool = False,
                 use_file_guidance: bool = False, budget: AttackBudget | None = None) -> None:  # fmt: skip
        self.rows = (
            load_attack_prompts(source)
            if isinstance(source, (str, Path))
            else list(source)
        )
        if not self.rows:
            raise ConfigError("Replay needs at least one attack prompt")
        self.use_file_seeds, self.use_file_guidance = use_file_seeds, use_file_guidance
        self.budget = resolve_budget(budget, AttackBudget(steps=1))

    def __repr__(self) -> str:
        return f"Replay({len(self.rows)} prompts)"

    @property
    def prompts(self) -> list[str]:
        """The plain prompts the rows attack (``original_prompt``, else the row prompt)."""
        return [r.original_prompt or r.prompt for r in self.rows]

    def _match(self, prompts: Sequence[str]) -> dict[str, AttackPrompt]:
        if all(r.original_prompt for r in self.rows):
            by = {r.original_prompt: r for r in self.rows}
            missing = [p for p in prompts if p not in by]
            if missing:
                raise ConfigError(
                    f"Replay: no row has original_prompt {missing[0]!r} ({self.rows[0].source.split(':')[0]})"
                )
            return {p: by[p] for p in prompts}
        if len(prompts) != len(self.rows):
            raise ConfigError(f"Replay: {len(prompts)} prompts for {len(self.rows)} rows; without an `original_prompt` "
                              "column rows are matched by position")  # fmt: skip
        return dict(zip(prompts, self.rows, strict=True))

    def run(self, pipeline: Any, prompts: Sequence[str], *, detector: Any, seeds: Sequence[int], original: Any = None,
            settings: Any = None, cache: Any = None) -> AttackResult:  # fmt: skip
        """Evaluate each matched row's prompt; see ``UnlearnDiffAtk.run``.

        Raises:
            ConfigError: prompts that match no row, bad seeds, no detector.
        """
        items, _, _ = check_run_inputs(prompts, seeds, detector)
        rows = self._match(items)

        def search(ctx: AttackContext, meter: BudgetMeter) -> Candidate:
            row = rows[ctx.prompt]
            if self.use_file_seeds and row.seed is not None:
                ctx.seeds = (row.seed,)
            if self.use_file_guidance and row.guidance is not None:
                ctx.settings = replace(ctx.settings, guidance_scale=row.guidance)
            meter.steps += 1
            ids = tuple(prompt_ids(diffusers_pipe(ctx.pipeline).tokenizer, row.prompt))
            return Candidate(ids, row.prompt, "replay")

        inputs = AttackInputs(
            pipeline, items, detector, seeds, original, settings, cache
        )
        return run_attack(self, search, inputs)
