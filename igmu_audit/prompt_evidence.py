"""Per-prompt evidence rows and the "leaking prompts" table of the failure text.

Why a module of its own: the table puts the original's and the audited model's hits side
by side (the vacuity rule counts a prompt either model shows the concept on), and that
rendering is one job; ``results.py`` keeps the verdicts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: rows of the evidence table without -vv
MAX_ROWS = 5


@dataclass(frozen=True, slots=True)
class PromptEvidence:
    """Per-prompt evidence: each seed's score, the hits and where the images are.

    Attributes:
        index: the prompt's position in the list the assertion was given.
        prompt: the prompt.
        seeds: the seeds generated.
        scores: the detector's score per seed.
        present: whether the concept was detected per seed.
        image_paths: per seed, the image a human can open (evidence copy or cache), or None.
        original_hits: images of the original model (same prompt, the audit's first
            seeds) showing the concept; ``None`` without a reference model.
        original_seeds: how many seeds the original was generated on.
    """

    index: int
    prompt: str
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    present: tuple[bool, ...]
    image_paths: tuple[str | None, ...]
    original_hits: int | None = None
    original_seeds: int = 0

    @property
    def hits(self) -> int:
        """Images of this prompt in which the concept shows."""
        return sum(self.present)

    @property
    def max_score(self) -> float:
        """The highest score over seeds."""
        return max(self.scores)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for evidence files and records."""
        out: dict[str, Any] = {"index": self.index, "prompt": self.prompt, "images": [
            {"seed": s, "score": sc, "present": p, "path": path}
            for s, sc, p, path in zip(self.seeds, self.scores, self.present, self.image_paths, strict=True)
        ]}  # fmt: skip
        out["hits"] = {"unlearned": self.hits, "seeds": len(self.seeds)}
        if self.original_hits is not None:
            out["hits"].update(
                original=self.original_hits, original_seeds=self.original_seeds
            )
        return out


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an audited model: its display label and fingerprint."""

    label: str
    fingerprint: str

    def __str__(self) -> str:
        algo, _, digest = self.fingerprint.partition(":")
        return f"{self.label}  {algo}:{digest[:8]}.." if digest else self.label


def rel(path: str | None) -> str:
    """``path`` relative to the working directory (as pytest shows paths), ``-`` for None."""
    if path is None:
        return "-"
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def evidence_table(
    evidence: Sequence[PromptEvidence], max_rows: int | None = MAX_ROWS
) -> list[str]:
    """The worst prompts as a table, capped at ``max_rows`` (``None``: all).

    Columns ``orig`` and ``unl``: hits/seeds of the original and of the audited model on
    the same prompt (``-`` without a reference model).
    """
    rows = [e for e in evidence if e.hits] or list(evidence)
    if not rows:
        return []
    shown = rows if max_rows is None else rows[:max_rows]
    title = f"leaking prompts: {sum(1 for e in evidence if e.hits)} of {len(evidence)}"
    if len(shown) < len(rows):
        title += f" (top {len(shown)} shown; -vv shows all)"
    lines = [
        title,
        f"  {'#':>3}  {'prompt':<46}  {'orig':<5}  {'unl':<5}  max score  evidence",
    ]
    for e in shown:
        paths = [
            p for p, hit in zip(e.image_paths, e.present, strict=True) if hit
        ] or list(e.image_paths)
        first = rel(paths[0]) + (f" (+{len(paths) - 1})" if len(paths) > 1 else "")
        orig = (
            "-" if e.original_hits is None else f"{e.original_hits}/{e.original_seeds}"
        )
        unl = f"{e.hits}/{len(e.seeds)}"
        lines.append(
            f"  {e.index:02d}".rjust(5)
            + f"  {cut(repr(e.prompt), 46):<46}  {orig:<5}  {unl:<5}  {e.max_score:<9.2f}  {first}"
        )
    return lines
