"""Synthetic toy-world data: seeded 32x32 shape images and multilingual captions.

Why synthetic: every image has exact ground-truth labels (shape, colour, texture), so the
toy detector, toy CLIP and toy diffusion model are trained and measured against facts, and
the whole world regenerates from a seed on any machine.

Splits: ``"train"`` and ``"test"`` draw images from disjoint random streams (held-out
seeds) and captions from disjoint templates (held-out templates per language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

#: Side of every toy image in pixels.
IMAGE_SIZE = 32
_SUPERSAMPLE = 4
_SPLITS = ("train", "test")

#: What an image shows for an attribute its caption leaves unnamed. Why: if a caption that
#: names no texture paired with any texture, the generator would learn "no texture word =
#: any texture" and draw stripes unprompted; with a default, leaving the word out means plain.
DEFAULT_CLASS: dict[str, str] = {"texture": "plain"}

#: Mean RGB of each colour concept (jittered per image).
COLOUR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.12, 0.1),
    "green": (0.1, 0.72, 0.2),
    "blue": (0.15, 0.3, 0.95),
    "yellow": (0.95, 0.85, 0.1),
}


def _check_split(split: str) -> int:
    if split not in _SPLITS:
        raise ValueError(f"`split` must be one of {list(_SPLITS)}, got {split!r}")
    return _SPLITS.index(split)


def _shape_mask(
    shape: str, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], size: float
) -> npt.NDArray[np.bool_]:
    # x, y are pixel offsets from the centre in the shape's own (rotated) frame.
    if shape == "circle":
        return x**2 + y**2 <= size**2
    if shape == "square":
        half = 0.85 * size
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if shape == "triangle":
        top, base = -1.05 * size, 0.75 * size
        half_width = (y - top) / (base - top) * 1.05 * size
        return (y >= top) & (y <= base) & (np.abs(x) <= half_width)
    if shape == "cross":
        arm = 0.34 * size
        return ((np.abs(x) <= arm) & (np.abs(y) <= size)) | (
            (np.abs(y) <= arm) & (np.abs(x) <= size)
        )
    raise ValueError(
        f"`shape` must be one of {list(load_vocabulary().classes('shape'))}, got {shape!r}"
    )


#: Stripe period and dark share (output pixels).
STRIPE_PERIOD = 6.0
#: Dot grid period and dot radius (output pixels). Why this large: the VAE's latents are
#: 4 px apart, and 1.5 px dots on a 6 px grid came back from it as plain (the toy detector
#: saw dotted on 18 % of reconstructions, so no generator trained on them drew dots); 2.5 px
#: dots on an 8 px grid come back as dotted for 92 % (measured before the retrain).
DOT_PERIOD = 8.0
DOT_RADIUS = 2.5


def _texture_mask(
    texture: str, x: np.ndarray, y: np.ndarray, phase: float
) -> np.ndarray:
    # True where the texture darkens the shape; ``phase`` is a fraction of the period.
    if texture == "plain":
        return np.zeros_like(x, dtype=bool)
    if texture == "striped":
        return np.mod(y + phase * STRIPE_PERIOD, STRIPE_PERIOD) < STRIPE_PERIOD / 2
    if texture == "dotted":
        dx = np.mod(x + phase * DOT_PERIOD, DOT_PERIOD) - DOT_PERIOD / 2
        dy = np.mod(y + phase * DOT_PERIOD, DOT_PERIOD) - DOT_PERIOD / 2
        return dx**2 + dy**2 <= DOT_RADIUS**2
    raise ValueError(
        f"`texture` must be one of {load_vocabulary().classes('texture')}, got {texture!r}"
    )


def render(
    shape: str, colour: str, texture: str, background: float, rng: np.random.Generator
) -> np.ndarray:
    """Draw one anti-aliased toy image.

    Args:
        shape, colour, texture: concept names from the vocabulary.
        background: grey level of the background in [0, 1] (tinted and shaded per image).
        rng: source of the jitter (position, size, rotation, colour, noise).

    Returns:
        uint8 array (32, 32, 3): the same pixels a PNG cache would store.
    """
    if colour not in COLOUR_RGB:
        raise ValueError(f"`colour` must be one of {list(COLOUR_RGB)}, got {colour!r}")
    n = IMAGE_SIZE * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / _SUPERSAMPLE
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    size = rng.uniform(7.0, 11.0)
    cx, cy = rng.uniform(size + 1, IMAGE_SIZE - size - 1, size=2)
    angle = np.deg2rad(rng.uniform(-15.0, 15.0))
    dx, dy = xx - cx, yy - cy
    x = np.cos(angle) * dx + np.sin(angle) * dy
    y = -np.sin(angle) * dx + np.cos(angle) * dy
    inside = _shape_mask(shape, x, y, size)
    dark = inside & _texture_mask(texture, x, y, rng.uniform(0.0, 1.0))

    tint = rng.uniform(-0.05, 0.05, size=3)
    gradient = rng.uniform(-0.1, 0.1) * (xx / IMAGE_SIZE - 0.5) + rng.uniform(
        -0.1, 0.1
    ) * (yy / IMAGE_SIZE - 0.5)
    canvas = (background + tint)[None, None, :] + gradient[..., None]
    rgb = np.clip(
        np.asarray(COLOUR_RGB[colour]) + rng.uniform(-0.06, 0.06, size=3), 0.0, 1.0
    )
    canvas = np.where(inside[..., None], rgb, canvas)
    canvas = np.where(dark[..., None], 0.25 * rgb, canvas)
    pooled = canvas.reshape(IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE, 3).mean(
        axis=(1, 3)
    )
    pooled = pooled + rng.normal(0.0, 0.015, size=pooled.shape)
    image: np.ndarray = np.round(np.clip(pooled, 0.0, 1.0) * 255.0).astype(np.uint8)
    return image


def caption_and_mentions(
    shape: str,
    colour: str,
    texture: str,
    *,
    rng: np.random.Generator,
    language: str = "en",
    split: str = "train",
    words: str = "any",
    name_non_default: bool = False,
    leave_default_unnamed: bool = False,
    fewest_attributes: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """Caption an image and say which attributes the caption names.

    Args:
        words: ``"name"`` (English name / first translation), ``"synonyms"`` (only the
            other words: English synonyms, further translations) or ``"any"``.
        name_non_default: only use templates that name every attribute whose class is not
            its :data:`DEFAULT_CLASS` (the generator's training captions: an unnamed texture
            then always means plain).
        leave_default_unnamed: only use templates that leave out every attribute whose class
            is its :data:`DEFAULT_CLASS` (how the generator learns, from enough examples, that
            a short prompt such as "a circle" means a plain one).
        fewest_attributes: of the templates left, only those naming the fewest attributes
            (the least specified captions, which a generator otherwise sees too rarely).

    Returns:
        ``(caption, mentioned)`` where ``mentioned`` lists the attributes the template uses
        (toy CLIP treats a caption as matching every image that agrees on those).
    """
    _check_split(split)
    if words not in ("name", "synonyms", "any"):
        raise ValueError(f"`words` must be 'name', 'synonyms' or 'any', got {words!r}")
    vocab = load_vocabulary()
    if language not in vocab.templates:
        raise ValueError(
            f"`language` must be one of {list(vocab.languages)}, got {language!r}"
        )
    templates = vocab.templates[language][split]

    def named(template: str) -> set[str]:
        return {a for a in ATTRIBUTES if "{" + a + "}" in template}

    classes = dict(zip(ATTRIBUTES, (shape, colour, texture), strict=True))
    defaults = [a for a in DEFAULT_CLASS if classes[a] == DEFAULT_CLASS[a]]
    others = [a for a in DEFAULT_CLASS if classes[a] != DEFAULT_CLASS[a]]
    rules: list[tuple[str, Callable[[str], bool]]] = []
    if name_non_default:
        rules.append((f"names {others}", lambda t: set(others) <= named(t)))
    if leave_default_unnamed:
        rules.append((f"leaves out {defaults}", lambda t: not set(defaults) & named(t)))
    for what, keep in rules:
        templates = [t for t in templates if keep(t)]
        if not templates:
            raise ValueError(
                f"no {language!r} {split!r} template {what} for a "
                f"{texture} {colour} {shape}: add one to vocabulary.json"
            )
    if fewest_attributes:
        fewest = min(len(named(t)) for t in templates)
        templates = [t for t in templates if len(named(t)) == fewest]
    template = str(rng.choice(templates))
    chosen: dict[str, str] = {}
    for attribute, concept in zip(ATTRIBUTES, (shape, colour, texture), strict=True):
        options = vocab.words(concept, language)
        if words == "name" or (words == "synonyms" and len(options) == 1):
            options = options[:1]
        elif words == "synonyms":
            options = options[1:]
        chosen[attribute] = str(rng.choice(options))
    mentioned = tuple(a for a in ATTRIBUTES if a in named(template))
    text = re.sub(r"\s+", " ", template.format(**chosen)).strip()
    return text, mentioned


def caption(
    shape: str,
    colour: str,
    texture: str,
    *,
    rng: np.random.Generator,
    language: str = "en",
    split: str = "train",
    words: str = "any",
    name_non_default: bool = False,
    leave_default_unnamed: bool = False,
    fewest_attributes: bool = False,
) -> str:
    """A caption for an image with these attributes (see :func:`caption_and_mentions`)."""
    return caption_and_mentions(
        shape,
        colour,
        texture,
        rng=rng,
        language=language,
        split=split,
        words=words,
        name_non_default=name_non_default,
        leave_default_unnamed=leave_default_unnamed,
        fewest_attributes=fewest_attributes,
    )[0]


@dataclass(frozen=True)
class ToyDataset:
    """A batch of rendered toy images with their labels.

    Attributes:
        images: uint8 (N, 32, 32, 3).
        labels: int64 (N, 3): class indices for shape, colour, texture (vocabulary order).
    """

    images: np.ndarray
    labels: np.ndarray

    def attributes(self, index: int) -> tuple[str, str, str]:
        """The (shape, colour, texture) names of image ``index``."""
        vocab = load_vocabulary()
        shape, colour, texture = (
            vocab.classes(a)[int(i)]
            for a, i in zip(ATTRIBUTES, self.labels[index], strict=True)
        )
        return shape, colour, texture


def sample_dataset(n: int, seed: int, split: str = "train") -> ToyDataset:
    """Render ``n`` images with uniformly drawn attributes; ``split`` picks a disjoint stream."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}")
    rng = np.random.default_rng([seed, _check_split(split)])
    vocab = load_vocabulary()
    sizes = [len(vocab.classes(a)) for a in ATTRIBUTES]
    labels = np.stack([rng.integers(0, k, size=n) for k in sizes], axis=1).astype(
        np.int64
    )
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        names = [
            vocab.classes(a)[int(j)] for a, j in zip(ATTRIBUTES, labels[i], strict=True)
        ]
        shape, colour, texture = names
        images[i] = render(
            shape, colour, texture, background=float(rng.uniform(0.3, 0.8)), rng=rng
        )
    return ToyDataset(images=images, labels=labels)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1], the project's image batch."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
