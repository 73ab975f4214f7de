"""Bad prompt and seed arguments: a ``ConfigError`` naming the argument, before any image.

Every case audits ``Exploding``, a model whose generation raises ``Generated`` the moment
anything past its tokenizer is touched, so a case that reached generation fails with
the wrong error; the harness also checks that nothing was written (cache, evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from corpus.harness import Case, check_case, ids
from igmu_audit import ConfigError, assert_forgotten, assert_preserved, assert_robust_to
from igmu_audit.pipelines.tokenizer import build_clip_tokenizer

CLIP = build_clip_tokenizer()


class Generated(Exception):
    """Raised when a corpus case got as far as generating an image."""


class Exploding:
    """A LoadedPipeline-shaped model: a real tokenizer, and generation that raises."""

    label = "exploding"
    fingerprint = "sha256:" + "0" * 64
    tokenizer_2 = None
    tokenizer_3 = None

    def __init__(self, tokenizer: Any = CLIP) -> None:
        self.tokenizer = tokenizer

    @property
    def pipeline(self) -> Exploding:
        return self

    def __getattr__(self, name: str) -> Any:
        raise Generated(f"the audit reached generation (touched .{name})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise Generated("the audit called the pipeline")


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


def letters_only(text: str, **_: Any) -> dict[str, list[int]]:
    """A tokenizer that reads letters and spaces only (punctuation draws nothing)."""
    return {"input_ids": [ord(c) for c in text if c.isalpha() or c == " "]}


def _session(tmp: Path) -> None:
    from igmu_audit.config import load_config
    from igmu_audit.session import AuditSession, activate

    activate(
        AuditSession(
            load_config(tmp, cli={"seeds": "0-1", "steps": 2, "devices": "cpu"})
        )
    )


def forgotten(
    prompts: Any, model: Any = None, **kwargs: Any
) -> Callable[[Path], Callable[[], object]]:
    """A case body: ``assert_forgotten(Exploding(), prompts, ...)`` in a fresh session."""

    def run(tmp: Path) -> Callable[[], object]:
        _session(tmp)
        options = {"detector": never, "max_rate": 0.5, **kwargs}
        return lambda: assert_forgotten(model or Exploding(), prompts, **options)

    return run


def robust(variants: Any, **kwargs: Any) -> Callable[[Path], Callable[[], object]]:
    def run(tmp: Path) -> Callable[[], object]:
        _session(tmp)
        options = {"detector": never, "max_rate": 0.5, **kwargs}
        return lambda: assert_robust_to(Exploding(), variants, **options)

    return run


def preserved(
    prompts: Any, original: Any = "exploding", **kwargs: Any
) -> Callable[[Path], Callable[[], object]]:
    def run(tmp: Path) -> Callable[[], object]:
        _session(tmp)
        reference = Exploding() if original == "exploding" else original
        options = {"max_csdr": 0.1, **kwargs}
        return lambda: assert_preserved(Exploding(), reference, prompts, **options)

    return run


def raising() -> Iterator[str]:
    yield "a cat"
    raise RuntimeError("prompt file vanished")


def raising_seeds() -> Iterator[int]:
    yield 0
    raise OSError("seed list unreadable")


def _strategy() -> Any:
    from hypothesis import strategies as st

    return st.just("a cat")


def _attack() -> Any:
    from igmu_audit.attacks import AttackBudget, RandomSearch

    return RandomSearch(AttackBudget(steps=1), k=1, seed=0)


PERSON = {"person": ["a nude woman", "a naked man"]}

CASES = [
    Case("single-string", forgotten("a cat"), ConfigError, ("`prompts`", "single string")),
    Case("empty-list", forgotten([]), ConfigError, ("`prompts` is empty",)),
    Case("none", forgotten(None), ConfigError, ("`prompts`", "NoneType")),
    Case("none-entry", forgotten(["a cat", None]), ConfigError, ("`prompts[1]`",)),
    Case("int-entry", forgotten(["a cat", "a dog", 3]), ConfigError, ("`prompts[2]`",)),
    Case("empty-entry", forgotten(["", "a cat"]), ConfigError, ("`prompts[0]`",)),
    Case("whitespace-entry", forgotten(["a cat", " \t\n "]), ConfigError, ("`prompts[1]`",)),
    Case("mapping", forgotten({"cats": ["a cat"]}), ConfigError, ("`prompts`", "mapping")),
    Case("set", forgotten({"a cat", "a dog"}), ConfigError, ("`prompts`", "set", "sorted(")),
    Case("generator-raises", lambda tmp: forgotten(raising())(tmp), ConfigError,
         ("`prompts` could not be read", "RuntimeError", "prompt file vanished")),
    Case("bytes", forgotten(b"a cat"), ConfigError, ("`prompts`", "bytes", "decode")),
    Case("bytes-entry", forgotten(["a cat", b"a dog"]), ConfigError, ("`prompts[1]`", "bytes")),
    Case("too-long", forgotten(["a cat", "a cat " * 1000]), ConfigError,
         ("`prompts[1]`", "6000 characters", "4096")),
    Case("lone-surrogate", forgotten(["a c\ud800t"]), ConfigError, ("`prompts[0]`", "not valid Unicode")),
    Case("empty-to-tokenizer", forgotten(["a cat", "?!"], model=Exploding(letters_only)), ConfigError,
         ("`prompts[1]`", "empty to the model's tokenizer", "`tokenizer`")),
    Case("seeds-negative", forgotten(["a cat"], seeds=[0, -1]), ConfigError, ("argument seeds[1]", "-1")),
    Case("seeds-bool", forgotten(["a cat"], seeds=[True]), ConfigError, ("argument seeds[0]", "True")),
    Case("seeds-float", forgotten(["a cat"], seeds=[0, 1.5]), ConfigError, ("argument seeds[1]", "1.5")),
    Case("seeds-empty", forgotten(["a cat"], seeds=[]), ConfigError, ("argument seeds",)),
    Case("seeds-mapping", forgotten(["a cat"], seeds={0: 1}), ConfigError, ("`seeds`", "dict")),
    Case("seeds-too-large", forgotten(["a cat"], seeds=[2**64]), ConfigError, ("argument seeds[0]", "2**63-1")),
    Case("seeds-generator-raises", lambda tmp: forgotten(["a cat"], seeds=raising_seeds())(tmp), ConfigError,
         ("`seeds` could not be read", "OSError")),
    Case("max-seeds-below-seeds", forgotten(["a cat"], seeds=[0, 1, 2], max_seeds=2), ConfigError,
         ("`max_seeds`", "3 seeds")),
    Case("max-seeds-bool", forgotten(["a cat"], max_seeds=True), ConfigError, ("`max_seeds`", "True")),
    Case("variants-string", robust("a cat"), ConfigError, ("`variants`", "single string")),
    Case("variants-mapping", robust({"a": ["a cat"]}), ConfigError, ("`variants`", "mapping")),
    Case("variants-none-entry", robust(["a cat", None]), ConfigError, ("`variants[1]`",)),
    Case("n-variants-zero", lambda tmp: robust(_strategy(), n_variants=0)(tmp), ConfigError,
         ("`n_variants`", "0")),
    Case("attack-without-prompts", lambda tmp: robust(_attack())(tmp), ConfigError, ("prompts=[...]",)),
    Case("attack-empty-prompt", lambda tmp: robust(_attack(), prompts=["a cat", ""])(tmp), ConfigError,
         ("`prompts[1]`",)),
    Case("preserved-no-original", preserved(PERSON, original=None), ConfigError, ("`original`",)),
    Case("preserved-empty-mapping", preserved({}), ConfigError, ("`prompts` is empty",)),
    Case("preserved-category-not-str", preserved({1: ["a cat"]}), ConfigError, ("`prompts` categories", "1")),
    Case("preserved-category-string", preserved({"red": "a red cat"}), ConfigError,
         ("`prompts['red']`", "single string")),
    Case("reference-length-mismatch", preserved(PERSON, reference_prompts={"person": ["a woman"]}), ConfigError,
         ("`reference_prompts`", "1 reference prompts for 2 prompts in category 'person'")),
    Case("reference-categories-differ", preserved(PERSON, reference_prompts={"people": ["a", "b"]}), ConfigError,
         ("`reference_prompts`", "categories ['people'] for ['person']")),
    Case("reference-flat-for-mapping", preserved(PERSON, reference_prompts=["a woman", "a man"]), ConfigError,
         ("`reference_prompts`", "categories")),
    Case("reference-none-entry", preserved(PERSON, reference_prompts={"person": [None, "a man"]}), ConfigError,
         ("`reference_prompts['person'][0]`",)),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _keep_session() -> Iterator[None]:
    from igmu_audit.session import activate, current_session

    previous = current_session()
    yield
    activate(previous)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 15
    assert len(set(ids(CASES))) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_prompt_arguments(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)
