"""Bad-input corpus, session-start input checks: what is missing, named once, before loading.

Each case writes a spec (or command-line values) naming a model, override, detector,
prompt file or CLIP checkpoint that cannot work, and expects ``check_inputs`` to raise a
``ConfigError`` that names the setting and the path, with nothing on disk changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from igmu_audit.config import load_config
from igmu_audit.errors import ConfigError
from igmu_audit.preflight import check_inputs
from tests.corpus.harness import Case, check_case, ids

Call = Callable[[], object]


def _folder(tmp: Path, name: str, files: dict[str, str]) -> Path:
    root = tmp / name
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _pipeline(tmp: Path) -> Path:
    return _folder(tmp, "base", {"model_index.json": "{}"})


def cli(build: Callable[[Path], dict[str, Any]]) -> Callable[[Path], Call]:
    """A case whose command-line settings ``build(tmp)`` returns."""

    def run(tmp: Path) -> Call:
        values = build(tmp)
        return lambda: check_inputs(load_config(tmp, cli=values))

    return run


def spec(build: Callable[[Path], str]) -> Callable[[Path], Call]:
    """A case whose audit spec YAML ``build(tmp)`` returns."""

    def run(tmp: Path) -> Call:
        path = tmp / "audit.yaml"
        path.write_text(build(tmp))
        return lambda: check_inputs(load_config(tmp, spec=path))

    return run


def _model_spec(tmp: Path, **fields: str) -> str:
    body = ", ".join(
        f"{k}: {v}" for k, v in {"path": str(_pipeline(tmp)), **fields}.items()
    )
    return f"version: 1\nmodel: {{{body}}}\n"


CASES = [
    Case("model-missing-folder", cli(lambda t: {"model": str(t / "ckpt" / "esd")}), ConfigError,
         ("`model:`", "{tmp}/ckpt/esd", "does not exist", "--igmu-model")),
    Case("original-missing-folder", cli(lambda t: {"original": str(t / "sd-1.5")}), ConfigError,
         ("`original:`", "{tmp}/sd-1.5", "--igmu-original")),
    Case("model-bare-name", cli(lambda t: {"model": "./esd-nudity"}), ConfigError, ("esd-nudity", "does not exist")),
    Case("model-folder-not-diffusers", cli(lambda t: {"model": str(_folder(t, "weights", {"notes.txt": "x"}))}),
         ConfigError, ("{tmp}/weights", "model_index.json")),
    Case("model-component-folder", cli(lambda t: {"model": str(_folder(t, "unet", {"config.json": "{}"}))}),
         ConfigError, ("{tmp}/unet", "`unet:`")),
    Case("model-text-file", cli(lambda t: {"model": str(_folder(t, "m", {"w.txt": "x"}) / "w.txt")}),
         ConfigError, ("w.txt", "not a weight file")),
    Case("model-missing-safetensors", cli(lambda t: {"model": str(t / "esd.safetensors")}), ConfigError,
         ("{tmp}/esd.safetensors", "does not exist")),
    Case("model-pickle-no-allow", cli(lambda t: {"model": str(_folder(t, "m", {"esd.ckpt": "x"}) / "esd.ckpt")}),
         ConfigError, ("esd.ckpt", "pickle", "--igmu-allow-pickle")),
    Case("unet-override-missing", spec(lambda t: _model_spec(t, unet=str(t / "unet.safetensors"))), ConfigError,
         ("audit.yaml", "unet", "{tmp}/unet.safetensors", "does not exist")),
    Case("text-encoder-override-missing", spec(lambda t: _model_spec(t, text_encoder="te.safetensors")),
         ConfigError, ("text_encoder", "te.safetensors")),
    Case("lora-missing", spec(lambda t: _model_spec(t, lora="lora.safetensors")), ConfigError,
         ("lora", "lora.safetensors")),
    Case("transformer-missing", spec(lambda t: _model_spec(t, transformer="mmdit.safetensors")), ConfigError,
         ("transformer", "mmdit.safetensors")),
    Case("override-pickle-no-allow", spec(lambda t: _model_spec(t, unet=str(_folder(t, "o", {"u.pt": "x"}) / "u.pt"))),
         ConfigError, ("unet", "u.pt", "pickle")),
    Case("factory-file-missing", spec(lambda t: _model_spec(t, pipeline_factory="hooks.py:make")), ConfigError,
         ("pipeline_factory", "hooks.py")),
    Case("detector-typo", cli(lambda t: {"detector": "nudnet"}), ConfigError,
         ("`detector:`", "'nudnet'", "did you mean 'nudenet'")),
    Case("detector-unknown", spec(lambda t: "version: 1\ndetector: my-detector\n"), ConfigError,
         ("audit.yaml", "`detector:`", "my-detector", "igmu_audit.detectors")),
    Case("retain-detector-unknown", spec(lambda t: "version: 1\nretain_detector: toyworl\n"), ConfigError,
         ("`retain_detector:`", "toyworl", "did you mean 'toyworld'")),
    Case("prompts-folder-missing", spec(lambda t: "version: 1\nprompts: data/dataigm\n"), ConfigError,
         ("`prompts:`", "data/dataigm", "forget.json")),
    Case("prompts-forget-missing", spec(lambda t: "version: 1\nprompts: {forget: f.json}\n"), ConfigError,
         ("`prompts:`", "forget", "f.json")),
    Case("clip-checkpoint-missing", spec(lambda t: "version: 1\nclip: {model_name: ViT-B-32, checkpoint: clip.bin}\n"),
         ConfigError, ("`clip:`", "clip.bin", "clip: toyworld")),
    Case("several-at-once", cli(lambda t: {"model": str(t / "a"), "original": str(t / "b"), "detector": "x"}),
         ConfigError, ("3 problems", "{tmp}/a", "{tmp}/b", "'x'")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input_is_named_before_anything_loads(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


def test_good_inputs_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(
        "HF_HUB_OFFLINE", raising=False
    )  # online: a hub id is the loader's to check
    base = _pipeline(tmp_path)
    hub = load_config(tmp_path, cli={"model": str(base), "original": "CompVis/stable-diffusion-v1-4",
                                     "detector": "nudenet-igmu"})  # fmt: skip
    check_inputs(hub)
    check_inputs(
        load_config(
            tmp_path, cli={"model": "toyworld:original", "detector": "toyworld"}
        )
    )
