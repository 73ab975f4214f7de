"""Signed evidence: a verdict record as an in-toto Statement in a DSSE envelope (Ed25519).

Why: a verdict record on its own can be edited after the run; a reviewer who holds the
public key can check that the record is the one the audit wrote, and (with the model
files) that it speaks about these weights. The layout follows two public specs:

- in-toto Statement v1 (``_type: https://in-toto.io/Statement/v1``): ``subject`` lists
  what the evidence is about (each model's fingerprint, each detector card's hash, each
  prompt set's hash where the record has one), ``predicate`` is the whole record.
- DSSE v1: the signature covers ``PAE(payloadType, payload)`` =
  ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, so neither the payload nor its
  type can be swapped without breaking it.

``PREDICATE_TYPE`` is this project's identifier for the record schema, a name and not an
address that is fetched. Pure Python apart from ``cryptography`` (extra ``sign``): no
numpy or torch, so a CI gate job signs and verifies in seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError, IgmuAuditError, MissingDependencyError
from igmu_audit.reporting.record_schema import SCHEMA

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: a project URI naming the verdict-record schema (never fetched)
PREDICATE_TYPE = "https://igmu-audit.dev/verdict-record/v3"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: bigger envelopes are not ones this tool wrote
MAX_ENVELOPE_BYTES = 512 * 1024 * 1024

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "SignatureError",
    "generate_keypair",
    "pae",
    "sign_record",
    "statement",
    "subjects",
    "verify_envelope",
]


class SignatureError(IgmuAuditError, ValueError):
    """The signed record does not verify: altered, signed by another key, or other weights."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the exact bytes the signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _hex(fingerprint: str) -> str | None:
    algo, _, digest = fingerprint.partition(":")
    if algo != "sha256" or len(digest) != 64:
        return None
    try:
        int(digest, 16)
    except ValueError:
        return None
    return digest.lower()


def subjects(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statement's subjects: what this evidence is about, each with a sha256 digest.

    Models: ``name`` is the record's model label, the digest its fingerprint. Detector
    cards: ``detector:<name>``, the sha256 of the card's canonical JSON as recorded.
    Prompt sets: ``prompts:<test id>``, the sha256 of the prompt list's canonical JSON,
    for audit entries that record their prompts (``prompts``) or a ``prompt_set``
    with a ``sha256``.
    """
    out: dict[str, str] = {}
    for fingerprint, info in record.get("models", {}).items():
        digest = _hex(str(fingerprint))
        if digest is None:
            raise ConfigError(
                f"models: fingerprint {fingerprint!r} of {info.get('label')!r} is not "
                "'sha256:<64 hex digits>'; only sha256 fingerprints can be signed"
            )
        out[str(info["label"])] = digest
    for audit in record.get("audits", []):
        card = audit.get("detector")
        if isinstance(card, Mapping) and card:
            name = f"detector:{card.get('name') or card.get('detector') or 'unnamed'}"
            digest = hashlib.sha256(_canonical(dict(card))).hexdigest()
            if out.get(name, digest) != digest:
                name = f"{name}@{digest[:12]}"
            out[name] = digest
        prompt_set = audit.get("prompt_set")
        prompts = audit.get("prompts")
        if isinstance(prompt_set, Mapping) and _hex(
            f"sha256:{prompt_set.get('sha256')}"
        ):
            out[f"prompts:{audit.get('test_id')}"] = str(prompt_set["sha256"]).lower()
        elif isinstance(prompts, list) and prompts:
            out[f"prompts:{audit.get('test_id')}"] = hashlib.sha256(
                _canonical(prompts)
            ).hexdigest()
    return [{"name": k, "digest": {"sha256": v}} for k, v in sorted(out.items())]


def statement(record: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto Statement v1 for ``record`` (the record is the predicate, unchanged)."""
    if record.get("schema") != SCHEMA:
        raise ConfigError(
            f"schema: {record.get('schema')!r} is not {SCHEMA!r}; sign a record this version wrote"
        )
    found = subjects(record)
    if not any(not s["name"].startswith(("detector:", "prompts:")) for s in found):
        raise ConfigError(
            "models: the record names no audited model, so a signature would vouch for "
            "no weights; sign the record of a run that audited a model"
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": found,
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(record),
    }


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependencyError(
            "signing needs the 'cryptography' package: pip install 'igmu-audit[sign]'"
        ) from None
    return serialization, ed25519


def _key_bytes(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} key file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} key: {exc.strerror or exc}") from None  # fmt: skip
    if b"-----BEGIN" not in data:
        raise ConfigError(
            f"{path}: not a PEM file; give an Ed25519 {what} key in PEM "
            "(python -m igmu_audit.record keygen writes a pair)"
        )
    return data


def load_private_key(path: str | Path) -> Any:
    """An Ed25519 private key from an unencrypted PKCS8 PEM file, or a ConfigError saying why not."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    data = _key_bytes(path, "private")
    if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
        raise ConfigError(f"{path}: is a public key; signing needs the private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(f"{path}: the private key is encrypted; give an unencrypted PKCS8 PEM") from None  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"{path}: not a readable private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(
            f"{path}: a {type(key).__name__.removeprefix('_')} key; signatures here are Ed25519 only"
        )
    return key


def load_public_key(path: str | Path) -> Any:
    """An Ed25519 public key from a PEM file, or a ConfigError saying why not."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    data = _key_bytes(path, "public")
    if b"PRIVATE KEY" in data:
        raise ConfigError(
            f"{path}: is a private key; verify with the public key (keep the private one secret)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a readable public key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(
            f"{path}: a {type(key).__name__.removeprefix('_')} key; signatures here are Ed25519 only"
        )
    return key


def key_id(public_key: Any) -> str:
    """``sha256:<hex>`` of the raw public key: names which key signed, never the key itself."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 pair as (private PKCS8 PEM, public SubjectPublicKeyInfo PEM)."""
    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def sign_record(record: Mapping[str, Any], private_key: Any) -> dict[str, Any]:
    """The DSSE envelope of ``record``'s statement, signed with ``private_key``."""
    payload = _canonical(statement(record))
    signature = private_key.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": key_id(private_key.public_key()),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }


def _b64(value: Any, where: str, file: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureError(f"{file}: {where}: expected base64 text, got {type(value).__name__}")  # fmt: skip
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SignatureError(f"{file}: {where}: not valid base64; the envelope was altered") from None  # fmt: skip
    # Unused trailing bits let two texts decode alike: only sign's own encoding passes.
    if base64.b64encode(raw).decode("ascii") != value:
        raise SignatureError(
            f"{file}: {where}: not the canonical base64 of its bytes; the envelope was altered"
        )
    return raw


def read_envelope(path: str | Path) -> dict[str, Any]:
    """The envelope JSON in ``path``; a SignatureError names the file when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ENVELOPE_BYTES:
            raise SignatureError(f"{path}: too large to be a signed verdict record")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: signed record not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError(f"{path}: not a DSSE envelope (not JSON: {exc}); the file was altered or is not one sign wrote") from None  # fmt: skip
    if not isinstance(data, dict):
        raise SignatureError(f"{path}: not a DSSE envelope (expected a JSON object)")
    return data


def verify_envelope(
    envelope: Mapping[str, Any], public_key: Any, *, file: str = "envelope"
) -> dict[str, Any]:
    """Check the signature and the statement; return the statement.

    Raises:
        SignatureError: a changed byte anywhere (payload, its type, the signature), a
            key that did not sign it, or a payload that is not this project's statement.
    """
    from cryptography.exceptions import InvalidSignature

    missing = [k for k in ("payloadType", "payload", "signatures") if k not in envelope]
    if missing:
        raise SignatureError(
            f"{file}: not a DSSE envelope: missing {', '.join(missing)}"
        )
    extra = sorted(set(envelope) - {"payloadType", "payload", "signatures"})
    if extra:
        raise SignatureError(f"{file}: unexpected envelope key(s) {', '.join(map(repr, extra))}; the envelope was altered")  # fmt: skip
    kind = envelope["payloadType"]
    if kind != PAYLOAD_TYPE:
        raise SignatureError(
            f"{file}: payloadType is {kind!r}, expected {PAYLOAD_TYPE!r}; the envelope was altered"
        )
    payload = _b64(envelope["payload"], "payload", file)
    sigs = envelope["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise SignatureError(f"{file}: signatures: expected a non-empty list")
    wanted = key_id(public_key)
    message = pae(kind, payload)
    for i, entry in enumerate(sigs):
        if not isinstance(entry, Mapping):
            raise SignatureError(f"{file}: signatures[{i}]: expected an object")
        extra = sorted(set(entry) - {"keyid", "sig"})
        if extra:
            raise SignatureError(f"{file}: signatures[{i}]: unexpected key(s) {', '.join(map(repr, extra))}; the envelope was altered")  # fmt: skip
        raw = _b64(entry.get("sig"), f"signatures[{i}].sig", file)
        try:
            public_key.verify(raw, message)
        except InvalidSignature:
            continue
        if entry.get("keyid", wanted) != wanted:
            raise SignatureError(
                f"{file}: signatures[{i}].keyid is {str(entry.get('keyid'))[:24]!r} but the "
                f"signing key is {wanted[:19]}..; the envelope was altered"
            )
        return _statement_of(payload, file)
    keyids = ", ".join(
        str(s.get("keyid", "?"))[:19] for s in sigs if isinstance(s, Mapping)
    )
    raise SignatureError(
        f"{file}: no signature verifies with the key {wanted[:19]}.. (signed by {keyids}..): "
        "the payload or signature was changed, or this is not the signer's public key"
    )


def _statement_of(payload: bytes, file: str) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError(f"{file}: the signed payload is not JSON ({exc})") from None  # fmt: skip
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise SignatureError(
            f"{file}: the signed payload is not an in-toto Statement v1"
        )
    if data.get("predicateType") != PREDICATE_TYPE:
        raise SignatureError(
            f"{file}: predicateType {data.get('predicateType')!r} is not {PREDICATE_TYPE!r}"
        )
    if data.get("subject") != subjects(data.get("predicate") or {}):
        raise SignatureError(
            f"{file}: the statement's subjects do not match its record; it was not written by sign"
        )
    return data


def check_models(stmt: Mapping[str, Any], fingerprints: Mapping[str, str]) -> list[str]:
    """Match computed model fingerprints (``{path: "sha256:..."}``) to the subjects.

    Returns one line per model naming the subject it matches; raises SignatureError
    naming every model whose weights the statement does not cover.
    """
    by_digest = {s["digest"]["sha256"]: s["name"] for s in stmt["subject"]}
    models = sorted(
        f"{s['name']} sha256:{s['digest']['sha256'][:12]}.."
        for s in stmt["subject"]
        if not s["name"].startswith(("detector:", "prompts:"))
    )
    lines, bad = [], []
    for path, fingerprint in fingerprints.items():
        name = by_digest.get(_hex(fingerprint) or "")
        if name is None:
            bad.append(f"{path} is {fingerprint[:19]}..")
        else:
            lines.append(f"{path}: matches subject {name!r} ({fingerprint[:19]}..)")
    if bad:
        raise SignatureError(
            f"model digest mismatch: {'; '.join(bad)}, which no subject names (the "
            f"statement covers: {', '.join(models)}); these are not the weights that were audited"
        )
    return lines
