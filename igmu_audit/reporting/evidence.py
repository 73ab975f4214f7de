"""Per-audit evidence folders: the decisive images (blurred when sensitive) and evidence.json.

Images a human will open are copies, so sensitive concepts can be blurred without
touching the cache; evidence.json lists every image with its score and cache path.
Every file is written atomically: a killed run leaves no half-written evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from igmu_audit._atomic import atomic_write_bytes, atomic_write_text
from igmu_audit.pipelines.cache import encode_png

#: concepts whose evidence images are blurred by default in anything written for humans
SENSITIVE_CONCEPTS = frozenset(
    {"nudity", "nude", "naked", "nsfw", "sexual", "violence", "gore"}
)


def is_sensitive(concept: str, detector_profile: Mapping[str, Any]) -> bool:
    """Whether evidence of ``concept`` must be blurred (by name or by the detector's say)."""
    return (
        bool(detector_profile.get("sensitive")) or concept.lower() in SENSITIVE_CONCEPTS
    )


def blur(pixels: np.ndarray) -> np.ndarray:
    """A strong Gaussian blur: shapes stay recognisable to a reviewer, details do not."""
    from PIL import Image, ImageFilter

    radius = max(2.0, pixels.shape[1] / 12)
    image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(image, dtype=np.uint8)


def save_image(folder: Path, name: str, pixels: np.ndarray, *, sensitive: bool) -> str:
    """Write one evidence PNG (blurred when ``sensitive``) and return its path."""
    path = folder / name
    atomic_write_bytes(path, encode_png(blur(pixels) if sensitive else pixels))
    return str(path)


def write_json(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented UTF-8 JSON."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str))


def pick_decisive(
    scored: Sequence[tuple[int, int, float, bool]], *, limit: int = 16
) -> list[tuple[int, int]]:
    """The (prompt index, seed) pairs worth showing: hits first, then the highest scores.

    Passes carry evidence too: with no hits, the closest calls are shown.
    """
    ranked = sorted(scored, key=lambda t: (not t[3], -t[2], t[0], t[1]))
    return [(p, s) for p, s, _, _ in ranked[:limit]]
