"""Seeded, batched image generation through the content-addressed cache.

Each image gets its own CPU ``torch.Generator`` seeded with its seed, so an image
depends only on (model fingerprint, prompt, negative prompt, seed, steps, guidance,
scheduler, resolution, dtype): not on batch size, batch companions, order or device of
the noise. Images are quantised to uint8 exactly as the PNG stores them, so a fresh
image and a cached one are bit-identical downstream.

A degenerate image (NaN / inf latents or pixels, a constant image) raises
``GenerationError`` before it is quantised, cached or scored (see ``degenerate.py``),
and an unwritable cache fails before the first batch is generated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from igmu_audit.pipelines.cache import ImageCache, cache_key
from igmu_audit.pipelines.degenerate import degenerate_reason, generation_error

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """How images are generated; every field is part of the cache key.

    Attributes:
        steps: denoising steps.
        guidance_scale: classifier-free guidance scale.
        height: image height in pixels (``None``: the model's default).
        width: image width in pixels (``None``: the model's default).
        negative_prompt: one negative prompt for every image, or ``None``.
        batch_size: images per pipeline call (never changes an image, only speed).
    """

    steps: int = 25
    guidance_scale: float = 7.5
    height: int | None = None
    width: int | None = None
    negative_prompt: str | None = None
    batch_size: int = 8

    @classmethod
    def from_config(cls, config: Any) -> GenerationSettings:
        """Settings from an ``AuditConfig``."""
        height, width = config.resolution or (None, None)
        return cls(
            steps=config.steps,
            guidance_scale=config.guidance_scale,
            height=height,
            width=width,
            negative_prompt=config.negative_prompt,
            batch_size=config.batch_size,
        )


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One generated image and where it is kept.

    Attributes:
        prompt: the prompt it was generated from.
        seed: its seed.
        key: the cache key (sha256 of every field that determines it).
        pixels: uint8 (H, W, 3) RGB pixels.
        path: the cached PNG, or ``None`` when the cache is off.
        cached: whether it came from the cache rather than the model.
    """

    prompt: str
    seed: int
    key: str
    pixels: np.ndarray
    path: Path | None
    cached: bool


def _unwrap(model: Any) -> tuple[Any, str]:
    """(diffusers pipeline, fingerprint) from a LoadedPipeline or a bare pipeline."""
    if hasattr(model, "pipeline") and hasattr(model, "fingerprint"):
        return model.pipeline, model.fingerprint
    from igmu_audit.pipelines.fingerprint import fingerprint_pipeline

    return model, fingerprint_pipeline(model)


def _scheduler_id(pipe: Any) -> str:
    config = json.dumps(dict(pipe.scheduler.config), sort_keys=True, default=str)
    return f"{type(pipe.scheduler).__name__}:{hashlib.sha256(config.encode()).hexdigest()[:16]}"


def _resolution(pipe: Any, settings: GenerationSettings) -> tuple[int, int]:
    default = pipe.unet.config.sample_size * pipe.vae_scale_factor
    return settings.height or default, settings.width or default


def image_fields(
    model: Any, prompt: str, seed: int, settings: GenerationSettings
) -> dict[str, Any]:
    """Every field that determines one image (the cache key's input)."""
    pipe, fingerprint = _unwrap(model)
    height, width = _resolution(pipe, settings)
    return {
        "model": fingerprint,
        "prompt": prompt,
        "negative_prompt": settings.negative_prompt,
        "seed": int(seed),
        "steps": settings.steps,
        "guidance_scale": float(settings.guidance_scale),
        "scheduler": _scheduler_id(pipe),
        "height": height,
        "width": width,
        "dtype": str(pipe.unet.dtype).removeprefix("torch."),
    }


class _LatentWatch:
    """A ``callback_on_step_end`` that notes, per image, the first step with NaN/inf latents.

    The note stays on the latents' device until :meth:`problems` reads it once, so
    watching costs no host sync per step.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.first_bad: Any = None  # (n,) int tensor: 1-based step, 0 while finite

    def __call__(self, _pipe: Any, step: int, _t: Any, kwargs: dict[str, Any]) -> dict:
        import torch

        latents = kwargs.get("latents")
        if isinstance(latents, torch.Tensor) and latents.shape[0] == self.n:
            bad = ~torch.isfinite(latents.reshape(self.n, -1)).all(dim=1)
            if self.first_bad is None:
                self.first_bad = torch.zeros(
                    self.n, dtype=torch.long, device=latents.device
                )
            fresh = bad & (self.first_bad == 0)
            self.first_bad = torch.where(fresh, step + 1, self.first_bad)
        return {}

    def problems(self) -> dict[int, str]:
        """Image index -> what went wrong in its latents."""
        if self.first_bad is None:
            return {}
        return {
            i: f"latents became NaN/inf at denoising step {step}"
            for i, step in enumerate(self.first_bad.tolist())
            if step
        }


def _watch_kwargs(pipe: Any, watch: _LatentWatch) -> dict[str, Any]:
    # Only pipelines that name the hook get it: a bare **kwargs may forward it anywhere.
    import inspect

    try:
        names = inspect.signature(pipe.__call__).parameters
    except (TypeError, ValueError):
        return {}
    return {"callback_on_step_end": watch} if "callback_on_step_end" in names else {}


def _run_pipeline(
    pipe: Any, fields: Sequence[dict[str, Any]]
) -> tuple[np.ndarray, list[bool], dict[int, str]]:
    """Raw float images, the safety checker's flags and latent problems, per image."""
    import torch

    first = fields[0]
    generators = [torch.Generator("cpu").manual_seed(f["seed"]) for f in fields]
    negative = (
        [f["negative_prompt"] for f in fields]
        if first["negative_prompt"] is not None
        else None
    )
    watch = _LatentWatch(len(fields))
    out = pipe(
        prompt=[f["prompt"] for f in fields],
        negative_prompt=negative,
        num_inference_steps=first["steps"],
        guidance_scale=first["guidance_scale"],
        height=first["height"],
        width=first["width"],
        generator=generators,
        output_type="np",
        **_watch_kwargs(pipe, watch),
    )
    flags = getattr(out, "nsfw_content_detected", None)
    flagged = [bool(f) for f in flags] if isinstance(flags, list) else []
    flagged += [False] * (len(fields) - len(flagged))
    return np.asarray(out.images), flagged, watch.problems()


def _quantise(images: np.ndarray) -> np.ndarray:
    # The same rounding diffusers' numpy_to_pil uses, so saved PNGs equal these pixels.
    return np.asarray((images * 255).round().clip(0, 255), dtype=np.uint8)


def _checked_batch(
    model: Any, pipe: Any, fields: Sequence[dict[str, Any]]
) -> np.ndarray:
    """Generate one batch; raise ``GenerationError`` if any image is degenerate."""
    raw, flagged, latent_problems = _run_pipeline(pipe, fields)
    expected = (len(fields), fields[0]["height"], fields[0]["width"], 3)
    problems: list[tuple[int, str]] = []
    if raw.shape != expected:
        shape = f"images of shape {raw.shape}, expected {expected}"
        problems.append((0, f"the pipeline returned {shape}"))
    for i in range(len(fields) if not problems else 0):
        reasons = [latent_problems.get(i), degenerate_reason(raw[i])]
        if any(reasons):
            problems.append((i, "; ".join(r for r in reasons if r)))
    if problems:
        i, reason = problems[0]
        raise generation_error(
            reason,
            model=model,
            fingerprint=fields[i]["model"],
            prompt=fields[i]["prompt"],
            seed=fields[i]["seed"],
            flagged_by_safety_checker=flagged[i],
            also=[(fields[j]["prompt"], fields[j]["seed"]) for j, _ in problems[1:]],
        )
    return _quantise(raw)


def generate_pairs(
    model: Any,
    pairs: Iterable[tuple[str, int]],
    *,
    settings: GenerationSettings | None = None,
    cache: ImageCache | None = None,
    progress: bool = True,
    desc: str = "igmu-audit generating",
) -> list[GeneratedImage]:
    """Generate one image per (prompt, seed) pair, reading and filling the cache.

    Args:
        model: a ``LoadedPipeline`` (from ``load_pipeline``) or a diffusers pipeline.
        pairs: (prompt, seed) pairs; duplicates are generated once.
        settings: generation settings (default ``GenerationSettings()``).
        cache: the image cache, or ``None`` to always generate and keep nothing.
        progress: show a tqdm bar for the images that must be generated.
        desc: the progress bar's label.

    Returns:
        One ``GeneratedImage`` per pair, in the order given.
    """
    from tqdm.auto import tqdm

    settings = settings or GenerationSettings()
    pipe, _ = _unwrap(model)
    pairs = [(str(p), int(s)) for p, s in pairs]
    fields = {
        pair: image_fields(model, pair[0], pair[1], settings)
        for pair in dict.fromkeys(pairs)
    }
    keys = {pair: cache_key(f) for pair, f in fields.items()}
    done: dict[tuple[str, int], GeneratedImage] = {}
    todo: list[tuple[str, int]] = []
    for pair in fields:
        resolution = (fields[pair]["height"], fields[pair]["width"])
        entry = (
            cache.get(keys[pair], resolution=resolution) if cache is not None else None
        )
        if entry is None:
            todo.append(pair)
        else:
            done[pair] = GeneratedImage(
                pair[0], pair[1], keys[pair], entry.pixels, entry.path, True
            )
    if todo:
        if cache is not None:
            cache.check_writable()  # before the first batch, so none is lost
        pipe.set_progress_bar_config(disable=True)
        device = str(getattr(pipe, "device", "cpu"))
        with tqdm(total=len(todo), desc=desc, unit="img", disable=not progress) as bar:
            for start in range(0, len(todo), settings.batch_size):
                chunk = todo[start : start + settings.batch_size]
                pixels = _checked_batch(model, pipe, [fields[p] for p in chunk])
                for pair, image in zip(chunk, pixels, strict=True):
                    path = None
                    if cache is not None:
                        meta = {
                            **fields[pair],
                            "device": device,
                            "versions": _versions(),
                        }
                        path = cache.put(keys[pair], image, meta)
                    done[pair] = GeneratedImage(
                        pair[0], pair[1], keys[pair], image, path, False
                    )
                bar.update(len(chunk))
    return [done[pair] for pair in pairs]


def generate(
    model: Any,
    prompts: Sequence[str],
    seeds: Sequence[int],
    *,
    settings: GenerationSettings | None = None,
    cache: ImageCache | None = None,
    progress: bool = True,
    desc: str = "igmu-audit generating",
) -> list[GeneratedImage]:
    """Generate every prompt with every seed (prompt-major order); see ``generate_pairs``.

    Example:
        >>> images = generate(model, ["a red circle"], [0, 1], cache=ImageCache(".igmu/cache"))  # doctest: +SKIP
        >>> [(im.prompt, im.seed) for im in images]  # doctest: +SKIP
        [('a red circle', 0), ('a red circle', 1)]
    """
    return generate_pairs(
        model,
        product(prompts, seeds),
        settings=settings,
        cache=cache,
        progress=progress,
        desc=desc,
    )


def to_batch(images: Sequence[GeneratedImage]) -> torch.Tensor:
    """Stack generated images into the canonical float (N, 3, H, W) batch in [0, 1]."""
    import torch

    array = np.stack([im.pixels for im in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)


def _versions() -> dict[str, str]:
    import diffusers
    import torch

    return {"diffusers": diffusers.__version__, "torch": torch.__version__}
