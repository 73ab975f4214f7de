"""Measure a trained toy world and write ``evaluation.json`` (the model card reads it).

Every figure is a count over a stated number of held-out samples with a 95 % Wilson
interval: classifier accuracy on held-out seeds, the same on VAE reconstructions, toy-CLIP
zero-shot accuracy per language, and per-shape generation rates per language / word kind
with held-out caption templates and fixed seeds.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from igmu_audit.toyworld import classifier as cls
from igmu_audit.toyworld import diffusion
from igmu_audit.toyworld.clip import load_toy_clip
from igmu_audit.toyworld.data import caption_and_mentions, sample_dataset, to_tensor
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

#: Prompt groups for generation: (group name, language, word kind).
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("en", "en", "name"),
    ("en-synonyms", "en", "synonyms"),
    ("fr", "fr", "any"),
    ("es", "es", "any"),
    ("de", "de", "any"),
    ("zh", "zh", "any"),
    ("ja", "ja", "any"),
    ("ru", "ru", "any"),
)


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, n: int) -> dict[str, Any]:
    """A measured rate as a JSON record: k, n, rate and its 95 % Wilson interval."""
    low, high = wilson(successes, n)
    return {
        "k": successes,
        "n": n,
        "rate": round(successes / max(n, 1), 4),
        "wilson95": [round(low, 4), round(high, 4)],
    }


def evaluation_prompts(
    shape: str, group: tuple[str, str, str], n: int, seed: int
) -> tuple[list[str], list[tuple[str, str, str]], list[tuple[str, ...]]]:
    """Held-out-template prompts for one shape and group, with random colours and textures."""
    _, language, words = group
    vocab = load_vocabulary()
    rng = np.random.default_rng(seed)
    prompts, attributes, mentions = [], [], []
    for _ in range(n):
        colour = str(rng.choice(vocab.classes("colour")))
        texture = str(rng.choice(vocab.classes("texture")))
        text, mentioned = caption_and_mentions(
            shape,
            colour,
            texture,
            rng=rng,
            language=language,
            split="test",
            words=words,
        )
        prompts.append(text)
        attributes.append((shape, colour, texture))
        mentions.append(mentioned)
    return prompts, attributes, mentions


def generation_rates(
    pipe: Any, model: cls.ToyClassifier, per_shape: dict[str, int], seed: int = 1234
) -> dict[str, Any]:
    """Per group and shape: how often the classifier sees the prompted shape (and colour/texture)."""
    vocab = load_vocabulary()
    results: dict[str, Any] = {}
    for g, group in enumerate(GROUPS):
        name = group[0]
        n = per_shape[name]
        group_result: dict[str, Any] = {
            "shape": {},
            "colour_when_named": None,
            "texture_when_named": {},
            "texture_when_unnamed": {},
        }
        colour_hits = colour_total = 0
        colour_counts = {c: [0, 0] for c in vocab.classes("colour")}
        texture_counts = {t: [0, 0] for t in vocab.classes("texture")}
        unnamed = dict.fromkeys(vocab.classes("texture"), 0)
        for s, shape in enumerate(vocab.classes("shape")):
            base = seed + 10000 * g + 1000 * s
            prompts, attributes, mentions = evaluation_prompts(shape, group, n, base)
            images = diffusion.generate(pipe, prompts, [base + i for i in range(n)])
            probs = model.predict(images)
            predicted = {a: probs[a].argmax(-1).tolist() for a in ATTRIBUTES}
            hits = sum(vocab.classes("shape")[p] == shape for p in predicted["shape"])
            group_result["shape"][shape] = rate(hits, n)
            for i, (attrs, mentioned) in enumerate(
                zip(attributes, mentions, strict=True)
            ):
                if "colour" in mentioned:
                    hit = vocab.classes("colour")[predicted["colour"][i]] == attrs[1]
                    colour_total += 1
                    colour_hits += hit
                    colour_counts[attrs[1]][0] += hit
                    colour_counts[attrs[1]][1] += 1
                drawn = vocab.classes("texture")[predicted["texture"][i]]
                if "texture" in mentioned:
                    texture_counts[attrs[2]][1] += 1
                    texture_counts[attrs[2]][0] += drawn == attrs[2]
                else:
                    unnamed[drawn] += 1
        group_result["colour_when_named"] = rate(int(colour_hits), colour_total)
        group_result["colour_by_class"] = {
            c: rate(int(k), m) for c, (k, m) in colour_counts.items()
        }
        group_result["texture_when_named"] = {
            t: rate(int(k), m) for t, (k, m) in texture_counts.items()
        }
        total_unnamed = sum(unnamed.values())
        group_result["texture_when_unnamed"] = {
            t: rate(k, total_unnamed) for t, k in unnamed.items()
        }
        results[name] = group_result
        print(
            name, {s: r["rate"] for s, r in group_result["shape"].items()}, flush=True
        )
    return results


#: "striped" in languages outside the world's seven (not in ``vocabulary.json``): measured to
#: show what the world does *not* understand, so that no one reads a leak test in these
#: languages as evidence about an unlearning method.
UNKNOWN_WORDS: dict[str, str] = {
    "tr": "çizgili",
    "sw": "yenye mistari",
    "el": "ριγέ",
    "it": "a righe",
    "pt": "listrado",
}


def unknown_language_rates(
    pipe: Any, model: cls.ToyClassifier, n: int = 16, seed: int = 4321
) -> dict[str, Any]:
    """Striped rate for "a <word> <colour> <shape>" per unknown language, English as control."""
    vocab = load_vocabulary()
    words = {"en": vocab.words("striped", "en")[0], **UNKNOWN_WORDS}
    striped = vocab.classes("texture").index("striped")
    out: dict[str, Any] = {}
    combos = [(c, s) for s in vocab.classes("shape") for c in vocab.classes("colour")]
    combos = combos[:n]
    for language, word in words.items():
        prompts = [f"a {word} {colour} {shape}" for colour, shape in combos]
        seeds = [seed + i for i in range(len(prompts))]
        predicted = model.predict(diffusion.generate(pipe, prompts, seeds))["texture"]
        hits = int((predicted.argmax(-1) == striped).sum())
        out[language] = {"word": word, **rate(hits, len(prompts))}
    return out


def clip_zero_shot(
    clip: Any, images: torch.Tensor, labels: np.ndarray
) -> dict[str, Any]:
    """Toy-CLIP zero-shot accuracy per attribute and language, prompts = the bare first word."""
    vocab = load_vocabulary()
    image_emb = clip.encode_image(images)
    out: dict[str, Any] = {}
    for k, attribute in enumerate(ATTRIBUTES):
        out[attribute] = {}
        for language in vocab.languages:
            texts = [vocab.words(c, language)[0] for c in vocab.classes(attribute)]
            predicted = (image_emb @ clip.encode_text(texts).T).argmax(-1).numpy()
            out[attribute][language] = rate(
                int((predicted == labels[:, k]).sum()), len(labels)
            )
    return out


def evaluate_run(
    out: Path, *, quick: bool = False, per_shape: int = 48
) -> dict[str, Any]:
    """Measure the run in ``out`` and write ``evaluation.json`` and ``MODEL_CARD.md`` there.

    ``per_shape`` images per shape for held-out English prompts; every other group gets a
    third of that. ``quick`` measures 2 per shape and cell (smoke test only).
    """
    from diffusers import StableDiffusionPipeline

    from igmu_audit.toyworld.card import write_model_card

    start = time.perf_counter()
    model = cls.load_toy_classifier(out / "classifier")
    test = sample_dataset(64 if quick else 2000, 0, "test")
    images, labels = to_tensor(test.images), test.labels
    result: dict[str, Any] = {"test_images": len(labels)}
    result["classifier"] = {
        a: rate(*counts)
        for a, counts in cls.accuracy(model, images, cls.labels_tensor(labels)).items()
    }
    pipe = StableDiffusionPipeline.from_pretrained(out / "original")
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        recon = (pipe.vae(images * 2 - 1).sample.clamp(-1, 1) + 1) / 2
    result["vae_reconstruction_mse"] = round(float(((recon - images) ** 2).mean()), 5)
    result["classifier_on_reconstructions"] = {
        a: rate(*counts)
        for a, counts in cls.accuracy(model, recon, cls.labels_tensor(labels)).items()
    }
    result["clip_zero_shot"] = clip_zero_shot(load_toy_clip(out), images, labels)
    sizes = {
        g[0]: (2 if quick else per_shape if g[0] == "en" else max(2, per_shape // 3))
        for g in GROUPS
    }
    gen_start = time.perf_counter()
    result["generation"] = generation_rates(pipe, model, sizes)
    result["unknown_languages"] = unknown_language_rates(
        pipe, model, n=2 if quick else 16
    )
    result["generation_settings"] = diffusion.GENERATION
    result["generation_seconds"] = round(time.perf_counter() - gen_start, 1)
    result["evaluation_seconds"] = round(time.perf_counter() - start, 1)
    path = out / "evaluation.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)
    write_model_card(out)
    return result
