"""Bad-input corpus, model families and GPU-scale settings (issue 15): per-family
generation arguments, memory options, new override targets and ``pipeline_factory``
references, each a ``ConfigError`` naming the key (and the file or family) before any
model is read or image drawn, with nothing on disk changed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.generation import GenerationSettings, generate
from igmu_audit.pipelines.loading import load_pipeline
from igmu_audit.pipelines.spec import ModelSpec
from tests.corpus.harness import Call, Case, check_case, ids, spec


def model_spec(**fields: Any) -> Callable[[Path], Call]:
    def run(tmp: Path) -> Call:
        values = {
            k: str(v).format(tmp=tmp) if isinstance(v, str) else v
            for k, v in fields.items()
        }
        return lambda: ModelSpec.from_dict({"path": str(tmp), **values})

    return run


@cache
def _tiny(name: str) -> Any:
    from helpers.tiny_families import BUILDERS
    from helpers.tiny_sd import build_tiny_pipeline

    return build_tiny_pipeline(0) if name == "sd" else BUILDERS[name](0)


def generating(family: str, **settings: Any) -> Callable[[Path], Call]:
    def run(tmp: Path) -> Call:
        from igmu_audit.pipelines.cache import ImageCache

        base = {"steps": 1, "height": 16, "width": 16}
        chosen = GenerationSettings(**{**base, **settings})
        return lambda: generate(
            _tiny(family),
            ["a"],
            [0],
            settings=chosen,
            cache=ImageCache(tmp / "cache"),
            progress=False,
        )

    return run


def factory(ref: str, source: str | None = None) -> Callable[[Path], Call]:
    def run(tmp: Path) -> Call:
        if source is not None:
            (tmp / "f.py").write_text(source, encoding="utf-8")
        from helpers.tiny_sd import save_tiny_pipeline

        model = save_tiny_pipeline(tmp / "m") if not (tmp / "m").exists() else tmp / "m"
        return lambda: load_pipeline(
            {"path": str(model), "pipeline_factory": ref.format(tmp=tmp)}
        )

    return run


CONFIG = [
    Case("args-unknown", spec("generation_args: {orignal_size: [64, 64]}\n"), ConfigError, ("orignal_size", "original_size")),
    Case("args-not-mapping", spec("generation_args: [original_size]\n"), ConfigError, ("generation_args", "mapping")),
    Case("args-size-one-side", spec("generation_args: {original_size: [64]}\n"), ConfigError, ("original_size", "[height, width]")),
    Case("args-size-zero", spec("generation_args: {target_size: [0, 64]}\n"), ConfigError, ("target_size",)),
    Case("args-size-float", spec("generation_args: {target_size: [64.0, 64]}\n"), ConfigError, ("target_size",)),
    Case("args-size-huge", spec("generation_args: {original_size: [99999, 64]}\n"), ConfigError, ("original_size", "8192")),
    Case("args-size-bool", spec("generation_args: {original_size: [true, 64]}\n"), ConfigError, ("original_size",)),
    Case("args-crops-negative", spec("generation_args: {crops_coords_top_left: [-1, 0]}\n"), ConfigError, ("crops_coords_top_left", "[0, 8192]")),
    Case("args-crops-string", spec("generation_args: {crops_coords_top_left: '0,0'}\n"), ConfigError, ("crops_coords_top_left",)),
    Case("args-seq-zero", spec("generation_args: {max_sequence_length: 0}\n"), ConfigError, ("max_sequence_length", "[1, 512]")),
    Case("args-seq-big", spec("generation_args: {max_sequence_length: 513}\n"), ConfigError, ("max_sequence_length",)),
    Case("args-seq-float", spec("generation_args: {max_sequence_length: 77.0}\n"), ConfigError, ("max_sequence_length",)),
    Case("args-seq-string", spec("generation_args: {max_sequence_length: '77'}\n"), ConfigError, ("max_sequence_length",)),
    Case("args-cfg-nan", spec("generation_args: {true_cfg_scale: .nan}\n"), ConfigError, ("true_cfg_scale",)),
    Case("args-cfg-negative", spec("generation_args: {true_cfg_scale: -1}\n"), ConfigError, ("true_cfg_scale", "[0, 100]")),
    Case("args-cfg-bool", spec("generation_args: {true_cfg_scale: true}\n"), ConfigError, ("true_cfg_scale",)),
    Case("offload-string", spec("cpu_offload: sometimes\n"), ConfigError, ("cpu_offload", "true or false")),
    Case("offload-number", spec("cpu_offload: 2\n"), ConfigError, ("cpu_offload",)),
    Case("slicing-string", spec("attention_slicing: auto\n"), ConfigError, ("attention_slicing",)),
    Case("tiling-float", spec("vae_tiling: 1.5\n"), ConfigError, ("vae_tiling",)),
    Case("model-transformer-empty", spec("model: {path: m, transformer: ''}\n"), ConfigError, ("transformer", "non-empty")),
    Case("model-te3-number", spec("model: {path: m, text_encoder_3: 3}\n"), ConfigError, ("text_encoder_3",)),
    Case("model-te2-typo", spec("model: {path: m, text_encoder2: x.safetensors}\n"), ConfigError, ("text_encoder2", "text_encoder_2")),
    Case("model-factory-empty", spec("model: {path: m, pipeline_factory: ''}\n"), ConfigError, ("pipeline_factory",)),
]  # fmt: skip

SPEC = [
    Case("spec-factory-no-colon", model_spec(pipeline_factory="mymodule.build"), ConfigError, ("pipeline_factory", "module:function")),
    Case("spec-factory-spaces", model_spec(pipeline_factory="my module:build"), ConfigError, ("pipeline_factory",)),
    Case("spec-factory-bad-attr", model_spec(pipeline_factory="pkg.mod:1build"), ConfigError, ("pipeline_factory",)),
    Case("spec-factory-number", model_spec(pipeline_factory=3), ConfigError, ("pipeline_factory",)),
    Case("spec-transformer-number", model_spec(transformer=3), ConfigError, ("ModelSpec.transformer",)),
    Case("spec-te2-blank", model_spec(text_encoder_2="  "), ConfigError, ("ModelSpec.text_encoder_2",)),
    Case("spec-te3-typo", model_spec(text_encoder3="x"), ConfigError, ("text_encoder3", "text_encoder_3")),
]  # fmt: skip

GENERATION = [
    Case("sd-takes-no-size-conditioning", generating("sd", arguments=(("original_size", (8, 8)),)), ConfigError, ("original_size", "StableDiffusionPipeline", "takes: none")),
    Case("sd-takes-no-seq-length", generating("sd", arguments=(("max_sequence_length", 8),)), ConfigError, ("max_sequence_length", "sd")),
    Case("sdxl-takes-no-true-cfg", generating("sdxl", arguments=(("true_cfg_scale", 2.0),)), ConfigError, ("true_cfg_scale", "StableDiffusionXLPipeline")),
    Case("sd3-takes-no-crops", generating("sd3", arguments=(("crops_coords_top_left", (0, 0)),)), ConfigError, ("crops_coords_top_left", "StableDiffusion3Pipeline")),
    Case("flux-negative-without-true-cfg", generating("flux", negative_prompt="blurry"), ConfigError, ("negative_prompt", "true_cfg_scale")),
    Case("flux-negative-true-cfg-one", generating("flux", negative_prompt="blurry", arguments=(("true_cfg_scale", 1.0),)), ConfigError, ("true_cfg_scale > 1",)),
    Case("flux-odd-height", generating("flux", height=15), ConfigError, ("FluxPipeline", "multiples of 2", "15x16")),
    Case("sdxl-odd-width", generating("sdxl", width=17), ConfigError, ("StableDiffusionXLPipeline", "17")),
    Case("sd-offload-on-cpu", generating("sd", cpu_offload=True), ConfigError, ("cpu_offload", "'cpu'")),
]  # fmt: skip

FACTORY = [
    Case("factory-missing-module", factory("no_such_module_zz:build"), ConfigError, ("no_such_module_zz", "PYTHONPATH"), ("m/**", "m/*")),
    Case("factory-missing-file", factory("{tmp}/nope.py:build"), ConfigError, ("nope.py", "does not exist"), ("m/**", "m/*")),
    Case("factory-no-attr", factory("{tmp}/f.py:absent", "def build(p):\n    return p\n"), ConfigError, ("no callable 'absent'",), ("m/**", "m/*", "__pycache__/*")),
    Case("factory-not-callable", factory("{tmp}/f.py:build", "build = 3\n"), ConfigError, ("no callable 'build'", "int"), ("m/**", "m/*", "__pycache__/*")),
    Case("factory-syntax", factory("{tmp}/f.py:build", "def build(:\n"), ConfigError, ("importing", "SyntaxError"), ("m/**", "m/*")),
    Case("factory-import-error", factory("{tmp}/f.py:build", "import no_such_dep_zz\n"), ConfigError, ("importing", "no_such_dep_zz"), ("m/**", "m/*")),
    Case("factory-two-args", factory("{tmp}/f.py:build", "def build(a, b):\n    return a\n"), ConfigError, ("2 required arguments",), ("m/**", "m/*", "__pycache__/*")),
    Case("factory-returns-none", factory("{tmp}/f.py:build", "def build(p):\n    return None\n"), ConfigError, ("returned NoneType",), ("m/**", "m/*", "__pycache__/*")),
    Case("factory-returns-module", factory("{tmp}/f.py:build", "def build(p):\n    return p.unet\n"), ConfigError, ("returned UNet2DConditionModel", "not a diffusers pipeline"), ("m/**", "m/*", "__pycache__/*")),
    Case("factory-raises", factory("{tmp}/f.py:build", "def build(p):\n    raise KeyError('nudity')\n"), ConfigError, ("raised KeyError", "nudity"), ("m/**", "m/*", "__pycache__/*")),
]  # fmt: skip

ALL = CONFIG + SPEC + GENERATION + FACTORY


@pytest.mark.parametrize("case", ALL, ids=ids(ALL))
def test_bad_family_input(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


def test_corpus_size() -> None:
    assert len(ALL) >= 45
