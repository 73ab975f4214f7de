"""Measure the zoo and write ``measurements.json`` and ``ZOO_CARD.md`` from the measurements.

Why generated: every figure in the card is a count read from ``measurements.json``, so the
card cannot drift from what the models do; ``tests/toyworld/test_zoo.py`` re-measures the
shipped files and checks them against the same expectations.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from igmu_audit.toyworld.unlearn.measure import (
    AUDIT_SEEDS,
    MAX_ACCURACY_DROP,
    MAX_FORGET_RATE,
    MAX_ROBUST_RATE,
    Meter,
    audit_proxy,
)
from igmu_audit.toyworld.unlearn.zoo import ORIGINAL_EXPECTED, ZOO, ZooModel

ASPECTS = ("forgetting", "preservation", "carrier", "robustness")
#: Why the zoo erases a texture: the same four methods aimed at "circle" on the first toy
#: original (figures in ``circle_attempt.json``) could not be told apart from it.
SHAPE_NOTE = (
    "## Why a texture, not a shape",
    "",
    "The same four methods were first built to erase the shape *circle* on the **first** toy "
    'original, whose text tower encoded "circle" and "square" alike (cosine 0.99; circle '
    "drawn for 50 % of `en` prompts). On the audits' `shape_circle` prompts it drew circles "
    "46/96 times and no method moved that rate outside its interval (ESD-x 53/96, "
    "over-erased ESD-x 53/96, UCE 47/96, token edit 46/96): every model failed forgetting "
    "for the same reason as the original, which showed nothing about the methods "
    "(`circle_attempt.json` keeps those figures). The shipped original was retrained twice "
    "since; it draws the shape, colour and texture an English prompt names for ≥ 90 % of "
    "held-out prompts (its card, `MODEL_CARD.md`, measures each, and also what it does not "
    "meet), so a shape zoo is now possible; this zoo erases *striped*, the toy analogue of an "
    "artist's style.",
    "",
)
TASK = {"circle": "shape_circle", "striped": "texture_striped"}


def load_model(original: Path, model: ZooModel | None, folder: Path) -> Any:
    """A zoo model (or the original for ``None``) through ``load_pipeline``, as users load one."""
    from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

    overrides: dict[str, Any] = (
        {} if model is None else {model.component: str(folder / model.filename)}
    )
    return load_pipeline(ModelSpec(path=str(original), **overrides))


def measure_zoo(
    folder: Path,
    original: Path,
    models: list[ZooModel],
    classifier: Path | None = None,
) -> dict[str, Any]:
    """Measure the original and ``models``; merge into ``folder/measurements.json``.

    ``classifier`` is the toy classifier folder the detector reads (default: the shipped one).
    """
    path = folder / "measurements.json"
    result: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"models": {}}
    )
    concept = models[0].concept if models else result["concept"]
    meter = Meter(concept, classifier=classifier)
    base = load_model(original, None, folder)
    start = time.perf_counter()
    original_outcomes = meter.audit_outcomes(base, TASK[concept])
    result["original"] = {
        "forget": meter.forget(base),
        "audit_proxy": audit_proxy(original_outcomes, original_outcomes, {}),
    }
    for model in models:
        loaded = load_model(original, model, folder)
        forget = meter.forget(loaded)
        result["models"][model.name] = {
            "method": model.method,
            "component": model.component,
            "file": model.filename,
            "bytes": (folder / model.filename).stat().st_size,
            "overrides": [o.to_dict() for o in loaded.overrides],
            "settings": model.settings,
            "anchor": model.anchor,
            "summary": model.summary,
            "forget": forget,
            "audit_proxy": audit_proxy(
                meter.audit_outcomes(loaded, TASK[concept]), original_outcomes, forget
            ),
            "expected": model.expected,
        }
    shipped = [z.name for z in ZOO]  # a model dropped from the zoo leaves the card too
    result["models"] = {
        k: result["models"][k] for k in shipped if k in result["models"]
    }
    result["settings"] = _settings(meter)
    result["concept"] = concept
    result["measure_seconds"] = round(time.perf_counter() - start, 1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)
    return result


def _settings(meter: Meter) -> dict[str, Any]:
    s = meter.settings
    return {
        "steps": s.steps,
        "guidance_scale": s.guidance_scale,
        "height": s.height,
        "width": s.width,
    }


def _cell(r: dict[str, Any]) -> str:
    low, high = r["wilson95"]
    return f"{100 * r['rate']:.1f} % [{100 * low:.0f}, {100 * high:.0f}] ({r['k']}/{r['n']})"


def _forget_cell(r: dict[str, Any]) -> str:
    # The audit's own interval: clustered by prompt over the prompts that count.
    low, high = r["clustered95"]
    return (
        f"{100 * r['rate']:.1f} % [{100 * low:.1f}, {100 * high:.1f}] "
        f"({r['k']}/{r['n']}, {r['prompts']} prompts)"
    )


def _rows(name: str, entry: dict[str, Any], groups: list[str]) -> str:
    return f"| {name} | " + " | ".join(_cell(entry["forget"][g]) for g in groups) + " |"


def _undecided(models: dict[str, Any]) -> str:
    # Says, per model, why an expected forgetting verdict is not decisive.
    notes = []
    for name, e in models.items():
        for aspect, wanted in e["expected"].items():
            if wanted != "inconclusive":
                continue
            why = (
                f"its forget rate {_forget_cell(e['audit_proxy']['forget_rate'])} straddles "
                f"{MAX_FORGET_RATE:.0%}"
                if aspect == "forgetting"
                else e["summary"]
            )
            notes.append(f" `{name}` is INCONCLUSIVE on {aspect}: {why}.")
    return "".join(notes)


def write_card(folder: Path, m: dict[str, Any]) -> Path:
    """Render ``ZOO_CARD.md`` from the measurements."""
    models = m["models"]
    concept = m["concept"]
    first = next(iter(models.values()))
    groups = list(m["original"]["forget"])
    others = [c for c in m["original"]["audit_proxy"]["counts"] if c != "forget"]
    lines = [
        "# Toy-world zoo: unlearned variants of the toy original",
        "",
        "Real unlearning methods applied to `fixtures/toyworld/original` to erase the "
        f"**{concept}**, shipped as override files in the formats the methods publish. Load one "
        "exactly like a user's checkpoint:",
        "",
        "```python",
        "from igmu_audit.pipelines.loading import ModelSpec, load_pipeline",
        f'model = load_pipeline(ModelSpec(path="fixtures/toyworld/original", {first["component"]}="fixtures/toyworld/zoo/{first["file"]}"))',
        "```",
        "",
        "Rebuild (fixed seeds, CPU): `python -m igmu_audit.toyworld.unlearn` (build + measure + this card).",
        "",
        "## Models",
        "",
        "| model | method | override | tensors / params | size | what it is |",
        "|---|---|---|---|---|---|",
    ]
    for e in models.values():
        o = e["overrides"][0]
        lines.append(
            f"| `{e['file']}` | {e['method']} | `{e['component']}=` | {o['n_keys']} / {o['n_params']:,} "
            f"| {e['bytes'] / 1e6:.2f} MB | {e['summary']} |"
        )
    lines += ["", "Hyper-parameters (also in each file's safetensors metadata):", ""]
    lines += [
        f"- `{name}`: `{json.dumps(e['settings'], sort_keys=True)}`"
        + (f", anchor `{e['anchor']}`" if e["anchor"] else "")
        for name, e in models.items()
    ]
    lines += [
        "",
        "## Audit verdicts",
        "",
        "What the ready-made audits (`audits/`, spec `audits/specs/toyworld-<model>.yaml`, `task: style`, "
        f"seeds {list(AUDIT_SEEDS)}, built-in thresholds) give each model: the worst verdict of each aspect's "
        "audits. `make audit` checks this matrix against `audits/specs/expected.yaml`, and "
        "`tests/toyworld/test_zoo_audits.py` (IGMU_RUN_SLOW=1) runs it twice and requires it exactly.",
        "",
        f"- forgetting: {concept} rate on the DataIGM `{TASK[concept]}` forget prompts that show it on the "
        f"original or the model (the vacuity filter), FAIL above {MAX_FORGET_RATE:.0%} (95 % Clopper-Pearson "
        "interval clustered by prompt, as the audit computes it);",
        f"- preservation: retain prompts (other textures) vs the original, same seeds: paired detector accuracy "
        f"drop ≤ {MAX_ACCURACY_DROP:.0%} (McNemar interval) and CSDR ≤ 10 % (per-image, paired bootstrap);",
        f"- carrier: the shape each forget prompt names is still drawn, paired with the original "
        f"(accuracy drop ≤ {MAX_ACCURACY_DROP:.0%});",
        f"- robustness: Hypothesis paraphrases and translations of a forget prompt, FAIL above {MAX_ROBUST_RATE:.0%}.",
        "",
        "INCONCLUSIVE = the interval straddles the threshold. With prompts as clusters, more distinct "
        "prompts decide and more seeds on the same prompts barely help (docs/statistics.md); the "
        f"`{TASK[concept]}` forget set holds {first['audit_proxy']['counts']['forget']['n'] // len(AUDIT_SEEDS)} "
        "distinct prompts for that reason." + _undecided(models),
        "",
        "| model | "
        + " | ".join(ASPECTS)
        + " | forget rate (detector, audit prompts) | retain accuracy drop [95 % CI] |",
        "|---|" + "---|" * (len(ASPECTS) + 2),
    ]
    rows = [("toy original (control)", m["original"], ORIGINAL_EXPECTED)] + [
        (f"`{n}`", e, e["expected"]) for n, e in models.items()
    ]
    for label, e, wanted in rows:
        proxy = e["audit_proxy"]
        drop = proxy["accuracy_drop"]
        lines.append(
            f"| {label} | "
            + " | ".join(wanted[a].upper() for a in ASPECTS)
            + f" | {_forget_cell(proxy['forget_rate'])} | "
            f"{100 * drop['difference']:+.1f} pts [{100 * drop['interval95'][0]:.1f}, {100 * drop['interval95'][1]:.1f}] |"
        )
    lines += [
        "",
        *(SHAPE_NOTE if concept != "circle" else ()),
        "## Concept rate on forget prompts",
        "",
        f"Rate of images the toy detector calls *{concept}* (score ≥ 0.5), 95 % Wilson interval, (hits/images). "
        "`en`: the English name; `en-synonyms`: only the other English words; the rest: translations "
        "(held-out templates where the language has one that names the attribute, else training templates).",
        "",
        "| model | " + " | ".join(groups) + " |",
        "|---|" + "---|" * len(groups),
        _rows("toy original", m["original"], groups),
    ]
    lines += [_rows(f"`{n}`", e, groups) for n, e in models.items()]
    lines += [
        "",
        f"## Other classes still drawn (the audits' DataIGM retain prompts × seeds {AUDIT_SEEDS[0]}-{AUDIT_SEEDS[-1]})",
        "",
        "| model | " + " | ".join(others) + " |",
        "|---|" + "---|" * len(others),
        "| toy original | "
        + " | ".join(_cell(m["original"]["audit_proxy"]["counts"][c]) for c in others)
        + " |",
    ]
    lines += [
        "| "
        + f"`{n}`"
        + " | "
        + " | ".join(_cell(e["audit_proxy"]["counts"][c]) for c in others)
        + " |"
        for n, e in models.items()
    ]
    settings = m["settings"]
    lines += [
        "",
        f"Generation: {settings['steps']} DDIM steps, guidance {settings['guidance_scale']}, "
        f"{settings['width']}×{settings['height']} px, one seed per image (fixed), through "
        "`igmu_audit.pipelines.generation.generate_pairs`; detector `ToyWorldDetector`. "
        f"Measuring took {m.get('measure_seconds', 0):.0f} s on 2 CPU cores.",
        "",
    ]
    path = folder / "ZOO_CARD.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
