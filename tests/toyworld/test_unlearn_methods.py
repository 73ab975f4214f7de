"""Unlearning methods on the tiny random pipeline: what each one touches, and the UCE math.

The tiny pipeline has random weights, so these tests check mechanics (which tensors move,
the closed form, the file formats and loading), not erasure; ``test_zoo.py`` measures
erasure on the shipped toy world.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from igmu_audit.pipelines.loading import ModelSpec, load_pipeline
from igmu_audit.toyworld.unlearn import (
    ESDConfig,
    UCEConfig,
    token_edit,
    train_esd,
    uce_edit,
)
from igmu_audit.toyworld.unlearn._common import (
    concept_prompts,
    cross_attention_layers,
    encode_texts,
    paired_prompts,
    retain_prompts,
    token_ids,
)
from igmu_audit.toyworld.unlearn.token_edit import EMBEDDING_KEY, word_tokens
from igmu_audit.toyworld.unlearn.uce import closed_form, edit_pairs

TINY_ESD = ESDConfig(steps=2, batch_size=2, ddim_steps=4, pool_size=4, lr=1e-3)


@pytest.fixture
def pipe(tiny_sd_dir: Path):
    """A fresh float32 tiny pipeline per test (methods edit it in place)."""
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir)))
    return loaded.pipeline


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _moved(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


def test_esd_x_changes_only_cross_attention(pipe):
    before = _snapshot(pipe.unet)
    text_before = _snapshot(pipe.text_encoder)
    erase = concept_prompts("circle", 4, seed=0)
    keep = retain_prompts("circle", 4, seed=1, empty=1)
    out = train_esd(pipe, erase, keep, TINY_ESD)
    moved = _moved(before, pipe.unet)
    assert moved, "ESD-x changed nothing"
    assert all(".attn2." in k for k in moved)
    assert set(out) == moved
    assert all(v.dtype == torch.float16 for v in out.values())
    assert not _moved(text_before, pipe.text_encoder)


def test_esd_full_unet_variant_reaches_beyond_cross_attention(pipe):
    before = _snapshot(pipe.unet)
    config = ESDConfig(
        **{**TINY_ESD.to_dict(), "parameters": "full", "retain_weight": 0.0}
    )
    out = train_esd(pipe, concept_prompts("circle", 4, seed=0), (), config)
    assert any(".attn2." not in k for k in out)
    assert set(out) == _moved(before, pipe.unet)


def test_esd_config_rejects_unknown_parameter_sets():
    with pytest.raises(ValueError, match="parameters"):
        ESDConfig(parameters="attn1")


def test_closed_form_solves_the_uce_objective_exactly_when_it_can():
    # 3 erased + 4 preserved directions in 16 dims: the edit can satisfy both exactly.
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 16, generator=g)
    c_e, c_a, c_p = (torch.randn(k, 16, generator=g) for k in (3, 3, 4))
    config = UCEConfig(lamb=1e-6, erase_scale=1.0, preserve_scale=1.0)
    new = closed_form(w, c_e, c_a, c_p, config)
    torch.testing.assert_close(c_e @ new.T, c_a @ w.T, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(c_p @ new.T, c_p @ w.T, atol=1e-3, rtol=1e-3)


def test_closed_form_minimises_the_uce_objective():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(8, 16, generator=g)
    c_e, c_a, c_p = (torch.randn(k, 16, generator=g) for k in (40, 40, 30))
    config = UCEConfig(lamb=0.1, erase_scale=1.0, preserve_scale=0.1)

    def objective(m: torch.Tensor) -> torch.Tensor:
        erase = ((c_e @ m.T - c_a @ w.T) ** 2).sum()
        keep = ((c_p @ m.T - c_p @ w.T) ** 2).sum()
        return config.lamb * ((m - w) ** 2).sum() + erase + config.preserve_scale * keep

    new = closed_form(w, c_e, c_a, c_p, config)
    assert objective(new) < objective(w)
    for _ in range(5):
        nudge = 1e-2 * torch.randn(w.shape, generator=g)
        assert objective(new) <= objective(new + nudge)


def test_closed_form_keeps_unseen_directions_with_lambda():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(8, 16, generator=g)
    c_e = torch.zeros(1, 16)
    c_e[0, 0] = 1.0
    c_a = torch.zeros(1, 16)
    c_a[0, 1] = 1.0
    new = closed_form(w, c_e, c_a, torch.zeros(0, 16), UCEConfig(lamb=0.1))
    # Columns of directions no prompt touches stay exactly as they were.
    torch.testing.assert_close(new[:, 2:], w[:, 2:])
    # The erased direction lands on the λ-weighted mix (λ w_0 + w_1) / (λ + 1).
    torch.testing.assert_close(new[:, 0], (0.1 * w[:, 0] + w[:, 1]) / 1.1)


def test_uce_moves_concept_towards_anchor_and_keeps_preserved_prompts(pipe):
    before = _snapshot(pipe.unet)
    old = {
        n: (layer.to_k.weight.detach().clone(), layer.to_v.weight.detach().clone())
        for n, layer in cross_attention_layers(pipe.unet).items()
    }
    erase, anchors = paired_prompts("circle", "square", ["circle"], 16, seed=0)
    preserve = retain_prompts("circle", 24, seed=2, empty=1)
    out = uce_edit(pipe, erase, anchors, preserve, UCEConfig())
    assert set(out) == _moved(before, pipe.unet)
    assert all(k.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) for k in out)
    assert len(out) == 2 * len(old)

    # UCE's objective rows for a prompt pair: the concept's position to the end of the
    # sequence (its padding carries the concept through causal attention).
    encoder, tokenizer = pipe.text_encoder, pipe.tokenizer
    pair = ["a red circle", "a red square"]
    word, target = edit_pairs(
        encode_texts(encoder, tokenizer, pair[:1]),
        token_ids(tokenizer, pair[:1]),
        encode_texts(encoder, tokenizer, pair[1:]),
        token_ids(tokenizer, pair[1:]),
    )
    kept = encode_texts(encoder, tokenizer, [preserve[0]])[0]
    for name, layer in cross_attention_layers(pipe.unet).items():
        for proj, w_old in zip((layer.to_k, layer.to_v), old[name], strict=True):
            w_new = proj.weight.detach()
            gap_before = torch.linalg.norm(word @ w_old.T - target @ w_old.T)
            gap_after = torch.linalg.norm(word @ w_new.T - target @ w_old.T)
            drift = torch.linalg.norm(kept @ w_new.T - kept @ w_old.T)
            # Random tiny weights: pads of circle and square prompts look alike, so the
            # erase and preserve rows pull against each other (measured ratio ~0.6 / 3 %).
            assert gap_after < 0.75 * gap_before, name
            assert drift < 0.06 * torch.linalg.norm(kept @ w_old.T), name
            assert drift < 0.05 * torch.linalg.norm(kept @ w_old.T), name


def test_uce_requires_paired_prompts(pipe):
    with pytest.raises(ValueError, match="equal length"):
        uce_edit(pipe, ["a circle"], [], [""])


def test_token_edit_changes_only_the_concepts_english_rows(pipe):
    table = pipe.text_encoder.get_input_embeddings().weight
    before = table.detach().clone()
    out, edited = token_edit(pipe, ["circle"], "square")
    assert list(out) == [EMBEDDING_KEY]
    assert edited == word_tokens(pipe.tokenizer, ["circle"])
    rows = (table.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert rows == edited
    square = word_tokens(pipe.tokenizer, ["square"])
    torch.testing.assert_close(table[edited[0]], before[square[0]])
    # Translations and synonyms tokenise to other ids, so they keep their embeddings.
    for word in ("cercle", "Kreis", "圆形", "disk"):
        assert not set(word_tokens(pipe.tokenizer, [word])) & set(edited)


def test_token_edit_refuses_a_word_that_shares_the_anchors_tokens(pipe):
    with pytest.raises(ValueError, match="share tokens"):
        token_edit(pipe, ["square"], "square")


def test_partial_dicts_load_as_overrides(pipe, tiny_sd_dir, tmp_path):
    erase, anchors = paired_prompts("circle", "square", ["circle"], 4, seed=0)
    unet_dict = uce_edit(pipe, erase, anchors, [""])
    text_dict, edited = token_edit(pipe, ["circle"], "square")
    save_file(unet_dict, str(tmp_path / "uce.safetensors"))
    save_file(text_dict, str(tmp_path / "token.safetensors"))
    loaded = load_pipeline(
        ModelSpec(
            path=str(tiny_sd_dir),
            unet=str(tmp_path / "uce.safetensors"),
            text_encoder=str(tmp_path / "token.safetensors"),
        )
    )
    reports = {o.component: o for o in loaded.overrides}
    assert reports["unet"].n_keys == len(unet_dict)
    assert reports["text_encoder"].n_keys == 1
    key = next(iter(unet_dict))
    torch.testing.assert_close(
        loaded.pipeline.unet.state_dict()[key], unet_dict[key].float()
    )
    row = loaded.pipeline.text_encoder.get_input_embeddings().weight[edited[0]]
    torch.testing.assert_close(row, text_dict[EMBEDDING_KEY][edited[0]].float())


def test_quick_zoo_build_writes_every_override(tiny_sd_dir, tmp_path):
    from igmu_audit.toyworld.unlearn.__main__ import main
    from igmu_audit.toyworld.unlearn.zoo import ZOO

    main(
        [
            "--original",
            str(tiny_sd_dir),
            "--out",
            str(tmp_path),
            "--quick",
            "--threads",
            "1",
        ]
    )
    for model in ZOO:
        tensors = load_file(str(tmp_path / model.filename))
        assert tensors, model.name
        spec = ModelSpec(
            path=str(tiny_sd_dir), **{model.component: str(tmp_path / model.filename)}
        )
        assert load_pipeline(spec).overrides[0].n_keys == len(tensors)
    assert (tmp_path / "builds.json").is_file()
