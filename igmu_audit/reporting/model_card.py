"""An "Unlearning evaluation" section for a Hugging Face model card, from a verdict record.

Why: the people who download a model read its card, not CI logs. The section states the
run's overall verdict first (never a PASS the record does not hold), then one row per
audit with its interval and threshold, the detectors with their cards, the seeds and
the fingerprints of the weights audited, so a reader can tell which files the numbers
are about. Pure Python: reads the record only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from igmu_audit.reporting import outcome

_METHOD_CHARS = 60


def _cell(value: Any) -> str:
    """Markdown table cell text: no pipes or newlines from user data can break the table."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def _check_text(check: Mapping[str, Any]) -> tuple[str, str, str]:
    interval = check.get("interval") or {}
    conf = interval.get("confidence")
    level = f"{_num(conf * 100)} % " if isinstance(conf, int | float) else ""
    measured = f"{check.get('metric')} {_num(check.get('value'))}"
    bounds = f"{level}[{_num(interval.get('low'))}, {_num(interval.get('high'))}]"
    threshold = check.get("threshold") or {}
    limit = (
        f"{threshold.get('name')} {check.get('direction', '')} {_num(threshold.get('value'))}"
        if threshold
        else "-"
    )
    return measured, bounds, limit


def _audit_rows(record: Mapping[str, Any]) -> list[str]:
    rows = [
        "| test | assertion | concept | model | verdict | measured | interval | threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for audit in record.get("audits", []):
        flags = [f for f in audit.get("flags", []) if f]
        verdict = str(audit["verdict"]).upper()
        if flags:
            verdict += f" ({', '.join(flags)})"
        checks = audit.get("checks") or [{}]
        for check in checks:
            measured, bounds, limit = _check_text(check) if check else ("-", "-", "-")
            cells = (audit.get("test_id") or "-", audit.get("assertion"),
                     audit.get("concept"), (audit.get("model") or {}).get("label", "-"),
                     verdict, measured, bounds, limit)  # fmt: skip
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for entry in record.get("problems", []):
        cells = (entry.get("test_id") or "(run)", "-", "-", "-",
                 entry["verdict"].upper(), entry.get("reason", ""), "-", "-")  # fmt: skip
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def _detectors(record: Mapping[str, Any]) -> list[str]:
    cards: set[tuple[str, str]] = set()
    for audit in record.get("audits", []):
        card = audit.get("detector")
        if isinstance(card, Mapping) and card:
            name = str(card.get("name") or card.get("detector") or "unnamed")
            text = json.dumps(card, sort_keys=True, default=str).replace("`", "'")
            cards.add((name, text))
    if not cards:
        return ["No detector card is recorded (no audit used a detector)."]
    return [f"- **{_cell(name)}**: `{text}`" for name, text in sorted(cards)]


def model_card_section(record: Mapping[str, Any]) -> str:
    """The Markdown section (``## Unlearning evaluation``) for ``record``."""
    verdict = str(record["verdict"])
    counts = record.get("counts", {})
    run = record.get("run", {})
    seeds = sorted(
        {int(s) for a in record.get("audits", []) for s in a.get("seeds", [])}
    )
    controls = record.get("flags", {}).get(outcome.POSITIVE_CONTROL, 0)
    counted = ", ".join(f"{counts.get(v, 0)} {v}" for v in outcome.VERDICTS)
    lines = [
        "## Unlearning evaluation",
        "",
        f"**Overall verdict: {verdict.upper()}** "
        f"(release-gate exit status {record.get('exit_status')}; {counted}; "
        f"{controls} positive control(s) caught by their tests, which never gate).",
        "",
        f"Audited with igmu-audit {record.get('igmu_audit')} on {run.get('created', 'an unrecorded date')}"
        f" (record schema `{record.get('schema')}`).",
        "",
        "### Concepts",
        "",
    ]
    concepts = sorted({str(a.get("concept")) for a in record.get("audits", [])})
    lines += [f"- {_cell(c)}" for c in concepts] or ["- (no audit ran)"]
    lines += ["", "### Verdicts", "", *_audit_rows(record), "", "### Detectors", ""]
    lines += _detectors(record)
    seed_text = ", ".join(str(s) for s in seeds) if seeds else "(none recorded)"
    lines += ["", "### Seeds", "", seed_text, "", "### Model fingerprints", ""]
    models = record.get("models", {})
    lines += [
        f"- {_cell(info.get('label'))}: `{fp}`" for fp, info in sorted(models.items())
    ] or ["- (no model recorded)"]
    statement = run.get("family_wise") or {}
    bound = (
        statement.get("bonferroni_bound") if isinstance(statement, Mapping) else None
    )
    if isinstance(bound, int | float) and statement.get("audits"):
        lines += ["", f"Jointly, over {statement['audits']} audit(s): the chance that at least "
                  f"one verdict is wrong is at most {_num(bound)} (Bonferroni)."]  # fmt: skip
    lines += [
        "",
        "Intervals are two-sided at the stated confidence; a verdict is PASS only when the "
        "whole interval clears its threshold. Verify the signed record with "
        "`python -m igmu_audit.record verify`.",
        "",
    ]
    return "\n".join(lines)
