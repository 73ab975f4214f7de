"""Translators: the shipped lexicons, or a local machine-translation model through transformers.

Anything with ``translate(text, target_language) -> str`` is a ``Translator``. Two ship:

- ``LexiconTranslator(concept)``: swaps the concept's words for their translation from the
  shipped lexicons (a code-mixed prompt); offline, instant and reproducible.
- ``TransformersTranslator(model_dir)``: a MarianMT or M2M100 model saved on disk with
  ``save_pretrained``; greedy decoding, so the same text gives the same translation.

``translations(..., translator=...)`` in ``igmu_audit.prompts.strategies`` accepts either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from igmu_audit._imports import requires
from igmu_audit.errors import ConfigError
from igmu_audit.prompts.concept_words import find_concept, find_concepts
from igmu_audit.prompts.lexicons import get_lexicon
from igmu_audit.prompts.perturb import substitute

if TYPE_CHECKING:
    from collections.abc import Sequence


@runtime_checkable
class Translator(Protocol):
    """Translates a prompt into a target language (an ISO 639-1 code such as ``"fr"``)."""

    def translate(self, text: str, target_language: str) -> str:
        """Return ``text`` in ``target_language``."""
        ...


def _check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"`text` must be a non-empty string, got {text!r}")
    return text


class LexiconTranslator:
    """Translate the concept's words only, from the shipped lexicons.

    A prompt that is only the concept word becomes the target word; otherwise every concept
    word is replaced in place and the rest stays English (code-mixing, as users write it).

    Args:
        concept: a concept or DataIGM task name.

    Example:
        >>> LexiconTranslator("nudity").translate("a nude woman by a window", "ja")
        'a ヌード woman by a window'
    """

    def __init__(self, concept: str) -> None:
        self.lexicon = get_lexicon(concept)

    def translate(self, text: str, target_language: str) -> str:
        """Return ``text`` with its concept words in ``target_language``.

        Raises:
            ConfigError: empty text, no concept word in it, or an unknown language.
        """
        _check_text(text)
        word = self.lexicon.terms(target_language)[0]
        find_concept(text, self.lexicon.concept)
        spans = find_concepts(text, self.lexicon.concept)
        if len(spans) == 1 and text.strip() == spans[0].text:
            return word
        return substitute(text, spans, word)

    def __repr__(self) -> str:
        return f"LexiconTranslator({self.lexicon.concept!r})"


class TransformersTranslator:
    """A MarianMT or M2M100 model from a local folder, decoded greedily (deterministic).

    M2M100 models pick the target language with its ``__xx__`` token; multi-target Marian
    models with a ``>>xx<<`` prefix token; single-pair Marian models translate into the one
    language named in ``target_languages``.

    Args:
        model_dir: a folder written by ``save_pretrained`` (``config.json``, weights and
            tokenizer files). Nothing is downloaded.
        source_language: the prompts' language code (M2M100 ``src_lang``).
        target_languages: the languages this model may be asked for; required for a
            single-pair Marian model, optional otherwise.
        max_new_tokens: the longest translation generated.
        device: the torch device to run on.

    Raises:
        ConfigError: the folder or its ``config.json`` is missing, or the model is neither
            Marian nor M2M100.
        MissingDependencyError: transformers is not installed.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        source_language: str = "en",
        target_languages: Sequence[str] | None = None,
        max_new_tokens: int = 64,
        device: str = "cpu",
    ) -> None:
        if (
            not isinstance(max_new_tokens, int)
            or isinstance(max_new_tokens, bool)
            or max_new_tokens < 1
        ):
            raise ConfigError(
                f"`max_new_tokens` must be an integer >= 1, got {max_new_tokens!r}"
            )
        path = Path(model_dir)
        hint = "expected a folder saved with `save_pretrained` holding config.json, weights and tokenizer files"
        if not path.is_dir():
            raise ConfigError(
                f"TransformersTranslator: model folder {str(path)!r} not found; {hint}"
            )
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"TransformersTranslator: {str(path)!r} has no config.json; {hint}"
            )
        requires("transformers", feature="TransformersTranslator")
        # Imported here: transformers and torch are heavy and optional for this module.
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.model_dir = path
        self.source_language = source_language
        self.target_languages = (
            tuple(target_languages) if target_languages is not None else None
        )
        self.max_new_tokens = max_new_tokens
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model: Any = (
            AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True)
            .to(device)
            .eval()
        )
        self.model_type: str = self.model.config.model_type
        if self.model_type not in {"marian", "m2m_100"}:
            raise ConfigError(
                f"TransformersTranslator: {str(path)!r} holds a {self.model_type!r} model; "
                "expected a MarianMT ('marian') or M2M100 ('m2m_100') model"
            )
        self._cache: dict[tuple[str, str], str] = {}

    def _token_id(self, token: str) -> int | None:
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        return (
            None
            if token_id is None or token_id == self.tokenizer.unk_token_id
            else int(token_id)
        )

    def _prepare(self, text: str, target: str) -> tuple[str, dict[str, Any]]:
        if self.target_languages is not None and target not in self.target_languages:
            raise ConfigError(
                f"`target_language`: {str(self.model_dir)!r} translates into "
                f"{', '.join(self.target_languages)}, not {target!r}"
            )
        if self.model_type == "m2m_100":
            lang_id = self._token_id(f"__{target}__")
            if lang_id is None:
                raise ConfigError(
                    f"`target_language`: the M2M100 tokenizer has no language token '__{target}__'"
                )
            if hasattr(self.tokenizer, "src_lang"):
                self.tokenizer.src_lang = self.source_language
            return text, {"forced_bos_token_id": lang_id}
        if self._token_id(f">>{target}<<") is not None:
            return f">>{target}<< {text}", {}
        if self.target_languages is None:
            raise ConfigError(
                f"TransformersTranslator: {str(self.model_dir)!r} is a single-pair Marian model; "
                "pass target_languages=('fr',) (its target) so requests for other languages fail clearly"
            )
        return text, {}

    def translate(self, text: str, target_language: str) -> str:
        """Translate ``text`` into ``target_language`` (cached; greedy, so deterministic).

        Raises:
            ConfigError: empty text, or a language this model cannot produce.
        """
        _check_text(text)
        key = (text, target_language)
        if key not in self._cache:
            import torch

            source, extra = self._prepare(text, target_language)
            inputs = self.tokenizer(source, return_tensors="pt").to(self.model.device)
            inputs.pop("token_type_ids", None)
            with torch.no_grad():
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    **extra,
                )
            self._cache[key] = str(
                self.tokenizer.decode(out[0], skip_special_tokens=True)
            ).strip()
        return self._cache[key]

    def __repr__(self) -> str:
        return f"TransformersTranslator({str(self.model_dir)!r}, model_type={self.model_type!r})"
