"""The toy world's lexicons: its shapes, colours and textures as ``Lexicon`` objects.

Registered through the entry-point group ``igmu_audit.lexicons`` in pyproject.toml, so
the prompt strategies (paraphrase, translation, attacks) know the toy concepts the way
they would know a user's own; the core never imports this module by name.
"""

from __future__ import annotations

from igmu_audit.prompts.lexicons import Lexicon
from igmu_audit.toyworld.vocabulary import Vocabulary, load_vocabulary

#: Attribute -> English hypernyms (a broader word that may still carry the concept).
HYPERNYMS: dict[str, tuple[str, ...]] = {
    "shape": ("shape",),
    "colour": (),
    "texture": ("patterned",),
}


def _templates(vocab: Vocabulary, attribute: str) -> dict[str, tuple[str, ...]]:
    """Caption templates that mention ``attribute``, with ``{concept}`` in its place.

    The other placeholders of a template are filled with that attribute's first class.
    """
    first = {attr: next(iter(entries)) for attr, entries in vocab.concepts.items()}
    templates: dict[str, tuple[str, ...]] = {}
    for lang, splits in vocab.templates.items():
        filled = []
        for template in (*splits.get("train", ()), *splits.get("test", ())):
            if "{" + attribute + "}" not in template:
                continue
            for other, cls in first.items():
                if other != attribute:
                    template = template.replace(
                        "{" + other + "}", vocab.words(cls, lang)[0]
                    )
            filled.append(template.replace("{" + attribute + "}", "{concept}"))
        templates[lang] = tuple(dict.fromkeys(filled))
    return templates


def toy_lexicons() -> dict[str, Lexicon]:
    """``{concept: Lexicon}`` for every toy concept, in the vocabulary's order."""
    vocab = load_vocabulary()
    out: dict[str, Lexicon] = {}
    for attribute, entries in vocab.concepts.items():
        templates = _templates(vocab, attribute)
        for concept in entries:
            words = {
                lang: tuple(vocab.words(concept, lang)) for lang in vocab.languages
            }
            english = words["en"]
            out[concept] = Lexicon(
                concept=concept,
                kind=attribute,
                source="toyworld/vocabulary.json",
                words={**words, "en": english[:1]},
                synonyms=english[1:],
                hypernyms=HYPERNYMS.get(attribute, ()),
                templates=dict(templates),
            )
    return out
