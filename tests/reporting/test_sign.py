"""Signed evidence: DSSE/in-toto round trip, and every altered byte, wrong key or other weights refused."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from igmu_audit.record import main
from igmu_audit.reporting import sign as signing
from igmu_audit.reporting.evidence_cli import EXIT_NOT_VERIFIED
from igmu_audit.reporting.record import read_record

DATA = Path(__file__).parent / "data"


@pytest.fixture
def signed(tmp_path: Path) -> dict[str, Path]:
    """A real record (tiny pytester run, committed) signed with a fresh key pair."""
    record = tmp_path / "verdicts.json"
    shutil.copy(DATA / "verdicts-tiny.json", record)
    assert main(["keygen", str(tmp_path / "k.pem"), str(tmp_path / "k.pub.pem")]) == 0
    out = tmp_path / "verdicts.dsse.json"
    assert (
        main(["sign", str(record), "--key", str(tmp_path / "k.pem"), "-o", str(out)])
        == 0
    )
    return {
        "record": record,
        "envelope": out,
        "pub": tmp_path / "k.pub.pem",
        "key": tmp_path / "k.pem",
    }


def verify(env: Path, pub: Path, *models: str) -> int:
    args = ["verify", str(env), "--key", str(pub)]
    for m in models:
        args += ["--model", m]
    return main(args)


def test_round_trip_statement_and_subjects(
    signed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = json.loads(signed["envelope"].read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    record = read_record(signed["record"])
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == signing.PREDICATE_TYPE
    assert stmt["predicate"] == record
    names = {s["name"]: s["digest"]["sha256"] for s in stmt["subject"]}
    for fingerprint, info in record["models"].items():
        assert names[info["label"]] == fingerprint.removeprefix("sha256:")
    card = record["audits"][0]["detector"]
    canonical = json.dumps(card, sort_keys=True, separators=(",", ":")).encode()
    assert names["detector:custom"] == hashlib.sha256(canonical).hexdigest()
    # the signature is Ed25519 over DSSE's PAE, checkable with cryptography directly
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    payload = base64.b64decode(envelope["payload"])
    message = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
    assert signing.pae(envelope["payloadType"], payload) == message
    load_pem_public_key(signed["pub"].read_bytes()).verify(
        base64.b64decode(envelope["signatures"][0]["sig"]), message
    )
    capsys.readouterr()
    assert verify(signed["envelope"], signed["pub"]) == 0
    assert "VERIFIED (exit 0)" in capsys.readouterr().out


def _flip(text: str, index: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "where",
    [
        "payload-start",
        "payload-middle",
        "payload-end",
        "sig-start",
        "sig-end",
        "payloadType",
        "payload-b64",
    ],
)
def test_one_changed_byte_fails(
    signed: dict[str, Path], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = json.loads(signed["envelope"].read_text())
    if where.startswith("payload-") and where != "payload-b64":
        n = len(base64.b64decode(envelope["payload"]))
        envelope["payload"] = _flip(
            envelope["payload"], {"start": 0, "middle": n // 2, "end": n - 1}[where[8:]]
        )
    elif where.startswith("sig-"):
        envelope["signatures"][0]["sig"] = _flip(
            envelope["signatures"][0]["sig"], 0 if where == "sig-start" else -1
        )
    elif where == "payloadType":
        envelope["payloadType"] = "application/vnd.in-toto+jsom"
    else:
        envelope["payload"] = "!" + envelope["payload"][1:]
    signed["envelope"].write_text(json.dumps(envelope))
    capsys.readouterr()
    assert verify(signed["envelope"], signed["pub"]) == EXIT_NOT_VERIFIED
    err = capsys.readouterr().err
    assert "NOT VERIFIED" in err
    assert str(signed["envelope"]) in err


def test_every_byte_of_the_envelope_file_matters(signed: dict[str, Path]) -> None:
    """A changed byte anywhere in the file (sampled): never exit 0 unless JSON whitespace."""
    raw = signed["envelope"].read_bytes()
    envelope = json.loads(raw)
    for i in range(0, len(raw), max(1, len(raw) // 97)):
        changed = bytearray(raw)
        changed[i] ^= 0x04
        signed["envelope"].write_bytes(bytes(changed))
        try:
            same = json.loads(bytes(changed)) == envelope
        except (ValueError, UnicodeDecodeError):
            same = False
        status = verify(signed["envelope"], signed["pub"])
        assert (status == 0) == same, (i, status)


def test_wrong_key_fails(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", str(tmp_path / "o.pem"), str(tmp_path / "o.pub")]) == 0
    capsys.readouterr()
    assert verify(signed["envelope"], tmp_path / "o.pub") == EXIT_NOT_VERIFIED
    assert "no signature verifies with the key" in capsys.readouterr().err


def test_private_key_as_public_and_missing_files(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    assert verify(signed["envelope"], signed["key"]) == 12
    assert verify(tmp_path / "nope.json", signed["pub"]) == 12
    assert (
        main(
            [
                "sign",
                str(signed["record"]),
                "--key",
                str(signed["pub"]),
                "-o",
                str(tmp_path / "x.json"),
            ]
        )
        == 12
    )
    assert not (tmp_path / "x.json").exists()


def test_keygen_never_overwrites(signed: dict[str, Path]) -> None:
    before = signed["key"].read_bytes()
    assert (
        main(["keygen", str(signed["key"]), str(signed["key"].with_suffix(".new"))])
        == 12
    )
    assert signed["key"].read_bytes() == before
    assert signed["key"].stat().st_mode & 0o077 == 0


def test_model_digest_checked(signed: dict[str, Path], tiny_sd_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """The record's own fingerprint of the model: a match verifies, other weights do not."""
    from igmu_audit.pipelines.loading import load_pipeline

    loaded = load_pipeline(tiny_sd_dir, device="cpu")
    record = json.loads(signed["record"].read_text())
    record["models"] = {loaded.fingerprint: {"label": "tiny"}}
    for audit in record["audits"]:
        audit["model"] = {"label": "tiny", "fingerprint": loaded.fingerprint}
        audit["original"] = None
    signed["record"].write_text(json.dumps(record))
    assert (
        main(
            [
                "sign",
                str(signed["record"]),
                "--key",
                str(signed["key"]),
                "-o",
                str(signed["envelope"]),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert verify(signed["envelope"], signed["pub"], str(tiny_sd_dir)) == 0
    assert "matches subject 'tiny'" in capsys.readouterr().out
    other = tmp_path / "other"
    shutil.copytree(tiny_sd_dir, other)
    weights = other / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert (
        verify(signed["envelope"], signed["pub"], str(tiny_sd_dir), str(other))
        == EXIT_NOT_VERIFIED
    )
    err = capsys.readouterr().err
    assert "model digest mismatch" in err
    assert str(other) in err
    assert "tiny sha256:" in err


def test_unsigned_record_shapes_refused() -> None:
    record = read_record(DATA / "verdicts-tiny.json")
    with pytest.raises(signing.ConfigError, match="names no audited model"):
        signing.statement({**record, "models": {}})
    with pytest.raises(signing.ConfigError, match="not 'sha256"):
        signing.statement({**record, "models": {"md5:abc": {"label": "m"}}})


def test_sign_and_verify_import_neither_torch_nor_numpy(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    commands = [
        ["merge", str(signed["record"]), "-o", str(tmp_path / "m.json")],
        [
            "sign",
            str(signed["record"]),
            "--key",
            str(signed["key"]),
            "-o",
            str(tmp_path / "s.json"),
        ],
        ["verify", str(signed["envelope"]), "--key", str(signed["pub"])],
        ["model-card", str(signed["record"]), "-o", str(tmp_path / "card.md")],
    ]
    for args in commands:
        code = (
            "import sys; from igmu_audit.record import main; status = main(sys.argv[1:]); "
            "print('HEAVY', sorted(m for m in ('torch', 'numpy', 'diffusers', 'yaml', 'pytest') if m in sys.modules)); "
            "sys.exit(status)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode in (0, 11), (args, out.stderr)
        assert "HEAVY []" in out.stdout, (args[0], out.stdout)
