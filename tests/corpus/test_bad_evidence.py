"""Bad-input corpus, signed evidence and named models: each a named error, nothing written.

Signing (``sign`` / ``verify`` / ``keygen`` / ``model-card``): bad records, keys,
envelopes and models are a ``ConfigError`` (unusable input) or a ``SignatureError``
(does not verify), naming the file and what is wrong. Named models: an unknown,
misspelt or broken ``provider:name`` names the field and lists the known names.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines import named
from igmu_audit.pipelines.spec import ModelSpec
from igmu_audit.record import _parser
from igmu_audit.reporting import evidence_cli
from igmu_audit.reporting import sign as signing

from .harness import Case, check_case, ids

DATA = Path(__file__).resolve().parents[1] / "reporting" / "data" / "verdicts-tiny.json"
SignatureError = signing.SignatureError


def _keys(tmp: Path) -> tuple[Path, Path]:
    priv, pub = signing.generate_keypair()
    (tmp / "k.pem").write_bytes(priv)
    (tmp / "k.pub").write_bytes(pub)
    return tmp / "k.pem", tmp / "k.pub"


def _signed(tmp: Path) -> tuple[Path, Path, dict]:
    shutil.copy(DATA, tmp / "r.json")
    key, pub = _keys(tmp)
    env = signing.sign_record(
        json.loads(DATA.read_text()), signing.load_private_key(key)
    )
    (tmp / "e.json").write_text(json.dumps(env))
    return tmp / "e.json", pub, env


def cmd(*argv: str) -> Callable[[], object]:
    args = _parser().parse_args(list(argv))
    return lambda: getattr(evidence_cli, args.command.replace("-", "_"))(args)


def sign_with_key(
    key_bytes: bytes | None, name: str = "bad.pem"
) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        shutil.copy(DATA, tmp / "r.json")
        if key_bytes is not None:
            (tmp / name).write_bytes(key_bytes)
        return cmd(
            "sign",
            str(tmp / "r.json"),
            "--key",
            str(tmp / name),
            "-o",
            str(tmp / "out.json"),
        )

    return run


def sign_record(edit: Callable[[dict], object]) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        record = json.loads(DATA.read_text())
        edit(record)
        (tmp / "r.json").write_text(json.dumps(record))
        key, _ = _keys(tmp)
        return cmd(
            "sign", str(tmp / "r.json"), "--key", str(key), "-o", str(tmp / "out.json")
        )

    return run


def envelope(
    edit: Callable[[dict], object], raw: bytes | None = None
) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        path, pub, env = _signed(tmp)
        edit(env)
        path.write_bytes(raw if raw is not None else json.dumps(env).encode())
        return cmd("verify", str(path), "--key", str(pub))

    return run


def resign(edit: Callable[[dict], object]) -> Callable[[Path], object]:
    """A statement altered, then validly signed with the right key: the content checks catch it."""

    def run(tmp: Path) -> object:
        path, pub, env = _signed(tmp)
        stmt = json.loads(base64.b64decode(env["payload"]))
        edit(stmt)
        payload = json.dumps(stmt).encode()
        key = signing.load_private_key(tmp / "k.pem")
        env["payload"] = base64.b64encode(payload).decode()
        env["signatures"][0]["sig"] = base64.b64encode(
            key.sign(signing.pae(env["payloadType"], payload))
        ).decode()
        path.write_text(json.dumps(env))
        return cmd("verify", str(path), "--key", str(pub))

    return run


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _encrypted_pem() -> bytes:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"pw"))  # fmt: skip


def _public_pem() -> bytes:
    return signing.generate_keypair()[1]


def _other_key(tmp: Path) -> object:
    path, _, _ = _signed(tmp)
    other = tmp / "other"
    other.mkdir()
    _, pub = _keys(other)
    return cmd("verify", str(path), "--key", str(pub))


def _verify_key(key_bytes: bytes) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        path, _, _ = _signed(tmp)
        (tmp / "v.pem").write_bytes(key_bytes)
        return cmd("verify", str(path), "--key", str(tmp / "v.pem"))

    return run


def _flip_payload(env: dict) -> None:
    raw = bytearray(base64.b64decode(env["payload"]))
    raw[len(raw) // 3] ^= 0x20
    env["payload"] = base64.b64encode(bytes(raw)).decode()


def _noncanonical(env: dict) -> None:
    text = env["signatures"][0][
        "sig"
    ]  # 64 bytes -> '==' padding; the char before it has spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    c = text[-3]
    env["signatures"][0]["sig"] = (
        text[:-3] + alphabet[alphabet.index(c) ^ 1] + text[-2:]
    )


def _model_mismatch(tmp: Path) -> object:
    path, pub, _ = _signed(tmp)
    return lambda: signing.check_models(
        signing.verify_envelope(
            json.loads(path.read_text()), signing.load_public_key(pub)
        ),
        {str(tmp / "m"): "sha256:" + "ab" * 32},
    )


def _keygen_exists(which: str) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        (tmp / which).write_text("keep me")
        return cmd("keygen", str(tmp / "a.pem"), str(tmp / "b.pub"))

    return run


def _card(content: bytes | None) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        if content is not None:
            (tmp / "r.json").write_bytes(content)
        return cmd("model-card", str(tmp / "r.json"), "-o", str(tmp / "card.md"))

    return run


def _named(fields: dict) -> Callable[[Path], object]:
    return lambda tmp: lambda: ModelSpec.from_dict(fields)


def _provider(table: object) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        named.unregister_models("corpus-vendor")
        named.register_models("corpus-vendor", lambda: table)
        return lambda: ModelSpec(path="corpus-vendor:x")

    return run


def _verify_named_model(tmp: Path) -> object:
    path, pub, _ = _signed(tmp)
    return cmd("verify", str(path), "--key", str(pub), "--model", "toyworld:zoo/nope")


CASES = [
    # sign: records
    Case("sign-record-missing", lambda t: cmd("sign", str(t / "none.json"), "--key", str(t / "k.pem"), "-o", str(t / "o.json")),
         ConfigError, ("none.json", "not found")),
    Case("sign-record-not-json", lambda t: (t.joinpath("r.json").write_text("{"), _keys(t),
         cmd("sign", str(t / "r.json"), "--key", str(t / "k.pem"), "-o", str(t / "o.json")))[-1], ConfigError, ("r.json", "not valid JSON")),
    Case("sign-record-no-models", sign_record(lambda r: (r.update(models={}), [a.update(model=None, original=None) for a in r["audits"]])),
         ConfigError, ("r.json",)),
    Case("sign-record-bad-verdict", sign_record(lambda r: r.update(verdict="pass")), ConfigError, ("r.json", "verdict")),
    Case("sign-record-other-schema", sign_record(lambda r: r.update(schema="igmu-audit/verdict-record/1")), ConfigError, ("r.json", "schema")),
    Case("sign-output-is-input", lambda t: (shutil.copy(DATA, t / "r.json"), _keys(t),
         cmd("sign", str(t / "r.json"), "--key", str(t / "k.pem"), "-o", str(t / "r.json")))[-1], ConfigError, ("r.json", "is also an input")),
    # sign: keys
    Case("sign-key-missing", sign_with_key(None), ConfigError, ("bad.pem", "not found")),
    Case("sign-key-empty", sign_with_key(b""), ConfigError, ("bad.pem", "not a PEM file")),
    Case("sign-key-not-pem", sign_with_key(b"\x00\x01binary"), ConfigError, ("bad.pem", "not a PEM file")),
    Case("sign-key-public", sign_with_key(_public_pem()), ConfigError, ("bad.pem", "is a public key")),
    Case("sign-key-encrypted", sign_with_key(_encrypted_pem()), ConfigError, ("bad.pem", "encrypted")),
    Case("sign-key-rsa", sign_with_key(_rsa_pem()), ConfigError, ("bad.pem", "Ed25519 only")),
    Case("sign-key-garbled-pem", sign_with_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
         ConfigError, ("bad.pem", "not a readable private key")),
    Case("sign-key-is-folder", lambda t: (t.joinpath("kd").mkdir(), shutil.copy(DATA, t / "r.json"),
         cmd("sign", str(t / "r.json"), "--key", str(t / "kd"), "-o", str(t / "o.json")))[-1], ConfigError, ("kd", "cannot read")),
    # verify: keys
    Case("verify-key-private", _verify_key(signing.generate_keypair()[0]), ConfigError, ("v.pem", "is a private key")),
    Case("verify-key-not-pem", _verify_key(b"hello"), ConfigError, ("v.pem", "not a PEM file")),
    Case("verify-key-rsa-public", _verify_key(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
         .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)), ConfigError, ("v.pem", "Ed25519 only")),
    Case("verify-wrong-key", _other_key, SignatureError, ("e.json", "no signature verifies")),
    # verify: envelopes
    Case("verify-envelope-missing", lambda t: (_keys(t), cmd("verify", str(t / "none.json"), "--key", str(t / "k.pub")))[-1],
         ConfigError, ("none.json", "not found")),
    Case("verify-envelope-not-json", envelope(lambda e: None, raw=b"{\"payload"), SignatureError, ("e.json", "not JSON")),
    Case("verify-envelope-not-utf8", envelope(lambda e: None, raw=b"\xff\xfe"), SignatureError, ("e.json", "not a DSSE envelope")),
    Case("verify-envelope-list", envelope(lambda e: None, raw=b"[]"), SignatureError, ("e.json", "expected a JSON object")),
    Case("verify-no-payload", envelope(lambda e: e.pop("payload")), SignatureError, ("e.json", "missing payload")),
    Case("verify-no-signatures", envelope(lambda e: e.pop("signatures")), SignatureError, ("e.json", "missing signatures")),
    Case("verify-empty-signatures", envelope(lambda e: e.update(signatures=[])), SignatureError, ("e.json", "non-empty list")),
    Case("verify-signature-not-object", envelope(lambda e: e.update(signatures=["x"])), SignatureError, ("signatures[0]", "an object")),
    Case("verify-extra-envelope-key", envelope(lambda e: e.update(note="x")), SignatureError, ("'note'", "unexpected")),
    Case("verify-extra-signature-key", envelope(lambda e: e["signatures"][0].update(cert="x")), SignatureError, ("'cert'", "unexpected")),
    Case("verify-keyid-changed", envelope(lambda e: e["signatures"][0].update(keyid="sha256:" + "0" * 64)), SignatureError, ("keyid", "altered")),
    Case("verify-payload-type", envelope(lambda e: e.update(payloadType="application/json")), SignatureError, ("payloadType", "application/json")),
    Case("verify-payload-flipped", envelope(_flip_payload), SignatureError, ("e.json", "no signature verifies")),
    Case("verify-payload-not-base64", envelope(lambda e: e.update(payload="***")), SignatureError, ("payload", "not valid base64")),
    Case("verify-payload-number", envelope(lambda e: e.update(payload=7)), SignatureError, ("payload", "expected base64 text")),
    Case("verify-sig-not-base64", envelope(lambda e: e["signatures"][0].update(sig="%%")), SignatureError, ("signatures[0].sig", "base64")),
    Case("verify-sig-noncanonical", envelope(_noncanonical), SignatureError, ("signatures[0].sig", "canonical")),
    Case("verify-sig-truncated", envelope(lambda e: e["signatures"][0].update(sig=e["signatures"][0]["sig"][:40])), SignatureError, ("e.json",)),
    # verify: validly signed, wrong content
    Case("verify-statement-type", resign(lambda s: s.update(_type="https://in-toto.io/Statement/v0.1")), SignatureError, ("in-toto Statement v1",)),
    Case("verify-predicate-type", resign(lambda s: s.update(predicateType="https://slsa.dev/provenance/v1")), SignatureError, ("predicateType", "slsa")),
    Case("verify-subject-forged", resign(lambda s: s["subject"][0]["digest"].update(sha256="0" * 64)), SignatureError, ("subjects do not match",)),
    Case("verify-predicate-edited", resign(lambda s: s["predicate"]["models"].clear()), SignatureError, ("subjects do not match",)),
    Case("verify-model-mismatch", _model_mismatch, SignatureError, ("model digest mismatch", "sha256:abababab", "the statement covers")),
    Case("verify-model-unknown-name", _verify_named_model, ConfigError, ("toyworld:zoo/nope", "toyworld:zoo/uce-striped")),
    # keygen, model-card
    Case("keygen-private-exists", _keygen_exists("a.pem"), ConfigError, ("a.pem", "never overwrites")),
    Case("keygen-public-exists", _keygen_exists("b.pub"), ConfigError, ("b.pub", "never overwrites")),
    Case("keygen-same-file", lambda t: cmd("keygen", str(t / "a.pem"), str(t / "a.pem")), ConfigError, ("must differ",)),
    Case("card-record-missing", _card(None), ConfigError, ("r.json", "not found")),
    Case("card-record-truncated", _card(DATA.read_bytes()[:500]), ConfigError, ("r.json", "not valid JSON")),
    Case("card-record-not-record", _card(b'{"schema": "x"}'), ConfigError, ("r.json",)),
    # named models
    Case("named-unknown-provider", _named({"path": "acme:sd"}), ConfigError, ("ModelSpec.path", "'acme:sd'", "toyworld:original", "igmu_audit.models")),
    Case("named-unknown-provider-unet", _named({"path": "toyworld:original", "unet": "vendor:esd"}), ConfigError, ("ModelSpec.unet", "'vendor:esd'")),
    Case("named-misspelt", _named({"path": "toyworld:orginal"}), ConfigError, ("did you mean 'toyworld:original'?",)),
    Case("named-misspelt-zoo", _named({"path": "toyworld:original", "unet": "toyworld:zoo/uce"}), ConfigError, ("ModelSpec.unet", "toyworld:zoo/uce-striped")),
    Case("named-text-encoder", _named({"path": "toyworld:original", "text_encoder": "toyworld:zoo/token-edit"}), ConfigError, ("ModelSpec.text_encoder",)),
    Case("named-lora", _named({"path": "toyworld:original", "lora": "toyworld:lora/none"}), ConfigError, ("ModelSpec.lora", "toyworld provides")),
    Case("named-provider-not-mapping", _provider(["a"]), ConfigError, ("corpus-vendor", "not a mapping")),
    Case("named-provider-missing-file", _provider({"x": "/nonexistent/igmu/model"}), ConfigError, ("corpus-vendor:x", "/nonexistent/igmu/model", "missing")),
    Case("named-provider-unknown-name", _provider({"y": "/tmp"}), ConfigError, ("corpus-vendor:x", "corpus-vendor:y")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_evidence_input(case: Case, tmp_path: Path) -> None:
    try:
        check_case(case, tmp_path)
    finally:
        named.unregister_models("corpus-vendor")
