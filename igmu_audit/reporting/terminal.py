"""Terminal text: the report header line and the end-of-run "igmu-audit verdicts" section."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from igmu_audit._version import __version__
from igmu_audit.config import AuditConfig
from igmu_audit.reporting import outcome


def _short(value: Any, rootpath: Path) -> str:
    if isinstance(value, dict) and "path" in value:
        value = value.get("label") or value["path"]
    if isinstance(value, str) and os.path.isabs(value):
        try:
            return os.path.relpath(value, rootpath)
        except ValueError:
            return value
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        contiguous = list(value) == list(range(value[0], value[0] + len(value)))
        return (
            f"{value[0]}-{value[-1]}"
            if contiguous and len(value) > 2
            else ",".join(map(str, value))
        )
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def header_line(config: AuditConfig, rootpath: Path) -> str:
    """``igmu-audit 0.1.0: model=... seeds=0-3 config=pyproject.toml,spec.yaml``."""
    parts = [
        f"{k}={_short(v, rootpath)}"
        for k, v in config.changed().items()
        if k not in {"thresholds"}
    ]
    sources = sorted(
        {s for s in config.sources.values() if s not in {"command line", "pytest ini"}}
    )
    if sources:
        parts.append("config=" + ",".join(s.split(" ")[0] for s in sources))
    return f"igmu-audit {__version__}: " + (" ".join(parts) if parts else "defaults")


def summary_lines(entries: list[dict[str, Any]], rootpath: Path) -> list[str]:
    """The end-of-run "igmu-audit verdicts" section from the results' JSON.

    Grouped by model (label and fingerprint), one line per audit:
    ``FAIL   forgotten  nudity  rate 0.141 [0.076, 0.246] > 0.050   test_x.py::test_y``.
    """
    by_model: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        model = entry["model"]
        original = entry.get("original")
        key = f"{model['label']} ({model['fingerprint'][:15]}..)" + (
            f" vs {original['label']}" if original else ""
        )
        by_model.setdefault(key, []).append(entry)
    lines: list[str] = []
    for key, items in by_model.items():
        lines.append(key)
        for e in items:
            checks = "; ".join(_check_text(c) for c in e["checks"])
            aspect = e["assertion"].removeprefix("assert_")
            test = (e.get("test_id") or "").split("/")[-1]
            flags = e.get("flags", [])
            caught = (
                "  (caught by the test)" if outcome.POSITIVE_CONTROL in flags else ""
            )
            other = [f for f in flags if f != outcome.POSITIVE_CONTROL]
            shown = f"  [{', '.join(other)}]" if other else ""
            joint = e.get("family_wise") or {}
            if joint and not joint.get("holds", True):
                shown += f"  ({outcome.WORDS[joint['verdict_alone']]} alone; not family-wise at Holm level {joint['level']:.2g})"
            lines.append(
                f"  {outcome.WORDS[e['verdict']]:<12}  {aspect:<9}  {_cut(e['concept'], 14):<14} {checks}   {test}{caught}{shown}"
            )
    return lines


def problem_lines(record: dict[str, Any], *, limit: int = 20) -> list[str]:
    """ERROR / INCOMPLETE lines (tests that produced no result) and not-applicable tests.

    ``ERROR       setup  test_x.py::test_y  raised in setup without an audit verdict: ...``
    """
    lines = []
    for p in record["problems"][:limit]:
        test = p["test_id"] or "(run)"
        lines.append(
            f"  {outcome.WORDS[p['verdict']]:<10}  {p['phase']:<8} {test}  {_cut(p['reason'], 160)}"
        )
    if len(record["problems"]) > limit:
        lines.append(
            f"  ... {len(record['problems']) - limit} more in the verdict record"
        )
    for n in record["not_applicable"]:
        lines.append(f"  N/A         {n['test_id']}  {_cut(n['reason'], 120)}")
    return lines


def closing_line(record: dict[str, Any], *, gated: bool) -> str:
    """``igmu-audit gate: FAIL (exit 10): 1 pass, 1 fail, ...``: the run's one-line verdict."""
    c = record["counts"]
    tally = ", ".join(f"{c[v]} {v}" for v in reversed(outcome.VERDICTS))
    controls = record["flags"].get(outcome.POSITIVE_CONTROL, 0)
    status = (
        f"exit {record['exit_status']}"
        if gated
        else "pytest's exit status kept (--collect-only)"
    )
    return f"igmu-audit gate: {outcome.WORDS[record['verdict']]} ({status}): {tally}; {controls} positive control(s) caught by their tests (never gate)"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _check_text(check: dict[str, Any]) -> str:
    iv = check["interval"]
    op = {
        "pass": check["direction"],
        "fail": ">" if check["direction"] == "<=" else "<",
        "inconclusive": "vs",
    }[check["verdict"]]
    return f"{check['metric']} {check['value']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}] {op} {check['threshold']['value']:.3f}"


def matrix_lines(entries: list[dict[str, Any]]) -> list[str]:
    """The verdict matrix as text: one row per model, one column per aspect and concept."""
    from igmu_audit.reporting.plots import matrix

    rows, columns, cells = matrix(entries)
    if not rows:  # no audits, or only positive controls
        return []
    first = max(len("model"), *(len(_cut(r, 30)) for r in rows))
    widths = [
        max(len(outcome.WORDS["inconclusive"]), len(_cut(c, 24))) for c in columns
    ]
    head = "  ".join(
        f"{_cut(c, 24):<{w}}" for c, w in zip(columns, widths, strict=True)
    )
    lines = [f"  {'model':<{first}}  {head}".rstrip()]
    for row in rows:
        cells_text = "  ".join(
            f"{outcome.WORDS[cells[(row, c)]] if (row, c) in cells else '-':<{w}}"
            for c, w in zip(columns, widths, strict=True)
        )
        lines.append(f"  {_cut(row, 30):<{first}}  {cells_text}".rstrip())
    return lines
