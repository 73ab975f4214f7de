"""Seeded, batched image generation through the content-addressed cache.

Each image gets its own CPU ``torch.Generator`` seeded with its seed, so an image
depends only on (model fingerprint, prompt, negative prompt, seed, steps, guidance,
scheduler, resolution, dtype, and for SDXL / SD3 / FLUX the family and its
``generation_args``): not on batch size, batch companions, order or device of the
noise. The family table (``families.py``) says where each pipeline keeps its denoiser
and which arguments it takes, so every family runs through the same code. Images are quantised to uint8 exactly as the PNG stores them, so a fresh
image and a cached one are bit-identical downstream.

A degenerate image (NaN / inf latents or pixels, a constant image) raises
``GenerationError`` before it is quantised, cached or scored (see ``degenerate.py``),
and an unwritable cache fails before the first batch is generated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.cache import ImageCache, cache_key
from igmu_audit.pipelines.degenerate import (
    LatentWatch,
    degenerate_reason,
    generation_error,
    watch_kwargs,
)
from igmu_audit.pipelines.families import (
    call_arguments,
    default_resolution,
    denoiser,
    family_of,
    size_multiple,
)

if TYPE_CHECKING:
    import torch

    from igmu_audit.backends import GenerationBackend


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
        arguments: per-family ``generation_args`` as sorted (name, value) pairs (SDXL
            size conditioning, FLUX ``max_sequence_length`` / ``true_cfg_scale``...).
        vae_tiling: decode in tiles (changes pixels at large sizes, so it is keyed).
        attention_slicing: compute attention in slices (memory only).
        cpu_offload: diffusers' model CPU offload (memory only; needs CUDA).
    """

    steps: int = 25
    guidance_scale: float = 7.5
    height: int | None = None
    width: int | None = None
    negative_prompt: str | None = None
    batch_size: int = 8
    arguments: tuple[tuple[str, Any], ...] = ()
    vae_tiling: bool = False
    attention_slicing: bool = False
    cpu_offload: bool = False

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
            arguments=tuple(
                sorted(dict(getattr(config, "generation_args", {}) or {}).items())
            ),
            vae_tiling=bool(getattr(config, "vae_tiling", False)),
            attention_slicing=bool(getattr(config, "attention_slicing", False)),
            cpu_offload=bool(getattr(config, "cpu_offload", False)),
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


def unwrap(model: Any) -> tuple[Any, str]:
    """(diffusers pipeline, fingerprint) from a LoadedPipeline or a bare pipeline.

    One rule for both the generation loop and the backends, so they cannot disagree on
    which pipeline and which fingerprint an image comes from.
    """
    if hasattr(model, "pipeline") and hasattr(model, "fingerprint"):
        return model.pipeline, model.fingerprint
    from igmu_audit.pipelines.fingerprint import fingerprint_pipeline

    return model, fingerprint_pipeline(model)


def _scheduler_id(pipe: Any) -> str:
    config = json.dumps(dict(pipe.scheduler.config), sort_keys=True, default=str)
    return f"{type(pipe.scheduler).__name__}:{hashlib.sha256(config.encode()).hexdigest()[:16]}"


def _resolution(pipe: Any, settings: GenerationSettings) -> tuple[int, int]:
    default_h, default_w = default_resolution(pipe)
    height, width = settings.height or default_h, settings.width or default_w
    multiple = size_multiple(pipe)
    if height % multiple or width % multiple:
        raise ConfigError(
            f"resolution: {type(pipe).__name__} ({family_of(pipe).name}) needs sides that "
            f"are multiples of {multiple}, got {height}x{width}; pick e.g. "
            f"{height // multiple * multiple or multiple}x{width // multiple * multiple or multiple}"
        )
    return height, width


def image_fields(
    model: Any, prompt: str, seed: int, settings: GenerationSettings
) -> dict[str, Any]:
    """Every field that determines one image (the cache key's input)."""
    pipe, fingerprint = unwrap(model)
    height, width = _resolution(pipe, settings)
    family = family_of(pipe)
    call_arguments(pipe, dict(settings.arguments), settings.negative_prompt)
    # Keys added only where they apply, so SD 1.x/2.x cache entries keep their keys.
    extra: dict[str, Any] = {}
    if family.name != "sd":
        extra["family"] = family.name
    if settings.arguments:
        extra["arguments"] = dict(settings.arguments)
    if settings.vae_tiling:
        extra["vae_tiling"] = True
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
        "dtype": str(denoiser(pipe).dtype).removeprefix("torch."),
        **extra,
    }


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
    watch = LatentWatch(len(fields))
    out = pipe(
        prompt=[f["prompt"] for f in fields],
        negative_prompt=negative,
        num_inference_steps=first["steps"],
        guidance_scale=first["guidance_scale"],
        height=first["height"],
        width=first["width"],
        generator=generators,
        output_type="np",
        **call_arguments(pipe, first.get("arguments", {}), first["negative_prompt"]),
        **watch_kwargs(pipe, watch),
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


def iter_generated(
    model: Any,
    pairs: Iterable[tuple[str, int]],
    *,
    settings: GenerationSettings | None = None,
    cache: ImageCache | None = None,
    progress: bool = True,
    desc: str = "igmu-audit generating",
    backend: GenerationBackend | None = None,
) -> Iterator[list[GeneratedImage]]:
    """Yield the images of the distinct ``pairs`` batch by batch: cached ones first, then
    each generated batch as soon as it is cached (so a scorer can overlap generation).

    On device out-of-memory a batch is retried at half the size (``memory.py``); images
    do not change, since each has its own generator. ``backend`` generates the misses
    (default: the active session's, ``igmu_audit.backends``); the other arguments as in
    ``generate_pairs``.
    """
    from igmu_audit.reporting.progress import meter

    settings = settings or GenerationSettings()
    pipe, _ = unwrap(model)
    fields = {
        pair: image_fields(model, pair[0], pair[1], settings)
        for pair in dict.fromkeys((str(p), int(s)) for p, s in pairs)
    }
    keys = {pair: cache_key(f) for pair, f in fields.items()}
    hits: list[GeneratedImage] = []
    todo: list[tuple[str, int]] = []
    for pair in fields:
        resolution = (fields[pair]["height"], fields[pair]["width"])
        entry = (
            cache.get(keys[pair], resolution=resolution) if cache is not None else None
        )
        if entry is None:
            todo.append(pair)
        else:
            hits.append(
                GeneratedImage(
                    pair[0], pair[1], keys[pair], entry.pixels, entry.path, True
                )
            )
    first = fields[todo[0]] if todo else {}
    device = str(getattr(pipe, "device", "cpu"))
    cost = meter(desc, todo=len(todo), cached=len(hits), fields=first, device=device,
                 cache=cache, enabled=progress)  # fmt: skip
    if hits:
        yield hits
    if not todo:
        return
    if cache is not None:
        cache.check_writable()  # before the first batch, so none is lost
    from igmu_audit.backends import active_backend, each_once

    backend = backend or active_backend()
    with cost as bar:
        # The one seam: the backend generates, this process caches (each entry once).
        for done in each_once(backend, model, [fields[p] for p in todo], settings, desc):  # fmt: skip
            batch = []
            for index, image in zip(done.indices, done.pixels, strict=True):
                pair, path = todo[index], None
                if cache is not None:
                    meta = dict(fields[pair], device=done.device, versions=_versions())
                    path = cache.put(keys[pair], image, meta)
                batch.append(
                    GeneratedImage(pair[0], pair[1], keys[pair], image, path, False)
                )
            bar.update(len(batch))
            yield batch


def generate_pairs(
    model: Any,
    pairs: Iterable[tuple[str, int]],
    *,
    settings: GenerationSettings | None = None,
    cache: ImageCache | None = None,
    progress: bool = True,
    desc: str = "igmu-audit generating",
    backend: GenerationBackend | None = None,
) -> list[GeneratedImage]:
    """Generate one image per (prompt, seed) pair, reading and filling the cache.

    Args:
        model: a ``LoadedPipeline`` (from ``load_pipeline``) or a diffusers pipeline.
        pairs: (prompt, seed) pairs; duplicates are generated once.
        settings: generation settings (default ``GenerationSettings()``).
        cache: the image cache, or ``None`` to always generate and keep nothing.
        progress: show a tqdm bar for the images that must be generated.
        desc: the progress bar's label.
        backend: where misses are generated; default the active session's
            (``local``, or ``ray`` with ``--igmu-backend ray``).

    Returns:
        One ``GeneratedImage`` per pair, in the order given.
    """
    pairs = [(str(p), int(s)) for p, s in pairs]
    done = {
        (im.prompt, im.seed): im
        for batch in iter_generated(
            model,
            pairs,
            settings=settings,
            cache=cache,
            progress=progress,
            desc=desc,
            backend=backend,
        )
        for im in batch
    }
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
    backend: GenerationBackend | None = None,
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
        backend=backend,
    )


def to_batch(images: Sequence[GeneratedImage]) -> torch.Tensor:
    """Stack generated images into the canonical float (N, 3, H, W) batch in [0, 1].

    Always contiguous NCHW: a freshly generated image is a view of the pipeline's CHW
    output, a cached one a fresh HWC array, and a network computes a channels-last batch
    with other kernels, so the same pixels scored differently (last digits) cold and warm.
    """
    import torch

    array = np.stack([im.pixels for im in images])
    batch = torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)
    return batch.contiguous()


def _versions() -> dict[str, str]:
    import diffusers
    import torch

    return {"diffusers": diffusers.__version__, "torch": torch.__version__}
