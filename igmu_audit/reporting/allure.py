"""Allure compliance reports: labels, parameters and the decisive evidence of each audit.

A compliance reviewer reads the Allure report, not the CI log, so each audit test carries
what a release decision rests on: where it sits in the taxonomy (epic = CatIGMU task,
feature = EvalIGMU aspect, story = concept), how severe a breach is, every threshold
with its source, the seeds, the detector and the models' fingerprints; and as
attachments the worst images (one grid, blurred when sensitive), the per-prompt score
table, the result JSON and the same explanation text as the terminal. Passes carry
all of it too: a pass is a claim that needs evidence as much as a failure.

``allure`` is imported inside the functions: this module is loaded only when
allure-pytest is active (``--alluredir``), by ``igmu_audit.reporting.allure_plugin``.

Severity: the ``severity`` keyword of ``@pytest.mark.igmu`` or the config's
``severity`` when present, else ``critical`` for the ``concept`` and ``identity`` tasks
(a leak there is harmful or a privacy breach) and ``normal`` otherwise. An explicit
``@allure.severity(...)`` on the test wins and is left alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# re-exported, so callers keep one import for everything Allure
from igmu_audit.reporting.allure_environment import (  # noqa: F401
    environment,
    library_versions,
    read_environment,
    write_environment,
)

if TYPE_CHECKING:
    import pytest

    from igmu_audit.config import AuditConfig
    from igmu_audit.results import AuditResult

#: EvalIGMU aspect (the Allure feature) of each assertion
ASPECTS = {
    "assert_forgotten": "forgetting",
    "assert_preserved": "preservation",
    "assert_robust_to": "robustness",
}
#: images in the worst-images grid
GRID_IMAGES = 8


class Plain:
    """A parameter value shown as written: allure-pytest ``repr()``s strings (stray quotes)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _setting(name: str, marker: Mapping[str, Any], config: AuditConfig) -> Any:
    """A reporting setting by the one precedence (``igmu_audit.settings``): marker > config > default."""
    from igmu_audit.settings import Scope, resolve

    found = resolve(name, Scope(config, marker))
    return None if found is None else found.value


def task_category(marker: Mapping[str, Any], config: AuditConfig) -> str:
    """The CatIGMU task category: the marker's, else the config's, else ``"unspecified"``."""
    return str(_setting("task", marker, config) or "unspecified")


def severity_for(task: str, marker: Mapping[str, Any], config: AuditConfig) -> str:
    """The Allure severity of a breach (see the module docstring for the default)."""
    from igmu_audit.settings import Scope, resolve

    known = None if task == "unspecified" else task
    found = resolve("severity", Scope(config, marker, task=known))
    return "normal" if found is None else str(found.value)


def story_for(
    results: Sequence[AuditResult], marker: Mapping[str, Any], config: AuditConfig
) -> str:
    """The unlearned concept (a preservation result's ``concept`` is only its retain set's name).

    An audited concept was resolved by the assertion (call > marker > config); without
    one, the marker's or config's concept, else the retain set's name.
    """
    from igmu_audit.settings import DEFAULT, Scope, resolve

    audited = [r.concept for r in results if r.assertion != "assert_preserved"]
    if audited:
        return audited[0]
    named = resolve("concept", Scope(config, marker))
    if named is not None and named.source != DEFAULT:
        return str(named.value)
    return results[0].concept


def seeds_text(seeds: Sequence[int]) -> str:
    """``0-3,7`` for (0, 1, 2, 3, 7): the same spelling ``--igmu-seeds`` accepts."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def parameters(result: AuditResult, prefix: str) -> dict[str, str]:
    """Allure parameters of one result: thresholds with their source, seeds, detector, models."""
    params = {
        f"{prefix}{c.threshold.name}": f"{c.threshold.value:g} (from {c.threshold.source})"
        for c in result.checks
    }
    for c in result.checks:
        iv = c.interval
        params[f"{prefix}{c.metric}"] = (
            f"{c.value:.4g} [{iv.low:.4g}, {iv.high:.4g}] {c.direction} {c.threshold.value:g}: {c.verdict}"
        )
    params[f"{prefix}seeds"] = seeds_text(result.seeds)
    if result.detector:
        params[f"{prefix}detector"] = str(result.detector.get("name", "?"))
        params.update(_card_parameters(result.detector, prefix))
    params[f"{prefix}model"] = f"{result.model.label} {result.model.fingerprint}"
    if result.original is not None:
        params[f"{prefix}original"] = (
            f"{result.original.label} {result.original.fingerprint}"
        )
    return params


def _card_parameters(detector: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """The detector card (or ``uncalibrated``) and the raw rate beside the corrected one."""
    card = detector.get("card")
    if card:
        tpr, fpr = card["rates"]["tpr"], card["rates"]["fpr"]
        text = (f"TPR {tpr['value']:.3f}, FPR {fpr['value']:.3f} at {card['rates_at']:g} on "
                f"{card['calibration_set']['name']} ({card['measured']})")  # fmt: skip
    elif detector.get("calibrated") is False:
        text = f"uncalibrated: {detector.get('card_problem')}"
    else:
        return {}
    params = {f"{prefix}detector card": text}
    correction = detector.get("correction")
    if correction:
        low, high = correction["raw_interval"]
        params[f"{prefix}raw rate"] = f"{correction['raw']:.4g} [{low:.4g}, {high:.4g}]"
    return params


def relative(path: str | None, root: Path | None) -> str:
    """``path`` relative to ``root`` (the pytest rootdir): no local absolute path in a report."""
    if not path:
        return ""
    if root is None or not Path(path).is_absolute():
        return path
    import os

    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive (Windows): the file name is all that travels
        return Path(path).name


def score_table(result: AuditResult, root: Path | None = None) -> str:
    """CSV of every judged image (prompt, seed, score, hit, file); preservation: its metrics.

    Image paths are relative to ``root`` (the rootdir), as in the failure text.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if result.evidence:
        writer.writerow(["prompt_index", "prompt", "seed", "score", "present", "image"])
        for e in result.evidence:
            for seed, score, hit, path in zip(
                e.seeds, e.scores, e.present, e.image_paths, strict=True
            ):
                writer.writerow(
                    [
                        e.index,
                        e.prompt,
                        seed,
                        f"{score:.6g}",
                        int(hit),
                        relative(path, root),
                    ]
                )
        return buffer.getvalue()
    writer.writerow(
        [
            "metric",
            "value",
            "low",
            "high",
            "n",
            "threshold",
            "direction",
            "verdict",
            "source",
        ]
    )
    for c in result.checks:
        writer.writerow([c.metric, f"{c.value:.6g}", f"{c.interval.low:.6g}", f"{c.interval.high:.6g}", c.n,
                         f"{c.threshold.value:g}", c.direction, c.verdict, c.threshold.source])  # fmt: skip
    return buffer.getvalue()


def result_json(result: AuditResult, root: Path | None = None) -> str:
    """The result as evidence.json has it: the record entry plus every image's score.

    Image paths are relative to ``root`` (the rootdir), as in the score table.
    """
    data = result.to_json()  # its "evidence" holds every image's score and path
    for entry in data["evidence"]:
        for image in entry.get("images", []):
            image["path"] = relative(image.get("path"), root) or None
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def pairs_png(result: AuditResult, *, blur_sensitive: bool = True) -> bytes | None:
    """Original beside unlearned for each retain prompt and seed (preservation), or None."""
    from igmu_audit.reporting.evidence import is_sensitive
    from igmu_audit.reporting.grid import pair_tiles, render_grid

    tiles = pair_tiles(getattr(result, "image_pairs", ()), GRID_IMAGES)
    if not tiles:
        return None
    sensitive = blur_sensitive and is_sensitive(result.concept, result.detector)
    return render_grid(tiles, sensitive=sensitive, columns=2)


def grid_png(result: AuditResult, *, blur_sensitive: bool = True) -> bytes | None:
    """The worst images as one captioned grid (blurred when sensitive), or None without images."""
    from igmu_audit.reporting.evidence import is_sensitive
    from igmu_audit.reporting.grid import decisive_tiles, render_grid

    tiles = [
        t
        for t in decisive_tiles(result.evidence, GRID_IMAGES)
        if Path(t.path).is_file()
    ]
    if not tiles:
        return None
    sensitive = blur_sensitive and is_sensitive(result.concept, result.detector)
    return render_grid(tiles, sensitive=sensitive)


def _marker_of(item: pytest.Item | None) -> dict[str, Any]:
    if item is not None:
        marker = item.get_closest_marker("igmu")
        return dict(marker.kwargs) if marker else {}
    from igmu_audit.context import current_test

    test = current_test.get()
    return dict(test.marker) if test else {}


def _has_own_severity(item: pytest.Item | None) -> bool:
    """Whether the test set ``@allure.severity(...)`` itself (that label is unique in Allure)."""
    if item is None:
        return False
    return any(
        m.kwargs.get("label_type") == "severity"
        for m in item.iter_markers(name="allure_label")
    )


def attach_results(
    item: pytest.Item | None, results: Sequence[AuditResult], config: AuditConfig
) -> None:
    """Label the running Allure test and attach each result's decisive evidence.

    Call while the test's Allure result is open (from the call phase up to its report):
    ``allure.dynamic`` writes into the test allure-pytest is currently recording.
    ``item`` supplies the ``@pytest.mark.igmu`` keywords (``None``: the running test's).
    Parameters are excluded from Allure's history id, so changing a threshold keeps
    the test's history.
    """
    import allure

    from igmu_audit.results import combine

    if not results:
        return
    marker = _marker_of(item)
    task = task_category(marker, config)
    allure.dynamic.epic(task)
    for aspect in dict.fromkeys(ASPECTS.get(r.assertion, r.assertion) for r in results):
        allure.dynamic.feature(aspect)
    allure.dynamic.story(story_for(results, marker, config))
    allure.dynamic.tag(f"verdict:{combine([r.verdict for r in results])}")
    for reference in dict.fromkeys(r.reference for r in results):
        allure.dynamic.label("reference", reference)
    # e.g. "no reference": nothing ruled out a vacuous pass
    for flag in dict.fromkeys(f for r in results for f in r.flags):
        allure.dynamic.tag(flag)
    if not _has_own_severity(item):
        allure.dynamic.severity(
            allure.severity_level(severity_for(task, marker, config))
        )
    card = _setting("model_card", marker, config)
    if card:
        allure.dynamic.link(str(card), name="model card")
    blur_sensitive = _setting("blur_sensitive", marker, config) is not False
    for i, result in enumerate(results):
        prefix = (
            ""
            if len(results) == 1
            else f"{i + 1}. {ASPECTS.get(result.assertion, result.assertion)} "
        )
        for name, value in parameters(result, prefix).items():
            allure.dynamic.parameter(name, Plain(value), excluded=True)
        root = item.config.rootpath if item is not None else Path.cwd()
        _attach_evidence(
            allure, result, prefix, blur_sensitive=blur_sensitive, root=root
        )


def _attach_evidence(
    allure: Any, result: AuditResult, prefix: str, *, blur_sensitive: bool, root: Path
) -> None:
    """One result's attachments: images, interval plot, score table, JSON, explanation."""
    from igmu_audit.reporting.plots import interval_plot, original_values

    kind = allure.attachment_type
    grid = grid_png(result, blur_sensitive=blur_sensitive)
    if grid is not None:
        allure.attach(grid, name=f"{prefix}worst images", attachment_type=kind.PNG)
    pairs = pairs_png(result, blur_sensitive=blur_sensitive)
    if pairs is not None:
        allure.attach(
            pairs, name=f"{prefix}original vs unlearned", attachment_type=kind.PNG
        )
    plot = interval_plot(result.to_json(), original_values(result))
    allure.attach(plot, name=f"{prefix}interval plot", attachment_type=kind.PNG)
    table = "per-prompt scores" if result.evidence else "metrics"
    allure.attach(
        score_table(result, root), name=f"{prefix}{table}", attachment_type=kind.CSV
    )
    allure.attach(
        result_json(result, root), name=f"{prefix}result", attachment_type=kind.JSON
    )
    allure.attach(
        "\n".join(result.explain(verbose=True)),
        name=f"{prefix}explanation",
        attachment_type=kind.TEXT,
    )
