"""Pictures a reviewer would rather look at than read, drawn with PIL only (no matplotlib).

Per audit, an interval plot: one row per check, the measured value as a dot inside its
interval, the threshold as a line, the original model's value (where one was
measured) as a hollow marker beside it, coloured by verdict. Per run, the verdict
matrix: models down, aspects (assertion and concept) across, one coloured cell each.
Both take verdict-record entries (``AuditResult.to_json()``), so the controller can
draw them under xdist from what the workers reported.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: verdict -> cell / marker colour
COLOURS = {
    "pass": (26, 152, 80),
    "fail": (215, 48, 39),
    "inconclusive": (230, 145, 30),
    "error": (120, 120, 120),
}
INK = (30, 30, 30)
GRID = (200, 200, 200)
BACKGROUND = (255, 255, 255)
ROW = 46
LABEL_W = 210
PLOT_W = 420
MARGIN = 12
FONT_SIZE = 12


def _font(size: int = FONT_SIZE) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _span(check: Mapping[str, Any], original: float | None) -> tuple[float, float]:
    values = [check["value"], check["interval"]["low"], check["interval"]["high"],
              check["threshold"]["value"], *([original] if original is not None else [])]  # fmt: skip
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or max(abs(high), 1.0) * 0.1
    return low - pad, high + pad


def interval_plot(
    entry: Mapping[str, Any], original: Mapping[str, float] | None = None
) -> bytes:
    """PNG of one audit's checks: value, interval, threshold and the original's value.

    ``original`` maps a check's metric to the original model's value on it.
    """
    from PIL import Image, ImageDraw

    checks = list(entry.get("checks", []))
    original = original or {}
    height = MARGIN * 2 + ROW * max(1, len(checks)) + 18
    image = Image.new("RGB", (LABEL_W + PLOT_W + MARGIN * 2, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font()
    title = f"{entry.get('assertion', '')}: {entry.get('concept', '')} ({entry.get('verdict', '')})"
    draw.text((MARGIN, MARGIN - 4), title, fill=INK, font=font)
    for row, check in enumerate(checks):
        top = MARGIN + 18 + row * ROW
        mid = top + ROW // 2
        ref = original.get(check["metric"])
        low, high = _span(check, ref)
        x0, x1 = LABEL_W + MARGIN, LABEL_W + MARGIN + PLOT_W - 20

        def at(
            value: float, lo: float = low, hi: float = high, a: int = x0, b: int = x1
        ) -> int:
            return round(a + (value - lo) / (hi - lo) * (b - a))

        colour = COLOURS.get(check["verdict"], INK)
        draw.text((MARGIN, mid - 14), str(check["metric"])[:30], fill=INK, font=font)
        draw.text((MARGIN, mid + 1), f"{check['value']:.3g} [{check['interval']['low']:.3g}, "
                  f"{check['interval']['high']:.3g}] {check['direction']} {check['threshold']['value']:.3g}",
                  fill=colour, font=font)  # fmt: skip
        draw.line([(x0, mid), (x1, mid)], fill=GRID, width=1)
        iv = check["interval"]
        draw.rectangle(
            [at(iv["low"]), mid - 5, max(at(iv["high"]), at(iv["low"]) + 1), mid + 5],
            fill=colour,
        )
        t = at(check["threshold"]["value"])
        draw.line([(t, top + 4), (t, top + ROW - 4)], fill=INK, width=2)
        draw.text((t + 3, top + 2), "threshold", fill=INK, font=_font(10))
        v = at(check["value"])
        draw.ellipse([v - 5, mid - 5, v + 5, mid + 5], fill=INK, outline=BACKGROUND)
        if ref is not None:
            r = at(ref)
            draw.ellipse([r - 5, mid + 8, r + 5, mid + 18], outline=INK, width=2)
            draw.text((r + 7, mid + 7), "original", fill=INK, font=_font(10))
    return _png(image)


def original_values(result: Any) -> dict[str, float]:
    """The original model's value per metric where the audit measured one (leak rates)."""
    paired = getattr(result, "paired", None)
    if paired is None or not getattr(paired, "pairs", 0):
        return {}
    rate = paired.original_hits / paired.pairs
    return {c.metric: rate for c in result.checks if "rate" in c.metric}


def aspect_of(entry: Mapping[str, Any]) -> str:
    """``forgotten nudity``: a matrix column."""
    return f"{str(entry['assertion']).removeprefix('assert_')} {entry['concept']}"


def matrix(
    entries: Sequence[Mapping[str, Any]],
) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Models (rows), aspects (columns) and each cell's verdict (the strongest when repeated).

    Positive controls are left out: they never gate, and a caught FAIL must not paint
    the cell of a concept whose real audit passed.
    """
    from igmu_audit.reporting.outcome import POSITIVE_CONTROL, strongest

    entries = [e for e in entries if POSITIVE_CONTROL not in e.get("flags", ())]

    rows = list(dict.fromkeys(e["model"]["label"] for e in entries))
    columns = list(dict.fromkeys(aspect_of(e) for e in entries))
    cells: dict[tuple[str, str], str] = {}
    for e in entries:
        key = (e["model"]["label"], aspect_of(e))
        cells[key] = (
            strongest([cells.get(key, "pass"), e["verdict"]])
            if key in cells
            else e["verdict"]
        )
    return rows, columns, cells


def verdict_matrix(
    entries: Sequence[Mapping[str, Any]], words: Mapping[str, str]
) -> bytes | None:
    """PNG of the run's verdicts, models x aspects (``None`` without audits)."""
    from PIL import Image, ImageDraw

    rows, columns, cells = matrix(entries)
    if not rows:  # no audits, or only positive controls
        return None
    cell_w, cell_h, head = 130, 34, 40
    image = Image.new("RGB", (LABEL_W + cell_w * len(columns) + MARGIN * 2,
                              head + cell_h * len(rows) + MARGIN * 2), BACKGROUND)  # fmt: skip
    draw = ImageDraw.Draw(image)
    font = _font()
    for j, column in enumerate(columns):
        x = MARGIN + LABEL_W + j * cell_w
        draw.text((x + 4, MARGIN), column[:18], fill=INK, font=font)
        draw.text((x + 4, MARGIN + 14), column[18:36], fill=INK, font=font)
    for i, row in enumerate(rows):
        y = MARGIN + head + i * cell_h
        draw.text((MARGIN, y + 10), row[:28], fill=INK, font=font)
        for j, column in enumerate(columns):
            x = MARGIN + LABEL_W + j * cell_w
            verdict = cells.get((row, column))
            if verdict is None:
                draw.rectangle(
                    [x + 2, y + 2, x + cell_w - 2, y + cell_h - 2], outline=GRID
                )
                continue
            draw.rectangle(
                [x + 2, y + 2, x + cell_w - 2, y + cell_h - 2],
                fill=COLOURS.get(verdict, INK),
            )
            draw.text(
                (x + 8, y + 10), words.get(verdict, verdict), fill=BACKGROUND, font=font
            )
    return _png(image)


def write_interval_plots(results: Sequence[Any]) -> list[Path]:
    """Each result's interval plot as ``interval-plot.png`` in its evidence folder.

    A picture that cannot be written is skipped (the evidence folder was checked
    writable at session start; the verdict never depends on a picture).
    """
    from igmu_audit._atomic import atomic_write_bytes

    written = []
    for result in results:
        if not result.evidence_dir:
            continue
        path = Path(result.evidence_dir) / "interval-plot.png"
        try:
            atomic_write_bytes(
                path, interval_plot(result.to_json(), original_values(result))
            )
        except OSError:
            continue
        written.append(path)
    return written


def write_matrix(
    evidence_root: Path, entries: Sequence[Mapping[str, Any]], words: Mapping[str, str]
) -> Path | None:
    """The run's verdict matrix as ``verdict-matrix.png`` in the evidence root (or None)."""
    from igmu_audit._atomic import atomic_write_bytes

    picture = verdict_matrix(entries, words)
    if picture is None:
        return None
    path = Path(evidence_root) / "verdict-matrix.png"
    try:
        atomic_write_bytes(path, picture)
    except OSError:
        return None
    return path
