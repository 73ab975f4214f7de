"""Extension points: the generic registry, CLIP models and lexicons from providers.

Entry points are real: a ``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path`` is
what ``pip install`` leaves, and importlib.metadata reads it like any installed package.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from igmu_audit import clip_models
from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError
from igmu_audit.preflight import input_problems
from igmu_audit.prompts import concept_words, lexicons
from igmu_audit.prompts.lexicons import Lexicon
from igmu_audit.providers import Registry


def _distribution(site: Path, name: str, entry_points: str, module: str = "") -> None:
    """A fake installed distribution ``name`` 1.0 (and its module) under ``site``."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(entry_points), encoding="utf-8"
    )
    if module:
        (site / f"{name.replace('-', '_')}.py").write_text(
            textwrap.dedent(module), encoding="utf-8"
        )


@pytest.fixture(autouse=True)
def _clean_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test re-reads the lexicon entry points and leaves no registration behind."""
    monkeypatch.setattr(lexicons._PROVIDERS, "_entry_points", None)
    yield
    for name in ("axis", "half"):
        clip_models.unregister_clip_model(name)
    for name in ("acme", "clash"):
        lexicons.unregister_lexicons(name)
    lexicons._PROVIDERS._entry_points = None
    lexicons._forget()


class _Calls:
    """A factory that counts its calls and returns what it was given."""

    def __init__(self, value: Any) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


# -- the generic registry ----------------------------------------------------------


def test_a_value_is_built_once_and_names_are_sorted() -> None:
    registry = Registry("igmu_audit.test-nothing", "widget")
    factory = _Calls(object())
    registry.register("zeta", factory)
    registry.register("alpha", _Calls(1))
    assert registry.names() == ("alpha", "zeta")
    assert registry.build("zeta") is registry.build("zeta") is factory.value
    assert factory.calls == 1


def test_registration_refuses_bad_names_bad_factories_and_silent_replacement() -> None:
    registry = Registry("igmu_audit.test-nothing", "widget")
    with pytest.raises(ConfigError, match="must start with a letter"):
        registry.register("-x", _Calls(1))
    with pytest.raises(ConfigError, match="must be callable"):
        registry.register("x", 3)  # type: ignore[arg-type]
    registry.register("x", _Calls(1))
    assert registry.build("x") == 1
    with pytest.raises(
        ConfigError,
        match=r"widget 'x' \(registered in process\) already exists; pass overwrite=True",
    ):
        registry.register("x", _Calls(2))
    registry.register("x", _Calls(2), overwrite=True)
    assert registry.build("x") == 2  # the cached 1 was dropped


def test_unknown_names_list_the_known_ones_the_closest_and_the_group() -> None:
    registry = Registry("igmu_audit.test-nothing", "widget")
    registry.register("sprocket", _Calls(1))
    with pytest.raises(ConfigError) as info:
        registry.build("sprockett")
    assert str(info.value) == (
        "unknown widget 'sprockett'; did you mean 'sprocket'? (known: sprocket); "
        "a package adds one through the entry-point group 'igmu_audit.test-nothing'"
    )


def test_a_refused_or_failing_value_is_an_error_naming_its_origin_and_never_cached() -> (
    None
):
    registry = Registry(
        "igmu_audit.test-nothing",
        "widget",
        check=lambda v: None if isinstance(v, int) else "is not an int",
    )
    bad = _Calls("seven")
    registry.register("bad", bad)
    for _ in range(2):
        with pytest.raises(
            ConfigError,
            match=r"widget 'bad' \(registered in process\) gave a value that is not an int",
        ):
            registry.build("bad")
    assert bad.calls == 2

    def broken() -> int:
        raise OSError("weights.bin is missing")

    registry.register("broken", broken)
    with pytest.raises(
        ConfigError,
        match=r"widget 'broken' \(registered in process\) failed to build: OSError: weights.bin is missing",
    ):
        registry.build("broken")


def test_entry_points_load_lazily_and_a_broken_one_names_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _distribution(
        tmp_path,
        "acme-widgets",
        """
        [igmu_audit.test-widgets]
        good = acme_widgets:make
        ghost = acme_widgets_missing:make
        value = acme_widgets:NOT_CALLABLE
        """,
        "NOT_CALLABLE = 3\n\ndef make():\n    return 42\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_widgets", raising=False)
    registry = Registry("igmu_audit.test-widgets", "widget")
    assert registry.names() == ("ghost", "good", "value")
    assert "acme_widgets" not in sys.modules
    assert registry.build("good") == 42
    with pytest.raises(ConfigError) as info:
        registry.build("ghost")
    assert str(info.value).startswith(
        "entry point 'ghost' = 'acme_widgets_missing:make' in group "
        "'igmu_audit.test-widgets' (distribution acme-widgets 1.0) failed to load: "
        "ModuleNotFoundError: No module named 'acme_widgets_missing'"
    )
    with pytest.raises(
        ConfigError, match=r"widget 'value' from entry point .* is a int"
    ):
        registry.build("value")
    monkeypatch.delitem(sys.modules, "acme_widgets")


def test_the_first_distribution_on_the_path_wins_and_only_overwrite_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _distribution(tmp_path / "a", "first-dist", "[igmu_audit.test-w]\nx = first:x\n")
    _distribution(tmp_path / "b", "second-dist", "[igmu_audit.test-w]\nx = second:x\n")
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    registry = Registry("igmu_audit.test-w", "widget")
    assert "distribution first-dist 1.0" in registry.origin("x")
    with pytest.raises(ConfigError, match=r"first-dist 1.0\) already exists"):
        registry.register("x", _Calls("mine"))
    registry.register("x", _Calls("mine"), overwrite=True)
    assert registry.build("x") == "mine"


# -- CLIP models ------------------------------------------------------------------


class _AxisClip:
    name = "axis"

    def encode_image(self, images: Any) -> Any:
        return images

    def encode_text(self, texts: Any) -> Any:
        return texts


def test_the_toy_clip_is_a_provider_found_by_name() -> None:
    assert "toyworld" in clip_models.clip_model_names()
    toy = clip_models.load_clip("toyworld")
    assert clip_models.load_clip("toyworld") is toy  # built once per process
    assert toy.encode_text(["a red circle"]).shape[0] == 1
    with pytest.raises(
        ConfigError, match="unknown CLIP model 'toywrld'; did you mean 'toyworld'"
    ):
        clip_models.load_clip("toywrld")


def test_a_registered_clip_model_loads_by_name_and_a_half_one_is_refused() -> None:
    clip_models.register_clip_model("axis", _AxisClip)
    assert isinstance(clip_models.load_clip("axis"), _AxisClip)

    class Half:
        name = "half"

        def encode_image(self, images: Any) -> Any:
            return images

    clip_models.register_clip_model("half", Half)
    with pytest.raises(
        ConfigError, match=r"is not a CLIP model: a Half without encode_text"
    ):
        clip_models.load_clip("half")


def test_an_unknown_clip_name_is_a_session_start_problem_listing_the_known(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.igmu_audit]\nclip = "toywrld"\n', encoding="utf-8"
    )
    (problem,) = input_problems(load_config(tmp_path))
    assert "unknown CLIP model 'toywrld'; did you mean 'toyworld'?" in problem
    assert "`clip: toyworld`" in problem
    (tmp_path / "pyproject.toml").write_text(
        '[tool.igmu_audit]\nclip = "toyworld"\n', encoding="utf-8"
    )
    assert input_problems(load_config(tmp_path)) == []


# -- lexicons ---------------------------------------------------------------------


def _widget(concept: str = "widget") -> Lexicon:
    return Lexicon(
        concept=concept,
        kind="object",
        source="acme lexicons",
        words={"en": (concept,), "fr": ("gadget",)},
        synonyms=("gizmo",),
        templates={"en": ("a photo of a {concept}",)},
    )


def test_the_toy_lexicons_come_from_their_provider() -> None:
    assert lexicons._PROVIDERS.names() == ("toyworld",)
    assert lexicons.get_lexicon("shape_circle").source == "toyworld/vocabulary.json"


def test_a_registered_lexicon_works_everywhere_a_concept_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown concept 'widget'"):
        lexicons.get_lexicon("widget")
    lexicons.register_lexicons("acme", lambda: {"widget": _widget()})
    assert lexicons.known_concepts()[:4] == ("nudity", "vangogh", "church", "parachute")
    assert "widget" in lexicons.known_concepts()
    assert lexicons.concept_for_task("object_widget") == "widget"
    span = concept_words.find_concept("two gizmos on a table", "widget")
    assert (span.text, span.form, span.plural) == ("gizmos", "synonym", True)
    lexicons.unregister_lexicons("acme")
    with pytest.raises(ConfigError, match="unknown concept 'widget'"):
        lexicons.get_lexicon("widget")


def test_a_provider_cannot_replace_a_known_concept() -> None:
    lexicons.register_lexicons("clash", lambda: {"nudity": _widget("nudity")})
    with pytest.warns(
        RuntimeWarning, match=r"ignoring concept 'nudity' from lexicon provider 'clash'"
    ):
        lexicon = lexicons.get_lexicon("nudity")
    assert lexicon.source == "lexicons/concepts.json"


def test_a_provider_giving_something_else_is_refused() -> None:
    lexicons.register_lexicons("acme", lambda: {"widget": _widget("gadget")})
    with pytest.raises(
        ConfigError, match=r"maps 'widget' to .*not to a Lexicon of that concept"
    ):
        lexicons.known_concepts()


def test_an_entry_point_lexicon_provider_is_read_like_the_toy_worlds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _distribution(
        tmp_path,
        "acme-lexicons",
        "[igmu_audit.lexicons]\nacme = acme_lexicons:lexicons\n",
        """
        from igmu_audit.prompts.lexicons import Lexicon

        def lexicons():
            return {"sprocket": Lexicon("sprocket", "object", "acme", {"en": ("sprocket",)})}
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_lexicons", raising=False)
    lexicons._forget()
    assert lexicons._PROVIDERS.names() == ("acme", "toyworld")
    # Project concepts, then providers in name order: acme before toyworld.
    assert lexicons.known_concepts()[4:6] == ("sprocket", "circle")
    assert lexicons.get_lexicon("object_sprocket").source == "acme"
    monkeypatch.delitem(sys.modules, "acme_lexicons")
