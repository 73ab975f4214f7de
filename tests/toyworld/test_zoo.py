"""The shipped zoo: formats, what each file touches, and measured behaviour vs ZOO_CARD.md.

Every image is seeded, so regenerating the first images of a card figure gives the same
detector outcomes; the one-image margin per group only absorbs float differences between
machines. The verdict checks read ``measurements.json``, the file the card is written from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from igmu_audit._paths import fixtures_dir
from igmu_audit.toyworld.evaluate import GROUPS
from igmu_audit.toyworld.unlearn.card import ASPECTS, load_model
from igmu_audit.toyworld.unlearn.card import TASK as CARD_TASKS
from igmu_audit.toyworld.unlearn.token_edit import EMBEDDING_KEY, word_tokens
from igmu_audit.toyworld.unlearn.zoo import ORIGINAL_EXPECTED, ZOO, ZooModel

ZOO_DIR = fixtures_dir() / "toyworld" / "zoo"
ROOT = Path(__file__).resolve().parents[2]
ORIGINAL = fixtures_dir() / "toyworld" / "original"
#: Images regenerated per prompt group (the first K of the card's figure).
K = 8
#: Groups regenerated per model besides the audit prompts: synonyms and two translations.
CHECKED_GROUPS = ("en-synonyms", "fr", "zh")
BY_NAME = {m.name: m for m in ZOO}
CONCEPT = ZOO[0].concept
TASK = CARD_TASKS[CONCEPT]
pytestmark = pytest.mark.skipif(
    not (ZOO_DIR / "measurements.json").is_file(),
    reason="no zoo in fixtures/toyworld/zoo: run python -m igmu_audit.toyworld.unlearn",
)


def _ids(model: ZooModel) -> str:
    return model.name


@pytest.fixture(scope="module")
def measured() -> dict:
    """``measurements.json``: every figure in the card."""
    return json.loads((ZOO_DIR / "measurements.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def original():
    """The toy original, loaded once."""
    return load_model(ORIGINAL, None, ZOO_DIR)


@pytest.fixture(scope="module")
def meter():
    """Generates and scores images exactly as the card's measurements did."""
    from igmu_audit.toyworld.unlearn.measure import Meter

    return Meter(CONCEPT, progress=False)


def test_zoo_is_complete_small_and_pickle_free():
    files = [f for f in ZOO_DIR.iterdir() if f.is_file()]
    assert {m.filename for m in ZOO} <= {f.name for f in files}
    # ESD-u ships every UNet weight (fp16, 3.6 MB); the rest are partial dicts.
    assert sum(f.stat().st_size for f in files) < 12e6
    assert not [
        f for f in files if f.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}
    ]
    card = (ZOO_DIR / "ZOO_CARD.md").read_text(encoding="utf-8")
    for model in ZOO:
        assert f"`{model.filename}`" in card


@pytest.mark.parametrize("model", ZOO, ids=_ids)
def test_override_loads_like_a_users_checkpoint(model, original):
    tensors = load_file(str(ZOO_DIR / model.filename))
    loaded = load_model(ORIGINAL, model, ZOO_DIR)
    (report,) = loaded.overrides
    assert report.component == model.component
    assert report.n_keys == len(tensors)
    assert loaded.fingerprint != original.fingerprint
    with safe_open(str(ZOO_DIR / model.filename), "pt") as fh:
        meta = fh.metadata()
    assert meta["method"] == model.method
    assert json.loads(meta["settings"]) == model.settings


@pytest.mark.parametrize(
    "model", [m for m in ZOO if m.settings.get("parameters") == "full"], ids=_ids
)
def test_full_unet_dicts_hold_every_unet_weight(model, original):
    keys = set(load_file(str(ZOO_DIR / model.filename)))
    assert keys == set(original.pipeline.unet.state_dict())


@pytest.mark.parametrize(
    "model",
    [
        m
        for m in ZOO
        if m.component == "unet" and m.settings.get("parameters") != "full"
    ],
    ids=_ids,
)
def test_unet_dicts_touch_only_cross_attention(model):
    keys = list(load_file(str(ZOO_DIR / model.filename)))
    assert keys
    assert all(".attn2." in k for k in keys)
    if model.method == "uce":
        assert all(k.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) for k in keys)
    if model.method == "esd":
        assert any(".attn2.to_q." in k for k in keys)
        assert any(".attn2.to_out." in k for k in keys)


def test_token_edit_touches_only_the_rows_it_claims(original):
    model = BY_NAME[f"token-edit-{CONCEPT}"]
    (key,) = load_file(str(ZOO_DIR / model.filename))
    assert key == EMBEDDING_KEY
    edited = load_model(ORIGINAL, model, ZOO_DIR).pipeline.text_encoder
    base = original.pipeline.text_encoder
    table, table0 = (
        edited.get_input_embeddings().weight,
        base.get_input_embeddings().weight,
    )
    rows = (table != table0).any(dim=1).nonzero().flatten().tolist()
    tokenizer = original.pipeline.tokenizer
    assert rows == word_tokens(tokenizer, model.settings["words"])
    (anchor,) = word_tokens(tokenizer, [model.anchor])
    for row in rows:
        torch.testing.assert_close(table[row], table0[anchor])
    other = {k: v for k, v in edited.state_dict().items() if "token_embedding" not in k}
    for name, value in other.items():
        assert torch.equal(value, base.state_dict()[name]), name


def test_audit_verdict_matrix_is_the_same_in_code_specs_and_card(measured):
    import yaml

    expected = yaml.safe_load(
        (ROOT / "audits" / "specs" / "expected.yaml").read_text(encoding="utf-8")
    )
    assert expected == {
        "toyworld-original": ORIGINAL_EXPECTED,
        **{f"toyworld-{m.name}": m.expected for m in ZOO},
    }
    assert {f"toyworld-{m.name}.yaml" for m in ZOO} <= {
        p.name for p in (ROOT / "audits" / "specs").glob("*.yaml")
    }
    card = (ZOO_DIR / "ZOO_CARD.md").read_text(encoding="utf-8")
    for model in ZOO:
        assert set(model.expected) == set(ASPECTS)
        row = (
            f"| `{model.name}` | "
            + " | ".join(model.expected[a].upper() for a in ASPECTS)
            + " |"
        )
        assert row in card, row
        assert measured["models"][model.name]["expected"] == model.expected


@pytest.mark.parametrize("model", ZOO, ids=_ids)
def test_detector_forget_rate_explains_the_forgetting_verdict(model, measured):
    # Same prompts, seeds, detector and threshold as the audit: the verdict must agree.
    entry = measured["models"][model.name]
    assert (
        entry["audit_proxy"]["verdicts"]["forgetting"] == model.expected["forgetting"]
    )


def test_original_is_a_meaningful_control(measured):
    base = measured["original"]
    assert base["audit_proxy"]["verdicts"]["forgetting"] == "fail"
    # The original draws the concept in every language, so erasure is measurable there.
    assert min(r["rate"] for r in base["forget"].values()) >= 0.8
    retained = [r for k, r in base["audit_proxy"]["counts"].items() if k != "forget"]
    # Preservation is paired: a class the original seldom draws adds no signal, so every
    # retain class must be drawn reliably for damage to it to be visible.
    assert min(r["rate"] for r in retained) >= 0.8
    assert [g[0] for g in GROUPS] == list(base["forget"])


def _check_prefix(hits: str, stored: str, label: str) -> None:
    flips = sum(a != b for a, b in zip(hits, stored, strict=False))
    assert flips <= 1, f"{label}: regenerated {hits} vs card {stored[: len(hits)]}"


@pytest.mark.parametrize("model", ZOO, ids=_ids)
def test_measured_behaviour_matches_the_card(model, measured, meter):
    entry = measured["models"][model.name]
    loaded = load_model(ORIGINAL, model, ZOO_DIR)
    for group, record in meter.forget(loaded, n=K, groups=CHECKED_GROUPS).items():
        _check_prefix(
            record["hits"], entry["forget"][group]["hits"], f"{model.name}/{group}"
        )
    counts = entry["audit_proxy"]["counts"]
    for key, hits in meter.audit_outcomes(loaded, TASK, limit=K).items():
        regenerated = "".join("1" if h else "0" for h in hits.tolist())
        _check_prefix(regenerated, counts[key]["hits"], f"{model.name}/audit {key}")
