"""Write ``MODEL_CARD.md`` from a run's ``training.json`` and ``evaluation.json``.

Why generated: every figure on the card then comes from a measurement file written by the
same run, with its sample size and 95 % Wilson interval; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from igmu_audit.toyworld.data import DEFAULT_CLASS
from igmu_audit.toyworld.evaluate import GROUPS, rate
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary


def _fmt(r: dict[str, Any]) -> str:
    if r["n"] == 0:
        return "– (0 prompts)"
    low, high = r["wilson95"]
    return (
        f"{100 * r['rate']:.1f} % ({r['k']}/{r['n']}; {100 * low:.1f}–{100 * high:.1f})"
    )


def _sizes(out: Path) -> list[str]:
    lines = []
    total = 0
    for name in ("original", "clip", "classifier"):
        folder = out / name
        size = (
            sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            if folder.exists()
            else 0
        )
        total += size
        lines.append(f"| `{name}/` | {size / 1e6:.2f} MB |")
    lines.append(f"| total | {total / 1e6:.2f} MB |")
    return lines


def render_card(out: Path) -> str:
    """The model card text for the run folder ``out``."""
    training = json.loads((out / "training.json").read_text(encoding="utf-8"))
    ev = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    vocab = load_vocabulary()
    shapes = vocab.classes("shape")
    t = training["timings_s"]
    lines = [
        "# Toy world model card",
        "",
        "A synthetic world small enough to train on a 2-core CPU, built from the real classes an",
        "audit meets in the wild: a diffusers `StableDiffusionPipeline` (`original/`), a CLIP-style dual",
        "encoder (`clip/` + the pipeline's `text_encoder`) and a shape / colour / texture classifier",
        "(`classifier/`). Images are 32×32 RGB: shapes "
        + ", ".join(shapes)
        + "; colours "
        + ", ".join(vocab.classes("colour"))
        + "; textures "
        + ", ".join(vocab.classes("texture"))
        + "; on tinted grey backgrounds with gradients and noise.",
        "Captions come from templates in "
        + ", ".join(vocab.languages)
        + " with English synonyms",
        "(`vocabulary.json`). Every figure below was measured by `igmu_audit.toyworld.evaluate` on",
        "held-out data (held-out image seeds, held-out caption templates), with the sample size and",
        "the 95 % Wilson interval: `rate (k/n; low–high)`.",
        "",
        "## Reproduce",
        "",
        "```",
        "HF_HUB_OFFLINE=1 python -m igmu_audit.toyworld.train --out toyworld-run --install",
        "```",
        "",
        f"Seed {training['seed']}, {training['threads']} torch threads. Budget: `{json.dumps(training['budget'])}`.",
        "",
        "Stages: the classifier (a small CNN, cross-entropy per attribute); the toy CLIP",
        "(multi-positive contrastive loss over captions in every language, plus shared",
        "per-attribute classification heads on both towers' embeddings, discarded after training,",
        'without which the text tower maps "circle" and "square" to the same states and no UNet',
        "can draw the difference); the VAE; the UNet on the frozen CLIP text tower, 10 % empty",
        "captions for classifier-free guidance; then (`joint`) UNet and text encoder fine-tuned",
        "together, which sharpens the shapes the UNet draws, on a caption mix that leaves a plain",
        "texture unnamed more often (`joint_unnamed_default_rate`) and uses the shortest templates",
        '("a circle", `joint_fewest_rate`) more often: with uniform templates the UNet drew a',
        "texture, or a many-coloured blob, for a third of the prompts naming only a shape; and",
        "30 % of its captions carry one filler word no toy caption contains (`joint_fillers`),",
        'because a held-out word ("a photo of a circle") is an untrained vector to the text tower.',
        "",
        "## Training time (this project's 2-core CPU)",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in t.items()],
        f"| evaluation | {ev['evaluation_seconds']} |",
        "",
        *([str(training["note"]), ""] if training.get("note") else []),
        "## Toy detector (classifier) on held-out images",
        "",
        f"{ev['test_images']} held-out images (test split seeds).",
        "",
        "| head | accuracy | on VAE reconstructions |",
        "|---|---|---|",
        *[
            f"| {a} | {_fmt(ev['classifier'][a])} | {_fmt(ev['classifier_on_reconstructions'][a])} |"
            for a in ATTRIBUTES
        ],
        "",
        f"VAE reconstruction MSE (pixels in [0, 1]): {ev['vae_reconstruction_mse']}.",
        "",
        "## Toy CLIP zero-shot accuracy (prompt = the bare first word of each class)",
        "",
        "| attribute | " + " | ".join(vocab.languages) + " |",
        "|---|" + "---|" * len(vocab.languages),
        *[
            f"| {a} | "
            + " | ".join(
                f"{100 * ev['clip_zero_shot'][a][lang]['rate']:.1f} %"
                for lang in vocab.languages
            )
            + " |"
            for a in ATTRIBUTES
        ],
        f"(n = {ev['test_images']} each.)",
        "",
        "## Generation: prompted shape drawn (classified by the toy detector)",
        "",
        "Settings (`generation.json`): "
        + ", ".join(f"{k}={v}" for k, v in ev["generation_settings"].items())
        + ". Prompts use held-out templates, a random colour and texture per prompt, one fixed seed per image.",
        '`en` uses the English names; `en-synonyms` only the other English words (e.g. "round disc");',
        "other languages use any of their words.",
        "",
        *_bar_lines(ev["generation"], shapes),
        "",
        *_attribute_bars(ev["generation"]["en"]),
        "",
        "| group | " + " | ".join(shapes) + " | colour when named |",
        "|---|" + "---|" * (len(shapes) + 1),
        *[
            f"| {g} | "
            + " | ".join(_fmt(ev["generation"][g]["shape"][s]) for s in shapes)
            + f" | {_fmt(ev['generation'][g]['colour_when_named'])} |"
            for g, _, _ in GROUPS
        ],
        "",
        "Texture drawn when the prompt names it (classified by the texture head):",
        "",
        "| group | " + " | ".join(vocab.classes("texture")) + " |",
        "|---|" + "---|" * len(vocab.classes("texture")),
        *[
            f"| {g} | "
            + " | ".join(
                _fmt(ev["generation"][g]["texture_when_named"][x])
                for x in vocab.classes("texture")
            )
            + " |"
            for g, _, _ in GROUPS
        ],
        "",
        *_unnamed_lines(ev["generation"]),
        *_colour_lines(ev["generation"]),
        *_language_lines(ev, vocab.languages),
        "## Files",
        "",
        "Weights are safetensors; the pipeline's UNet, VAE and text encoder are stored in fp16 and load",
        "as fp32 (the text encoder's config names `float32`). `clip/` holds the whole toy CLIP in fp16",
        "(vision and text towers, projections); `load_toy_clip()` loads it as fp32. The pipeline's text",
        "encoder starts as the CLIP text tower; without a `joint` stage in the timings it is that tower.",
        "",
        "| folder | size |",
        "|---|---|",
        *_sizes(out),
        "",
        "## Limits",
        "",
        "A toy: rates hold for this world's held-out templates and seeds only. Sample sizes are stated;",
        "intervals are 95 % Wilson intervals per cell, not corrected for multiple comparisons.",
        "",
    ]
    return "\n".join(lines)


#: The toy world's generation bar: each shape drawn for this share of held-out English prompts.
SHAPE_BAR = 0.9


def _bar_lines(generation: dict[str, Any], shapes: list[str]) -> list[str]:
    en = generation["en"]["shape"]
    worst = min(shapes, key=lambda s: en[s]["rate"])
    met = all(en[s]["rate"] >= SHAPE_BAR for s in shapes)
    others = [
        (g, s, r["rate"])
        for g, cells in generation.items()
        if g != "en"
        for s, r in cells["shape"].items()
    ]
    below = [f"{g} {s} {rate:.0%}" for g, s, rate in others if rate < SHAPE_BAR]
    return [
        f"**Bar: every shape drawn for ≥ {SHAPE_BAR:.0%} of held-out English prompts: "
        + ("met" if met else "NOT met")
        + f"** (lowest: {worst} {_fmt(en[worst])}). Synonyms and translations: "
        + (
            f"{len(others) - len(below)} of {len(others)} cells ≥ {SHAPE_BAR:.0%}; below: {', '.join(below)}."
            if below
            else f"every cell ≥ {SHAPE_BAR:.0%}."
        ),
    ]


#: A texture drawn although the prompt names none (not the default, plain): at most this share.
UNPROMPTED_BAR = 0.05


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _attribute_bars(en: dict[str, Any]) -> list[str]:
    # Every class the English prompts name must be drawn; nothing unnamed may be added.
    colours = en.get("colour_by_class", {})
    named = en["texture_when_named"]
    unnamed = en.get("texture_when_unnamed", {})
    lines = []
    if colours:
        worst = min(colours, key=lambda c: colours[c]["rate"])
        ok = all(r["rate"] >= SHAPE_BAR for r in colours.values())
        lines.append(
            f"- every colour drawn for ≥ {SHAPE_BAR:.0%} of held-out English prompts naming it: "
            f"**{_met(ok)}** (lowest: {worst} {_fmt(colours[worst])})"
        )
    worst = min(named, key=lambda t: named[t]["rate"])
    ok = all(r["n"] > 0 and r["rate"] >= SHAPE_BAR for r in named.values())
    lines.append(
        f"- every texture drawn for ≥ {SHAPE_BAR:.0%} of held-out English prompts naming it: "
        f"**{_met(ok)}** (lowest: {worst} {_fmt(named[worst])})"
    )
    if unnamed:
        n = next(iter(unnamed.values()))["n"]
        k = sum(r["k"] for t, r in unnamed.items() if t != DEFAULT_CLASS["texture"])
        added = rate(k, n)
        lines.append(
            f"- a texture other than {DEFAULT_CLASS['texture']} drawn for ≤ {UNPROMPTED_BAR:.0%} of "
            f"held-out English prompts naming no texture: **{_met(n > 0 and added['rate'] <= UNPROMPTED_BAR)}** "
            f"({_fmt(added)})"
        )
    return lines


def _unnamed_lines(generation: dict[str, Any]) -> list[str]:
    textures = load_vocabulary().classes("texture")
    if "texture_when_unnamed" not in generation["en"]:
        return []
    return [
        "Texture drawn when the prompt names none (a caption without a texture word means "
        f"{DEFAULT_CLASS['texture']}: the training captions leave the texture out only for "
        f"{DEFAULT_CLASS['texture']} images):",
        "",
        "| group | " + " | ".join(textures) + " |",
        "|---|" + "---|" * len(textures),
        *[
            f"| {g} | "
            + " | ".join(
                _fmt(generation[g]["texture_when_unnamed"][x]) for x in textures
            )
            + " |"
            for g, _, _ in GROUPS
        ],
        "",
    ]


def _colour_lines(generation: dict[str, Any]) -> list[str]:
    colours = load_vocabulary().classes("colour")
    if "colour_by_class" not in generation["en"]:
        return []
    return [
        "Colour drawn when the prompt names it, per colour:",
        "",
        "| group | " + " | ".join(colours) + " |",
        "|---|" + "---|" * len(colours),
        *[
            f"| {g} | "
            + " | ".join(_fmt(generation[g]["colour_by_class"][c]) for c in colours)
            + " |"
            for g, _, _ in GROUPS
        ],
        "",
    ]


def _language_lines(ev: dict[str, Any], languages: Sequence[str]) -> list[str]:
    unknown = ev.get("unknown_languages")
    if not unknown:
        return []
    others = [lang for lang in unknown if lang != "en"]
    return [
        "## Languages the world knows",
        "",
        f"The world understands exactly the languages of its captions: {', '.join(languages)}.",
        "Any other language is not understood: a word outside `vocabulary.json` is a word the",
        "text encoder never saw, so the model ignores it (and, since an unnamed texture means",
        f'{DEFAULT_CLASS["texture"]}, draws {DEFAULT_CLASS["texture"]}). Measured for "striped" in '
        + ", ".join(others)
        + ' (prompts "a <word> <colour> <shape>", every colour and shape, one seed each; English as the control):',
        "",
        "| language | word | drawn striped |",
        "|---|---|---|",
        *[f"| {lang} | {r['word']} | {_fmt(r)} |" for lang, r in unknown.items()],
        "",
        "A robustness audit that translates a concept into a language the world does not know",
        "measures nothing about the unlearning method; keep such variants to the languages above.",
        "",
    ]


def write_model_card(out: Path) -> Path:
    """Render and write ``out/MODEL_CARD.md`` atomically."""
    path = out / "MODEL_CARD.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_card(out), encoding="utf-8")
    os.replace(tmp, path)
    return path
