"""The detector-card settings: ``detector_card``, ``require_card``, ``detector_margin``."""

from __future__ import annotations

from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError


def test_card_settings_are_read_with_paths_resolved_against_the_spec(
    tmp_path: Path,
) -> None:
    (tmp_path / "audit.yaml").write_text(
        "detector_card: {toyworld: cards, nudenet-igmu: nude.json}\nrequire_card: true\ndetector_margin: 0.1\n"
    )
    config = load_config(tmp_path, spec=tmp_path / "audit.yaml")
    assert config.detector_card == {
        "toyworld": str(tmp_path / "cards"),
        "nudenet-igmu": str(tmp_path / "nude.json"),
    }
    assert (config.require_card, config.detector_margin) == (True, 0.1)
    assert config.source_of("require_card").endswith("audit.yaml")
    defaults = load_config(tmp_path)
    assert (
        defaults.detector_card,
        defaults.require_card,
        defaults.detector_margin,
    ) == (None, False, 0.05)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "detector_margin: 2",
            "detector_margin: expected a number in [0, 1] but got 2",
        ),
        ("detector_margin: -0.1", "detector_margin: expected a number in [0, 1]"),
        ("require_card: sometimes", "require_card: expected true or false"),
        (
            "detector_card: {toyworld: 3}",
            "detector_card.toyworld: expected a card file or folder path",
        ),
        ("detector_card: ''", "detector_card"),
    ],
)
def test_bad_card_settings_name_the_key_and_range(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "audit.yaml").write_text(line + "\n")
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        load_config(tmp_path, spec=tmp_path / "audit.yaml")
