"""Generate images for prompts x seeds and score them with a detector, keeping the evidence.

This is the shared middle of ``assert_forgotten`` and ``assert_robust_to``: the images of
the audited model (and, for the vacuity check, of the original) scored per (prompt, seed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError, DetectorError
from igmu_audit.results import ModelInfo, PromptEvidence

if TYPE_CHECKING:
    import torch

    from igmu_audit.detectors.base import Detector
    from igmu_audit.pipelines.generation import GeneratedImage
    from igmu_audit.session import AuditSession


@dataclass(frozen=True, slots=True)
class ScoredImages:
    """Images of prompts x seeds with the detector's scores, in prompt-major order."""

    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    images: tuple[GeneratedImage, ...]
    scores: tuple[float, ...]
    present: tuple[bool, ...]

    def per_prompt(self) -> list[tuple[int, str, list[int]]]:
        """(prompt index, prompt, indices of its images) in prompt order."""
        s = len(self.seeds)
        return [
            (i, p, list(range(i * s, (i + 1) * s))) for i, p in enumerate(self.prompts)
        ]

    def join(self, more: ScoredImages) -> ScoredImages:
        """These images plus ``more`` (same prompts, new seeds), still prompt-major.

        Why: a sequential audit scores only the seeds a look adds, not every image again.
        """
        if more.prompts != self.prompts or set(more.seeds) & set(self.seeds):
            raise ValueError("join needs the same prompts and disjoint seeds")
        a, b = len(self.seeds), len(more.seeds)
        index = [
            pair
            for i in range(len(self.prompts))
            for pair in [(self, i * a + j) for j in range(a)]
            + [(more, i * b + j) for j in range(b)]
        ]

        def pick(field: str) -> tuple[Any, ...]:
            return tuple(getattr(source, field)[k] for source, k in index)

        return ScoredImages(
            self.prompts,
            self.seeds + more.seeds,
            pick("images"),
            pick("scores"),
            pick("present"),
        )

    def subset(self, prompts: Sequence[str]) -> ScoredImages:
        """The images of ``prompts`` only (a subsequence of ``self.prompts``), same seeds.

        Why: the vacuity rule is decided after every prompt was scored; the audit then
        judges the counted prompts without generating or scoring them again.
        """
        row = {p: i for i, p in enumerate(self.prompts)}
        s = len(self.seeds)
        idx = [row[p] * s + j for p in prompts for j in range(s)]
        return ScoredImages(
            tuple(prompts),
            self.seeds,
            tuple(self.images[i] for i in idx),
            tuple(self.scores[i] for i in idx),
            tuple(self.present[i] for i in idx),
        )

    def hits_of(self, prompt: str) -> int:
        """How many of ``prompt``'s images show the concept."""
        i, s = self.prompts.index(prompt), len(self.seeds)
        return sum(self.present[i * s : (i + 1) * s])


#: Longer than any text encoder reads (CLIP 77 tokens, T5 512): a file's contents, not a prompt.
MAX_PROMPT_CHARS = 4096


def check_prompts(prompts: Any, argument: str = "prompts") -> tuple[str, ...]:
    """Validate a prompt list before any expensive work (what was wrong, how to fix)."""
    if isinstance(prompts, str):
        raise ConfigError(
            f"`{argument}` must be a list of prompts, got a single string {prompts!r}; wrap it: [{prompts!r}]"
        )
    if isinstance(prompts, (bytes, bytearray)):
        raise ConfigError(
            f"`{argument}` must be a list of prompts, got {type(prompts).__name__}; decode it: [data.decode()]"
        )
    if isinstance(prompts, Mapping):
        raise ConfigError(
            f"`{argument}` must be a list of prompts, got a mapping (its keys would be audited); "
            "pass a list, e.g. [p for ps in mapping.values() for p in ps]"
        )
    if isinstance(prompts, (set, frozenset)):
        raise ConfigError(
            f"`{argument}` must be an ordered list of prompts, got a {type(prompts).__name__} "
            "(its order, and so the evidence, changes between runs); pass sorted(...)"
        )
    try:
        items = tuple(prompts)
    except TypeError:
        raise ConfigError(
            f"`{argument}` must be a list of prompts, got {type(prompts).__name__}"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"`{argument}` could not be read: iterating it raised {type(exc).__name__}: {exc}"
        ) from exc
    if not items:
        raise ConfigError(f"`{argument}` is empty: an audit needs at least one prompt")
    for i, p in enumerate(items):
        _check_prompt(p, f"`{argument}[{i}]`")
    return items


def _check_prompt(prompt: Any, where: str) -> None:
    """One prompt: a non-empty, encodable string of sane length."""
    if isinstance(prompt, (bytes, bytearray)):
        raise ConfigError(
            f"{where} must be a string, got bytes {prompt!r}; decode it first"
        )
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where} must be a non-empty string, got {prompt!r}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"{where} is not valid Unicode ({exc.reason} at character {exc.start}): "
            "it cannot be tokenized or cached; fix the text's decoding"
        ) from None
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ConfigError(
            f"{where} has {len(prompt)} characters, more than the {MAX_PROMPT_CHARS} a prompt may have "
            f"(text encoders read at most a few hundred tokens): starts {prompt[:40]!r}; split the text into prompts"
        )


def model_info(model: Any) -> ModelInfo:
    """Label and fingerprint of a LoadedPipeline or a bare diffusers pipeline."""
    if hasattr(model, "fingerprint") and hasattr(model, "pipeline"):
        return ModelInfo(str(getattr(model, "label", "model")), model.fingerprint)
    from igmu_audit.pipelines.fingerprint import fingerprint_pipeline

    return ModelInfo(type(model).__name__, fingerprint_pipeline(model))


def resolve_detector(
    detector: Any, session: AuditSession, concept: str | None
) -> Detector:
    """A Detector from an instance, a registry/profile name or a plain callable.

    A detector named here that needs its concept (a required ``concept`` argument, see
    ``needs_concept``) gets the audit's, unless its configured options set one.
    """
    from igmu_audit.detectors import Detector, get_detector
    from igmu_audit.detectors.registry import needs_concept

    if detector is None:
        detector = session.config.detector
        if detector is None:
            raise ConfigError(
                "no detector given: pass detector=... (a Detector, a name like 'nudenet-unlearndiffatk', "
                "or a callable images -> scores) or set `detector:` in the config"
            )
    if isinstance(detector, str):
        options = dict(session.config.detector_settings.get(detector, {}))
        if concept and "concept" not in options and needs_concept(detector):
            options["concept"] = concept
        return get_detector(detector, **options)
    if isinstance(detector, Detector):
        return detector
    if callable(detector):
        from igmu_audit.detectors import CustomDetector

        return CustomDetector(detector)
    raise ConfigError(
        f"`detector` must be a Detector, a detector name or a callable, got {type(detector).__name__}"
    )


def score(detector: Detector, images: Sequence[GeneratedImage]) -> torch.Tensor:
    """Run ``detector`` over ``images`` one at a time; any failure propagates with context.

    One at a time because a batched network's output for an image depends, in its last
    digits, on the batch it shares, and which images share a batch depends on what the
    cache already held: the same audit run twice then wrote different scores, and a score
    at the threshold could decide differently. Generation, not detection, bounds the time.
    """
    import torch

    from igmu_audit.pipelines.generation import to_batch

    out = []
    for start in range(len(images)):
        chunk = images[start : start + 1]
        try:
            scores = detector(to_batch(chunk))
        except DetectorError:
            raise
        except Exception as exc:
            raise DetectorError(
                f"detector {detector.name!r} failed on images {start}..{start + len(chunk) - 1} "
                f"(first prompt {chunk[0].prompt!r}, seed {chunk[0].seed}): {type(exc).__name__}: {exc}"
            ) from exc
        scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
        if scores.numel() != len(chunk) or not bool(torch.isfinite(scores).all()):
            raise DetectorError(
                f"detector {detector.name!r} returned {scores.numel()} scores for {len(chunk)} images "
                "(or NaN/inf): a failed detection is never read as 'absent'"
            )
        out.append(scores)
    return torch.cat(out)


def generate_and_score(
    session: AuditSession,
    model: Any,
    prompts: Sequence[str],
    seeds: Sequence[int],
    detector: Detector,
    *,
    desc: str,
) -> ScoredImages:
    """Images of ``prompts`` x ``seeds`` (through the cache) and their scores.

    Each batch is scored while the next one generates (``pipelines/overlap.py``).
    """
    from itertools import product

    from igmu_audit.pipelines.overlap import generate_scored

    images, scores = generate_scored(
        model,
        product(prompts, seeds),
        lambda batch: score(detector, batch),
        settings=session.settings,
        cache=session.cache,
        desc=desc,
    )
    present = (scores >= detector.threshold).tolist()
    return ScoredImages(
        tuple(prompts),
        tuple(seeds),
        tuple(images),
        tuple(scores.tolist()),
        tuple(present),
    )


def effective_prompts(
    *scored: ScoredImages | None,
) -> tuple[list[str], list[str]]:
    """Split prompts into those some model shows the concept on (any seed) and the rest.

    Each argument scores the same prompts (in the same order) on one model; ``None``
    stands for a model that was not run. The vacuity rule passes the original *and* the
    audited model: a prompt either one shows the concept on counts, so a leak the
    original happens not to show on these seeds is never dropped.
    """
    runs = [s for s in scored if s is not None]
    if not runs:
        raise ValueError("effective_prompts needs at least one scored run")
    effective: list[str] = []
    ineffective: list[str] = []
    for prompt in runs[0].prompts:
        shown = any(run.hits_of(prompt) for run in runs)
        (effective if shown else ineffective).append(prompt)
    return effective, ineffective


def build_evidence(
    scored: ScoredImages,
    folder: Path,
    *,
    sensitive: bool,
    index_of: Callable[[str], int],
    limit: int = 16,
) -> tuple[PromptEvidence, ...]:
    """Per-prompt evidence, worst first; the decisive images are copied into ``folder``."""
    from igmu_audit.reporting.evidence import pick_decisive, save_image

    rows = []
    for pi, _, idx in scored.per_prompt():
        rows += [(pi, i, scored.scores[i], scored.present[i]) for i in idx]
    chosen = set(pick_decisive(rows, limit=limit))
    paths: dict[int, str | None] = {}
    for pi, i, _, _ in rows:
        image = scored.images[i]
        if (pi, i) in chosen:
            name = f"p{index_of(image.prompt):02d}-s{image.seed}.png"
            paths[i] = save_image(folder, name, image.pixels, sensitive=sensitive)
        else:
            paths[i] = str(image.path) if image.path else None
    evidence = [
        PromptEvidence(
            index=index_of(prompt),
            prompt=prompt,
            seeds=tuple(scored.images[i].seed for i in idx),
            scores=tuple(scored.scores[i] for i in idx),
            present=tuple(scored.present[i] for i in idx),
            image_paths=tuple(paths[i] for i in idx),
        )
        for _, prompt, idx in scored.per_prompt()
    ]
    evidence.sort(key=lambda e: (-e.hits, -e.max_score, e.index))
    return tuple(evidence)
