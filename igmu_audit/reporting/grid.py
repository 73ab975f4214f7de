"""One thumbnail grid PNG of an audit's decisive images, captioned ``p03 s1 0.93``.

A reviewer opening a compliance report wants the worst images at a glance, not
sixteen attachments; a single grid keeps the report small and the order (worst
first) visible. Sensitive concepts are blurred before they are shrunk, so no
thumbnail ever shows what the evidence folder itself would not.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from igmu_audit.reporting.evidence import blur

if TYPE_CHECKING:
    from igmu_audit.results import PromptEvidence

#: thumbnail edge in pixels and the caption strip below each thumbnail
THUMB = 128
CAPTION = 16
GAP = 4
BACKGROUND = (255, 255, 255)
HIT_COLOUR = (178, 24, 43)
MISS_COLOUR = (40, 40, 40)


@dataclass(frozen=True, slots=True)
class Tile:
    """One grid cell: the image file, its caption and whether the concept was detected."""

    path: str
    caption: str
    hit: bool


def decisive_tiles(evidence: Sequence[PromptEvidence], limit: int = 8) -> list[Tile]:
    """The worst ``limit`` images with a file: hits first, then the highest scores.

    The same ranking as the evidence folder (``pick_decisive``), so the grid and the
    failure text point at the same images; passes get their closest calls.
    """
    rows = [
        (not hit, -score, e.index, seed, path)
        for e in evidence
        for seed, score, hit, path in zip(
            e.seeds, e.scores, e.present, e.image_paths, strict=True
        )
        if path is not None
    ]
    rows.sort(key=lambda r: r[:4])
    return [
        Tile(path, f"p{index:02d} s{seed} {-neg:.2f}", not miss)
        for miss, neg, index, seed, path in rows[:limit]
    ]


def pair_tiles(
    pairs: Sequence[tuple[str, str | None, str | None]], limit: int = 8
) -> list[Tile]:
    """Original then unlearned image per pair (a two-column grid), for pairs with both files.

    Captions say which model and which pair (``#3 original``); the prompts are in the
    metrics table, since a 128-pixel caption cannot hold them.
    """
    from pathlib import Path

    tiles: list[Tile] = []
    shown = [(i, u, o) for i, (_, u, o) in enumerate(pairs)
             if u and o and Path(u).is_file() and Path(o).is_file()]  # fmt: skip
    for index, unlearned, original in shown[: max(0, limit // 2)]:
        tiles.append(Tile(original, f"#{index} original", False))
        tiles.append(Tile(unlearned, f"#{index} unlearned", False))
    return tiles


def thumbnail(pixels: np.ndarray, *, sensitive: bool, size: int = THUMB) -> np.ndarray:
    """``pixels`` (H, W, 3 uint8) blurred at full size when sensitive, then fitted into ``size``²."""
    from PIL import Image

    source = blur(pixels) if sensitive else pixels
    image = Image.fromarray(source).convert("RGB")
    scale = size / max(image.size)
    # tiny test-size images are enlarged with crisp pixels; real ones shrink smoothly
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BICUBIC
    image = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        resample,
    )
    return np.asarray(image, dtype=np.uint8)


def load_pixels(path: str) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def render_grid(
    tiles: Sequence[Tile], *, sensitive: bool, columns: int = 4, size: int = THUMB
) -> bytes:
    """The grid as PNG bytes: thumbnails row by row, each with its caption underneath."""
    from PIL import Image, ImageDraw, ImageFont

    if not tiles:
        raise ValueError("render_grid needs at least one tile")
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = size + GAP, size + CAPTION + GAP
    canvas = Image.new("RGB", (columns * cell_w + GAP, rows * cell_h + GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=CAPTION - 4)
    for i, tile in enumerate(tiles):
        x, y = GAP + (i % columns) * cell_w, GAP + (i // columns) * cell_h
        thumb = thumbnail(load_pixels(tile.path), sensitive=sensitive, size=size)
        canvas.paste(
            Image.fromarray(thumb),
            (x + (size - thumb.shape[1]) // 2, y + (size - thumb.shape[0]) // 2),
        )
        draw.text(
            (x + 2, y + size + 2),
            tile.caption,
            fill=HIT_COLOUR if tile.hit else MISS_COLOUR,
            font=font,
        )
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def tile_box(
    index: int, *, count: int, columns: int = 4, size: int = THUMB
) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) pixel box of thumbnail ``index`` in a grid of ``count`` tiles."""
    columns = max(1, min(columns, count))
    x, y = (
        GAP + (index % columns) * (size + GAP),
        GAP + (index // columns) * (size + CAPTION + GAP),
    )
    return x, y, x + size, y + size
