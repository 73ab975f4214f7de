"""DataIGM prompt files and detector image trees: the shipped split and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igmu_audit.errors import ConfigError
from igmu_audit.prompts import load_dataigm, load_image_tree

REQUIRED = ("nudity", "style_vangogh", "object_church", "object_parachute")


def test_shipped_split_has_enough_prompts_per_task() -> None:
    split = load_dataigm()
    for task in REQUIRED:
        assert len(split[task].forget_prompts()) >= 20, task
        assert len(split[task].retain_prompts()) >= 20, task


def test_nudity_and_style_are_paired_with_the_concept_removed() -> None:
    split = load_dataigm()
    nudity = split["nudity"]
    assert nudity.paired
    for forget, retain in zip(
        nudity.forget_prompts(), nudity.retain_prompts(), strict=True
    ):
        assert "nude" in forget or "naked" in forget
        assert "nude" not in retain
        assert "naked" not in retain
    style = split["style_vangogh"]
    assert style.paired
    assert all("gogh" not in p.lower() for p in style.retain_prompts())
    assert all("gogh" in p.lower() for p in style.forget_prompts())


def test_object_retain_holds_other_objects() -> None:
    church = load_dataigm()["object_church"]
    assert not church.paired
    assert "church" not in " ".join(church.retain_prompts()).lower()
    assert set(church.retain) >= {"cat", "airplane", "parachute"}


def test_categories_and_unknown_names() -> None:
    nudity = load_dataigm()["nudity"]
    assert len(nudity.forget_prompts("woman")) == 4
    with pytest.raises(
        ConfigError, match=r"no forget category 'women'; did you mean 'woman'\?"
    ):
        nudity.forget_prompts("women")
    with pytest.raises(ConfigError, match=r"no task 'nudty'; did you mean 'nudity'\?"):
        load_dataigm()["nudty"]


def write_split(root: Path, forget: object, retain: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "forgot.json").write_text(json.dumps(forget))
    (root / "retain.json").write_text(json.dumps(retain))
    return root


GOOD = {"t": {"c": ["a prompt"]}}


@pytest.mark.parametrize(
    ("forget", "message"),
    [
        (
            [],
            r"forgot.json: \$: expected a non-empty object \{task: \{category: \[prompt, ...\]\}\} but got list",
        ),
        ({"t": ["x"]}, r"forgot.json: \$.t: expected a non-empty object of categories"),
        (
            {"t": {"c": "x"}},
            r"forgot.json: \$.t.c: expected a non-empty list of prompts but got 'x'",
        ),
        (
            {"t": {"c": ["ok", 3]}},
            r"forgot.json: \$.t.c\[1\]: expected a non-empty string but got 3",
        ),
        ({"t": {"c": ["  "]}}, r"\$.t.c\[0\]: expected a non-empty string"),
    ],
)
def test_malformed_prompt_files_name_the_path_inside(
    tmp_path: Path, forget: object, message: str
) -> None:
    root = write_split(tmp_path, forget, GOOD)
    with pytest.raises(ConfigError, match=message):
        load_dataigm(root)


def test_task_in_one_file_only(tmp_path: Path) -> None:
    root = write_split(tmp_path, {**GOOD, "u": {"c": ["p"]}}, GOOD)
    with pytest.raises(
        ConfigError, match=r"retain.json: task 'u' is in forgot.json but missing here"
    ):
        load_dataigm(root)


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    root = write_split(tmp_path, GOOD, GOOD)
    (root / "forgot.json").write_text("{nope")
    with pytest.raises(
        ConfigError, match=r"forgot.json: not valid JSON \(line 1, column 2\)"
    ):
        load_dataigm(root)
    with pytest.raises(
        ConfigError, match=r"missing.json: DataIGM prompt file not found"
    ):
        load_dataigm(root, forget=root / "missing.json")


def test_image_tree(tmp_path: Path) -> None:
    for split, cls, name in [
        ("train", "nude", "a.png"),
        ("train", "safe", "b.jpg"),
        ("test", "safe", "c.png"),
    ]:
        folder = tmp_path / "Nudity" / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    (tmp_path / "Nudity" / "train" / "nude" / "notes.txt").write_text("ignored")
    tree = load_image_tree(tmp_path / "Nudity")
    assert sorted(tree) == ["test", "train"]
    assert [p.name for p in tree["train"]["nude"]] == ["a.png"]
    assert list(tree["test"]) == ["safe"]


def test_image_tree_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="detector image folder not found"):
        load_image_tree(tmp_path / "none")
    (tmp_path / "T" / "train" / "empty").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"empty: no images"):
        load_image_tree(tmp_path / "T")


def test_toy_world_tasks_name_the_class_each_retain_prompt_shows() -> None:
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    split = load_dataigm()
    circle = split["shape_circle"]
    assert len(circle.forget_prompts()) >= 20
    assert all("circle" in p for p in circle.forget_prompts())
    assert set(circle.retain) == set(vocab.classes("shape")) - {"circle"}
    for category, prompts in circle.retain.items():
        assert all(category in p and "circle" not in p for p in prompts)
    striped = split["texture_striped"]
    assert set(striped.retain) == set(vocab.classes("texture")) - {"striped"}
    assert all("striped" in p for p in striped.forget_prompts())
