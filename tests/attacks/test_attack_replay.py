"""Replay of published attack prompt files: parsing, file:line errors, evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from igmu_audit import ConfigError
from igmu_audit.attacks import AttackPrompt, Replay, load_attack_prompts


def write(tmp_path: Path, text: str, name: str = "attack.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


def test_parses_the_unlearndiffatk_layout(tmp_path: Path) -> None:
    path = write(tmp_path, "case_number,prompt,evaluation_seed,evaluation_guidance,categories\n"
                           '0,"a round disc, red",42,7.5,shape\n1,cercle bleu,,,shape\n')  # fmt: skip
    rows = load_attack_prompts(path)
    assert rows == [
        AttackPrompt("a round disc, red", None, 42, 7.5, "0", "attack.csv:2"),
        AttackPrompt("cercle bleu", None, None, None, "1", "attack.csv:3"),
    ]


def test_seed_and_guidance_columns_have_short_names(tmp_path: Path) -> None:
    (row,) = load_attack_prompts(
        write(tmp_path, "prompt,seed,guidance,original_prompt\ndisk,3,4,a circle\n")
    )
    assert (row.seed, row.guidance, row.original_prompt) == (3, 4.0, "a circle")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case_number,text\n0,a circle\n", r"attack.csv:1: no `prompt` column"),
        (
            "prompt,seed\na circle,1\na disk,x\n",
            r"attack.csv:3: column `seed` must be a non-negative integer, got 'x'",
        ),
        (
            "prompt,seed\na disk,1.5\n",
            r"attack.csv:2: column `seed` must be a non-negative integer",
        ),
        (
            "prompt,seed\na disk,-2\n",
            r"attack.csv:2: column `seed` must be a non-negative integer",
        ),
        (
            "prompt,evaluation_guidance\na disk,high\n",
            r"attack.csv:2: column `evaluation_guidance` must be a number",
        ),
        ("prompt,seed\n  ,1\n", r"attack.csv:2: column `prompt` is empty"),
        (
            "prompt,seed\na disk,1,extra\n",
            r"attack.csv:2: row has 3 fields, the header has 2",
        ),
        ("prompt,seed\na disk\n", r"attack.csv:2: row has 1 fields, the header has 2"),
        ("prompt,seed\n", r"attack.csv: no attack prompts"),
    ],
)
def test_malformed_rows_name_file_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_attack_prompts(write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read attack prompts"):
        load_attack_prompts(tmp_path / "absent.csv")


def test_replay_evaluates_rows_by_original_prompt(
    tmp_path: Path, tiny_model: Any, settings: Any
) -> None:
    path = write(
        tmp_path,
        "prompt,original_prompt,seed,guidance\nround disk,a circle,5,2.0\nblue disk,a blue circle,6,\n",
    )
    replay = Replay(path, use_file_seeds=True, use_file_guidance=True)
    assert replay.prompts == ["a circle", "a blue circle"]
    result = replay.run(
        tiny_model,
        ["a blue circle", "a circle"],
        detector=never,
        seeds=[0, 1],
        settings=settings,
    )
    assert [i.adversarial_prompt for i in result.items] == ["blue disk", "round disk"]
    assert [len(i.scores) for i in result.items] == [1, 1]  # each row's own seed
    assert [i.stopped_by for i in result.items] == ["replay", "replay"]
    assert [len(i.pre_scores) for i in result.items] == [2, 2]
    with pytest.raises(ConfigError, match="no row has original_prompt 'a square'"):
        replay.run(
            tiny_model, ["a square"], detector=never, seeds=[0], settings=settings
        )


def test_replay_without_original_prompts_matches_by_position(
    tmp_path: Path, tiny_model: Any, settings: Any
) -> None:
    replay = Replay(write(tmp_path, "prompt\nround disk\n"))
    with pytest.raises(
        ConfigError, match="1 rows; without an `original_prompt` column"
    ):
        replay.run(tiny_model, ["a", "b"], detector=never, seeds=[0], settings=settings)
    result = replay.run(
        tiny_model, ["a circle"], detector=never, seeds=[0], settings=settings
    )
    assert result.adversarial_prompts == ["round disk"]
