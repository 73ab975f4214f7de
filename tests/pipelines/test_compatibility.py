"""The compatibility matrix (docs/compatibility.md), one row per published method: each
test writes the artefact the method ships, in its published key layout, on a tiny config,
audits it through the spec keys the doc names, and checks the change landed (the
fingerprint moved, the edited component holds the file's tensors, the image changed)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.tiny_families import save_family
from safetensors.torch import save_file

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.generation import GenerationSettings, generate
from igmu_audit.pipelines.loading import load_pipeline

SETTINGS = GenerationSettings(steps=2, height=16, width=16)
FLOW = GenerationSettings(
    steps=2, height=16, width=16, arguments=(("max_sequence_length", 8),)
)


def _noise(state: dict[str, torch.Tensor], seed: int = 5) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: v + 0.3 * torch.randn(v.shape, generator=gen) for k, v in state.items()}


def _unet(base: Any, keep: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    return _noise({k: v for k, v in base.unet.state_dict().items() if keep(k)})


def esd_u(tmp: Path, base: Any) -> dict:
    """ESD-u: every UNet weight outside cross-attention (diffusers key names)."""
    save_file(_unet(base, lambda k: "attn2" not in k), str(tmp / "esd-u.safetensors"))
    return {"unet": str(tmp / "esd-u.safetensors")}


def esd_x(tmp: Path, base: Any) -> dict:
    """ESD-x: cross-attention (``attn2``) weights only."""
    save_file(_unet(base, lambda k: "attn2" in k), str(tmp / "esd-x.safetensors"))
    return {"unet": str(tmp / "esd-x.safetensors")}


def uce(tmp: Path, base: Any) -> dict:
    """UCE / RECE: closed-form edits of the cross-attention key and value projections."""
    edit = _unet(base, lambda k: "attn2.to_k" in k or "attn2.to_v" in k)
    save_file(edit, str(tmp / "uce.safetensors"))
    return {"unet": str(tmp / "uce.safetensors")}


def rece_pickle(tmp: Path, base: Any) -> dict:
    """RECE as released: a ``torch.save`` pickle of the edited UNet (opt-in pickle)."""
    torch.save(_unet(base, lambda k: "attn2.to_v" in k), tmp / "rece.pt")
    return {"unet": str(tmp / "rece.pt"), "allow_pickle": True}


def fmn_folder(tmp: Path, base: Any) -> dict:
    """FMN / SalUn: a full fine-tuned UNet saved as a diffusers component folder."""
    unet = base.unet
    state = _noise(unet.state_dict())
    unet.load_state_dict(state)
    unet.save_pretrained(tmp / "fmn-unet", safe_serialization=True)
    return {"unet": str(tmp / "fmn-unet")}


def spm_merged(tmp: Path, base: Any) -> dict:
    """SPM (merged) / SalUn full dicts saved from a wrapper: every key under ``unet.``."""
    edit = {f"unet.{k}": v for k, v in _unet(base, lambda k: "attn" in k).items()}
    save_file(edit, str(tmp / "spm.safetensors"))
    return {"unet": str(tmp / "spm.safetensors")}


def doco(tmp: Path, base: Any) -> dict:
    """DoCo: ``{"unet": {changed params}}``."""
    torch.save({"unet": _unet(base, lambda k: "to_out" in k)}, tmp / "doco.pt")
    return {"unet": str(tmp / "doco.pt"), "allow_pickle": True}


def advunlearn(tmp: Path, base: Any) -> dict:
    """AdvUnlearn: the CLIP text encoder, with transformers' ``text_model.`` key level."""
    state = {
        k: v for k, v in base.text_encoder.state_dict().items() if "layers.0." in k
    }
    edit = {
        ("" if k.startswith("text_model.") else "text_model.") + k: v
        for k, v in _noise(state).items()
    }
    save_file(edit, str(tmp / "advunlearn.safetensors"))
    return {"text_encoder": str(tmp / "advunlearn.safetensors")}


def mace(tmp: Path, base: Any) -> dict:
    """MACE: a whole diffusers pipeline folder with the edits fused in."""
    base.unet.load_state_dict(_noise(base.unet.state_dict()))
    base.save_pretrained(tmp / "mace", safe_serialization=True)
    return {"path": str(tmp / "mace")}


_RECELER = '''
import torch

def build(pipe):
    """Receler: eraser adapters after every cross-attention, attn_out + up(GELU(down(attn_out)))."""
    torch.manual_seed(0)
    pipe._erasers = []
    for name, module in pipe.unet.named_modules():
        if name.endswith("attn2"):
            dim = module.to_out[0].out_features
            down, up = torch.nn.Linear(dim, 4), torch.nn.Linear(4, dim)
            pipe._erasers.append((down, up))
            module.register_forward_hook(
                lambda m, args, out, d=down, u=up: out + u(torch.nn.functional.gelu(d(out))))
    return pipe
'''
_CONCEPTPRUNE = '''
import torch

def build(pipe):
    """ConceptPrune: masks on FFN neurons, applied by hooks that stay active while sampling."""
    for name, module in pipe.unet.named_modules():
        if name.endswith("ff.net.2"):
            mask = torch.ones(module.in_features)
            mask[::2] = 0
            module.register_forward_pre_hook(lambda m, args, k=mask: (args[0] * k,))
    return pipe
'''
_SLD = '''
from diffusers import StableDiffusionPipelineSafe

class Sld(StableDiffusionPipelineSafe):
    """SLD: diffusers' Safe Latent Diffusion, guidance from the first step (tiny runs)."""
    def __call__(self, *args, **kwargs):
        return super().__call__(*args, sld_warmup_steps=0, **kwargs)

def build(pipe):
    return Sld(**{**pipe.components, "requires_safety_checker": False})
'''
_SAFREE = '''
import torch
from diffusers import StableDiffusionPipeline

class Safree(StableDiffusionPipeline):
    """SAFREE-style: project prompt embeddings away from a concept direction."""
    def encode_prompt(self, *args, **kwargs):
        pos, neg = super().encode_prompt(*args, **kwargs)
        keep = torch.ones(pos.shape[-1])
        keep[::2] = 0  # the concept subspace, projected out
        return pos * keep, neg

def build(pipe):
    return Safree(**pipe.components)
'''


def _factory(source: str, name: str) -> Callable[[Path, Any], dict]:
    def write(tmp: Path, base: Any) -> dict:
        (tmp / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        return {"pipeline_factory": f"{tmp / name}.py:build"}

    write.__doc__ = f"{name}: inference code, audited through pipeline_factory"
    return write


def _sdxl_esd(tmp: Path, base: Any) -> dict:
    """ESD-x, SDXL edition: cross-attention of the SDXL UNet."""
    save_file(_unet(base, lambda k: "attn2" in k), str(tmp / "esd-x-sdxl.safetensors"))
    return {"unet": str(tmp / "esd-x-sdxl.safetensors")}


def _sd3_uce(tmp: Path, base: Any) -> dict:
    """UCE, SD3 edition: the MMDiT's text-side key/value projections (``add_k_proj``)."""
    state = {
        k: v
        for k, v in base.transformer.state_dict().items()
        if "add_k_proj" in k or "add_v_proj" in k
    }
    save_file(_noise(state), str(tmp / "uce-sd3.safetensors"))
    return {"transformer": str(tmp / "uce-sd3.safetensors")}


def _erase_anything(tmp: Path, base: Any) -> dict:
    """EraseAnything-style FLUX LoRA: PEFT LoRA on the transformer's attention, diffusers layout."""
    from diffusers import FluxPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1)
    base.transformer.add_adapter(
        LoraConfig(
            r=2, lora_alpha=2, init_lora_weights=False, target_modules=["to_k", "to_v"]
        )
    )
    FluxPipeline.save_lora_weights(
        tmp / "lora",
        transformer_lora_layers=get_peft_model_state_dict(base.transformer),
        safe_serialization=True,
    )
    return {"lora": str(tmp / "lora" / "pytorch_lora_weights.safetensors")}


def _kohya_te_lora(tmp: Path, base: Any) -> dict:
    """A1111 / kohya text-encoder LoRA (``lora_te_*`` with ``.alpha``), SD 1.x: the encoder alone."""
    from helpers.lora_files import encoder_layers, kohya

    layers = encoder_layers(base.text_encoder, 2, seed=4)
    save_file(kohya(layers, "lora_te_", 4.0), str(tmp / "te-kohya.safetensors"))
    return {"lora": str(tmp / "te-kohya.safetensors"), "lora_scale": 0.8}


def _encoders_lora(*encoders: str) -> Callable[[Path, Any], dict]:
    def write(tmp: Path, base: Any) -> dict:
        from helpers.lora_files import encoder_layers

        state = {
            f"{name}.{key}": value
            for i, name in enumerate(encoders)
            for key, value in encoder_layers(getattr(base, name), 2, seed=i).items()
        }
        save_file(state, str(tmp / "te-lora.safetensors"), metadata={"format": "pt"})
        return {"lora": str(tmp / "te-lora.safetensors")}

    write.__doc__ = f"PEFT LoRA in diffusers' layout on {', '.join(encoders)} only"
    return write


#: method -> (family, artefact writer, the component the audit must see changed)
METHODS: dict[str, tuple[str, Callable[[Path, Any], dict], str]] = {
    "ESD-u": ("sd", esd_u, "override:unet"),
    "ESD-x": ("sd", esd_x, "override:unet"),
    "UCE": ("sd", uce, "override:unet"),
    "RECE (pickle)": ("sd", rece_pickle, "override:unet"),
    "FMN / SalUn (folder)": ("sd", fmn_folder, "override:unet/config.json"),
    "SPM merged": ("sd", spm_merged, "override:unet"),
    "DoCo": ("sd", doco, "override:unet"),
    "AdvUnlearn": ("sd", advunlearn, "override:text_encoder"),
    "MACE": ("sd", mace, "unet/diffusion_pytorch_model.safetensors"),
    "Receler": ("sd", _factory(_RECELER, "receler"), "factory:receler.py:build"),
    "ConceptPrune": (
        "sd",
        _factory(_CONCEPTPRUNE, "conceptprune"),
        "factory:conceptprune.py:build",
    ),
    "SLD": ("sd", _factory(_SLD, "sld"), "factory:sld.py:build"),
    "SAFREE": ("sd", _factory(_SAFREE, "safree"), "factory:safree.py:build"),
    "ESD-x SDXL": ("sdxl", _sdxl_esd, "override:unet"),
    "UCE SD3": ("sd3", _sd3_uce, "override:transformer"),
    "EraseAnything FLUX LoRA": ("flux", _erase_anything, "override:lora"),
    "Text-encoder LoRA (kohya)": ("sd", _kohya_te_lora, "override:lora"),
    "Text-encoder LoRA SDXL": (
        "sdxl",
        _encoders_lora("text_encoder", "text_encoder_2"),
        "override:lora",
    ),
    "Text-encoder LoRA SD3": (
        "sd3",
        _encoders_lora("text_encoder", "text_encoder_2", "text_encoder_3"),
        "override:lora",
    ),
    "Text-encoder LoRA FLUX": (
        "flux",
        _encoders_lora("text_encoder", "text_encoder_2"),
        "override:lora",
    ),
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, tiny_sd_dir: Path) -> Any:
    """Base model folders by family, each saved on first use."""
    root = tmp_path_factory.mktemp("bases")

    class Lazy(dict):
        def __missing__(self, name: str) -> Path:
            self[name] = save_family(name, root / name)
            return self[name]

    return Lazy(sd=tiny_sd_dir)


@pytest.fixture(scope="module")
def originals(bases: dict[str, Path]) -> Callable[[str], tuple[Any, Any]]:
    """Per family, the loaded original and its image (computed once, on first use)."""
    out: dict[str, tuple[Any, Any]] = {}

    def get(family: str) -> tuple[Any, Any]:
        if family not in out:
            model = load_pipeline(bases[family])
            settings = SETTINGS if family in ("sd", "sdxl") else FLOW
            image = generate(
                model, ["a photo of a cat"], [0], settings=settings, progress=False
            )[0]
            out[family] = (model, image)
        return out[family]

    return get


def _fresh(family: str) -> Any:
    """The family's tiny pipeline with the saved weights (seed 0), built in memory."""
    from helpers.tiny_families import BUILDERS
    from helpers.tiny_sd import build_tiny_pipeline

    return build_tiny_pipeline(0) if family == "sd" else BUILDERS[family](0)


@pytest.mark.parametrize(
    "method",
    # other families' rows save three more base models: slow; SD rows run always
    [
        m if METHODS[m][0] == "sd" else pytest.param(m, marks=pytest.mark.slow)
        for m in METHODS
    ],
)
def test_published_artefact_loads_and_changes_the_audited_model(
    method: str, bases: dict[str, Path], originals: Any, tmp_path: Path
) -> None:
    family, write, component = METHODS[method]
    original, before = originals(family)
    spec = {"path": str(bases[family]), **write(tmp_path, _fresh(family))}
    model = load_pipeline(spec)
    assert model.fingerprint != original.fingerprint
    if component.startswith("override:unet/"):
        assert any(k.startswith("override:unet") for k in model.component_fingerprints)
    else:
        assert component in model.component_fingerprints
    settings = SETTINGS if family in ("sd", "sdxl") else FLOW
    after = generate(
        model, ["a photo of a cat"], [0], settings=settings, progress=False
    )[0]
    assert before.key != after.key
    assert not np.array_equal(before.pixels, after.pixels), method


def test_a_changed_factory_source_is_a_different_model(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    spec = {
        "path": str(bases["sd"]),
        **_factory(_CONCEPTPRUNE, "prune")(tmp_path, None),
    }
    first = load_pipeline(spec).fingerprint
    assert load_pipeline(spec).fingerprint == first
    source = (tmp_path / "prune.py").read_text()
    (tmp_path / "prune.py").write_text(source.replace("mask[::2] = 0", "mask[::3] = 0"))
    assert load_pipeline(spec).fingerprint != first


@pytest.mark.parametrize(
    ("factory", "mentions"),
    [
        ("no_such_module_xyz:build", ["no_such_module_xyz", "PYTHONPATH"]),
        ("{tmp}/missing.py:build", ["missing.py", "does not exist"]),
        ("{tmp}/f.py:absent", ["no callable 'absent'"]),
        ("{tmp}/f.py:returns_none", ["returned NoneType"]),
        ("{tmp}/f.py:two_args", ["2 required arguments"]),
        ("{tmp}/f.py:raises", ["raised ValueError", "kaboom"]),
        ("{tmp}/broken.py:build", ["importing", "SyntaxError"]),
    ],
)
def test_bad_factories_are_refused_with_the_reason(
    factory: str, mentions: list[str], bases: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "f.py").write_text(
        "def returns_none(pipe):\n    return None\n"
        "def two_args(a, b):\n    return a\n"
        "def raises(pipe):\n    raise ValueError('kaboom')\n"
    )
    (tmp_path / "broken.py").write_text("def build(:\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(
            {"path": str(bases["sd"]), "pipeline_factory": factory.format(tmp=tmp_path)}
        )
    for text in mentions:
        assert text in str(info.value)


def test_factory_spec_value_is_checked() -> None:
    with pytest.raises(ConfigError, match="pipeline_factory"):
        load_pipeline({"path": "x", "pipeline_factory": "not a reference"})
