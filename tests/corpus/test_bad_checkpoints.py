"""Bad-input corpus, checkpoints: every broken override file is a clear, early error.

Each case writes a broken UNet / text-encoder / LoRA override (or base single file) next
to the shipped toy world and loads it through ``load_pipeline``: the error names the
file (and the key, for tensor problems) and leaves the disk as it was.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from igmu_audit._paths import fixtures_dir
from igmu_audit.errors import (
    CheckpointMismatchError,
    ConfigError,
    GenerationError,
    UnsafeCheckpointError,
)
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

from .harness import Case, check_case, ids

TOY = fixtures_dir() / "toyworld" / "original"
_UNET: dict[str, torch.Tensor] = {}


def unet_weights() -> dict[str, torch.Tensor]:
    """The toy UNet's tensors (read once)."""
    if not _UNET:
        _UNET.update(load_file(TOY / "unet" / "diffusion_pytorch_model.safetensors"))
    return _UNET


def partial(n: int = 4) -> dict[str, torch.Tensor]:
    """A small, valid partial UNet override (the first ``n`` tensors)."""
    return {k: unet_weights()[k].clone() for k in sorted(unet_weights())[:n]}


def good_bytes() -> bytes:
    from safetensors.torch import save

    return save(partial())


def header(entries: dict, data: bytes = b"") -> bytes:
    """A hand-made safetensors file: u64 header length, JSON header, data."""
    raw = json.dumps(entries).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def load(field: str = "unet", *, allow_pickle: bool = False) -> Callable:
    """``run`` for a case whose bad file is ``tmp/<name>`` given as ``field``."""

    def build(make: Callable[[Path], Path]) -> Callable[[Path], Callable]:
        def run(tmp: Path) -> Callable:
            bad = make(tmp)
            spec = ModelSpec(
                path=str(TOY), allow_pickle=allow_pickle, **{field: str(bad)}
            )
            return lambda: load_pipeline(spec)

        return run

    return build


def file(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data() if callable(data) else data)
        return path

    return make


def saved(name: str, tensors: Callable[[], dict]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        save_file(tensors(), str(path))
        return path

    return make


def pickled(name: str, cut: int | None = None) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        torch.save(partial(), path)
        if cut is not None:
            path.write_bytes(path.read_bytes()[:cut])
        return path

    return make


def sharded(edit: Callable[[Path, dict], None]) -> Callable[[Path], Path]:
    """A two-shard UNet folder (config.json + index + shards), then ``edit(folder, index)``."""

    def make(tmp: Path) -> Path:
        folder = tmp / "unet"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        tensors = partial(6)
        names = sorted(tensors)
        weight_map = {}
        for i, chunk in enumerate((names[:3], names[3:])):
            shard = f"diffusion_pytorch_model-0000{i + 1}-of-00002.safetensors"
            save_file({k: tensors[k] for k in chunk}, str(folder / shard))
            weight_map.update(dict.fromkeys(chunk, shard))
        index = {"metadata": {}, "weight_map": weight_map}
        edit(folder, index)
        path = folder / "diffusion_pytorch_model.safetensors.index.json"
        if not path.exists():  # an edit may have written its own (broken) index
            path.write_text(json.dumps(index))
        return folder

    return make


def _shard(i: int) -> str:
    return f"diffusion_pytorch_model-0000{i}-of-00002.safetensors"


def _missing_shard(folder: Path, index: dict) -> None:
    (folder / _shard(2)).unlink()


def _bad_json(folder: Path, index: dict) -> None:
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text("{oops")


def _map_list(folder: Path, index: dict) -> None:
    index["weight_map"] = list(index["weight_map"])


def _map_value_int(folder: Path, index: dict) -> None:
    key = sorted(index["weight_map"])[0]
    index["weight_map"][key] = 7


def _map_escapes(folder: Path, index: dict) -> None:
    key = sorted(index["weight_map"])[0]
    index["weight_map"][key] = "../elsewhere.safetensors"


def _map_wrong_shard(folder: Path, index: dict) -> None:
    key = sorted(index["weight_map"])[0]
    index["weight_map"][key] = _shard(2)


def _tensor_twice(folder: Path, index: dict) -> None:
    key = sorted(index["weight_map"])[0]
    both = load_file(folder / _shard(2))
    both[key] = unet_weights()[key].clone()
    save_file(both, str(folder / _shard(2)))


def _truncated_shard(folder: Path, index: dict) -> None:
    path = folder / _shard(2)
    path.write_bytes(path.read_bytes()[:-10])


def _two_indexes(folder: Path, index: dict) -> None:
    (folder / "diffusion_pytorch_model.fp16.safetensors.index.json").write_text(
        json.dumps(index)
    )


def _two_files(tmp: Path) -> Path:
    folder = tmp / "unet"
    folder.mkdir()
    save_file(partial(), str(folder / "a.safetensors"))
    save_file(partial(), str(folder / "b.safetensors"))
    return folder


def _empty_dir(tmp: Path) -> Path:
    folder = tmp / "esd.safetensors"
    folder.mkdir()
    return folder


def _int_tensors() -> dict:
    return {k: (v * 100).to(torch.int32) for k, v in partial(2).items()}


def _bool_tensors() -> dict:
    return {k: v > 0 for k, v in partial(2).items()}


def _wrong_shape() -> dict:
    key = sorted(unet_weights())[0]
    return {key: torch.zeros(3, 3)}


def _no_key_matches() -> dict:
    return {f"encoder.block.{i}.weight": torch.zeros(2) for i in range(3)}


def _nan_generation(tmp: Path) -> Callable:
    from igmu_audit.pipelines.generation import GenerationSettings, generate

    path = tmp / "nan.safetensors"
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in unet_weights().items()},
        str(path),
    )
    spec = ModelSpec(path=str(TOY), unet=str(path), label="toy+nan")
    settings = GenerationSettings(steps=2, batch_size=2)
    return lambda: generate(load_pipeline(spec), ["a red circle"], [0], settings=settings, progress=False)  # fmt: skip


def _base_single_file(tmp: Path) -> Callable:
    path = tmp / "sd-tiny.safetensors"
    path.write_bytes(b"")
    return lambda: load_pipeline(ModelSpec(path=str(path), single_file_config=str(TOY)))


GOOD = good_bytes
F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
U, TE, LORA = load("unet"), load("text_encoder"), load("lora")
UP = load("unet", allow_pickle=True)
NAME = "{tmp}/esd.safetensors"
SHARD = "{tmp}/unet"
INDEX = "diffusion_pytorch_model.safetensors.index.json"

CASES = [
    Case("zero-byte", U(file("esd.safetensors", b"")), ConfigError, (NAME, "is empty (0 bytes)", "re-export")),
    Case("five-bytes", U(file("esd.safetensors", b"\x01\x02\x03\x04\x05")), ConfigError, (NAME, "is only 5 bytes")),
    Case("truncated-data", U(file("esd.safetensors", lambda: GOOD()[:-100])), ConfigError, (NAME, "is truncated", "only")),
    Case("truncated-header", U(file("esd.safetensors", lambda: GOOD()[:40])), ConfigError, (NAME, "is not safetensors", "truncated, or another format")),
    Case("png-renamed", U(file("esd.safetensors", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)), ConfigError, (NAME, "is not safetensors", "It looks like a PNG image")),
    Case("torch-zip-renamed", U(pickled("esd.safetensors")), ConfigError, (NAME, "looks like a zip archive", "allow_pickle: true")),
    Case("header-json-garbage", U(file("esd.safetensors", struct.pack("<Q", 6) + b"{oops}")), ConfigError, (NAME, "corrupt header", "not UTF-8 JSON")),
    Case("header-not-utf8", U(file("esd.safetensors", struct.pack("<Q", 4) + b"\xff\xfe\xfd\xfc")), ConfigError, (NAME, "corrupt header")),
    Case("header-json-array", U(file("esd.safetensors", header([]))), ConfigError, (NAME, "a JSON list, not an object")),
    Case("header-entry-not-object", U(file("esd.safetensors", header({"w": 3}))), ConfigError, (NAME, "entry 'w'")),
    Case("header-unknown-dtype", U(file("esd.safetensors", header({"w": {**F32, "dtype": "F128"}}, b"\0" * 8))), ConfigError, (NAME, "'w'", "unknown dtype 'F128'")),
    Case("header-bad-shape", U(file("esd.safetensors", header({"w": {**F32, "shape": [-2]}}, b"\0" * 8))), ConfigError, (NAME, "'w'", "invalid shape")),
    Case("header-bad-offsets", U(file("esd.safetensors", header({"w": {**F32, "data_offsets": [8, 0]}}, b"\0" * 8))), ConfigError, (NAME, "'w'", "invalid data_offsets")),
    Case("header-size-mismatch", U(file("esd.safetensors", header({"w": {**F32, "shape": [3]}}, b"\0" * 8))), ConfigError, (NAME, "'w'", "spans 8 bytes, expected 12")),
    Case("trailing-bytes", U(file("esd.safetensors", header({"w": F32}, b"\0" * 12))), ConfigError, (NAME, "corrupt layout")),
    Case("overlapping-tensors", U(file("esd.safetensors", header({"a": F32, "b": F32}, b"\0" * 16))), ConfigError, (NAME, "corrupt layout")),
    Case("pickle-without-opt-in", U(pickled("esd.pt")), UnsafeCheckpointError, ("{tmp}/esd.pt", "allow_pickle: true")),
    Case("pickle-zero-byte", UP(file("esd.ckpt", b"")), ConfigError, ("{tmp}/esd.ckpt", "is empty")),
    Case("pickle-truncated-zip", UP(pickled("esd.pt", cut=200)), ConfigError, ("{tmp}/esd.pt", "truncated or corrupt")),
    Case("zip-not-torch", UP(file("esd.pt", b"PK\x05\x06" + b"\0" * 18)), ConfigError, ("{tmp}/esd.pt",)),
    Case("nonexistent", U(lambda tmp: tmp / "nope" / "esd.safetensors"), ConfigError, ("{tmp}/nope/esd.safetensors", "does not exist")),
    Case("directory-instead-of-file", U(_empty_dir), ConfigError, (NAME, "holds no weight files")),
    Case("unknown-suffix", U(file("esd.txt", b"hello")), ConfigError, ("{tmp}/esd.txt", "unknown weight format '.txt'")),
    Case("folder-two-files", U(_two_files), ConfigError, (SHARD, "several weight files", "a.safetensors, b.safetensors")),
    Case("shard-missing", U(sharded(_missing_shard)), ConfigError, (INDEX, _shard(2), "missing")),
    Case("index-bad-json", U(sharded(_bad_json)), ConfigError, (INDEX, "not readable JSON")),
    Case("index-map-not-dict", U(sharded(_map_list)), ConfigError, (INDEX, "'weight_map' must be a non-empty object", "got list")),
    Case("index-map-value-int", U(sharded(_map_value_int)), ConfigError, (INDEX, "must name a shard file")),
    Case("index-shard-escapes", U(sharded(_map_escapes)), ConfigError, (INDEX, "'../elsewhere.safetensors'", "not a file name inside")),
    Case("index-wrong-shard", U(sharded(_map_wrong_shard)), ConfigError, (INDEX, _shard(2), "do not hold them")),
    Case("tensor-in-two-shards", U(sharded(_tensor_twice)), ConfigError, (_shard(1), _shard(2), "two shards")),
    Case("shard-truncated", U(sharded(_truncated_shard)), ConfigError, (f"{SHARD}/{_shard(2)}", "truncated")),
    Case("two-indexes", U(sharded(_two_indexes)), ConfigError, (SHARD, "several shard indexes")),
    Case("int32-tensors", U(saved("esd.safetensors", _int_tensors)), CheckpointMismatchError, (NAME, "file int32 vs model float32", "no silent cast")),
    Case("bool-tensors", U(saved("esd.safetensors", _bool_tensors)), CheckpointMismatchError, (NAME, "file bool vs model float32")),
    Case("shape-mismatch", U(saved("esd.safetensors", _wrong_shape)), CheckpointMismatchError, (NAME, "wrong shape", "file (3, 3)")),
    Case("no-matching-keys", U(saved("esd.safetensors", _no_key_matches)), CheckpointMismatchError, (NAME, "matches none of the model's", "encoder.block.0.weight")),
    Case("text-encoder-zero-byte", TE(file("te.safetensors", b"")), ConfigError, ("model 'text_encoder'", "{tmp}/te.safetensors", "is empty")),
    Case("lora-truncated", LORA(file("lora.safetensors", lambda: GOOD()[:-1])), ConfigError, ("model 'lora'", "{tmp}/lora.safetensors", "truncated")),
    Case("base-single-file-zero-byte", _base_single_file, ConfigError, ("model 'path'", "{tmp}/sd-tiny.safetensors", "is empty")),
    Case("nan-tensors-at-generation", _nan_generation, GenerationError, ("'toy+nan'", "prompt 'a red circle', seed 0", "pixel values are NaN")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_checkpoint(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)


def test_corpus_ids_are_unique() -> None:
    assert len(set(ids(CASES))) == len(CASES)
