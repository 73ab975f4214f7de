"""The ``sign`` / ``verify`` / ``keygen`` / ``model-card`` commands of ``python -m igmu_audit.record``.

Kept apart from ``record.py`` (which owns ``merge`` and the gate's statuses) so that
each file does one job. Every output is written atomically: a failed command leaves no
half-written envelope, key or card. Exit statuses: 0 done and (for ``verify``) valid,
``EXIT_NOT_VERIFIED`` (13) a signature or model digest that does not verify,
``outcome.EXIT_ERROR`` (12) input that cannot be read or used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from igmu_audit._atomic import atomic_write_text
from igmu_audit.errors import ConfigError, IgmuAuditError
from igmu_audit.reporting import outcome
from igmu_audit.reporting import sign as signing
from igmu_audit.reporting.record import read_record

#: ``verify``: the evidence does not verify (altered, another key, other weights)
EXIT_NOT_VERIFIED = 13


def report_error(command: str, exc: IgmuAuditError) -> int:
    """Print ``exc`` for ``command`` and return its exit status."""
    print(f"igmu-audit {command}: {exc}", file=sys.stderr)
    if isinstance(exc, signing.SignatureError):
        print(f"igmu-audit {command}: NOT VERIFIED (exit {EXIT_NOT_VERIFIED})", file=sys.stderr)  # fmt: skip
        return EXIT_NOT_VERIFIED
    return outcome.EXIT_ERROR


def _refuse_overwrite_input(output: Path, *inputs: str) -> None:
    if output.resolve() in {Path(p).resolve() for p in inputs}:
        raise ConfigError(f"{output}: is also an input; write the output elsewhere")


def sign(args: argparse.Namespace) -> int:
    """Sign a verdict record into a DSSE envelope."""
    output = Path(args.output)
    _refuse_overwrite_input(output, args.record, args.key)
    record = read_record(args.record)
    key = signing.load_private_key(args.key)
    try:
        envelope = signing.sign_record(record, key)
    except ConfigError as exc:
        raise ConfigError(f"{args.record}: {exc}") from None
    text = json.dumps(envelope, indent=2) + "\n"
    _write(output, text)
    stmt = signing.statement(record)
    print(f"{output}: signed {record['verdict'].upper()} record {args.record} "
          f"({len(stmt['subject'])} subject(s)) with key {envelope['signatures'][0]['keyid'][:19]}..")  # fmt: skip
    return 0


def _write(output: Path, text: str) -> None:
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None


def _model_spec(arg: str) -> Any:
    """A ModelSpec from a path, a named model, or a YAML/JSON file holding a model mapping."""
    from igmu_audit.pipelines.spec import ModelSpec

    path = Path(arg)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml", ".json"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"--model {arg}: cannot read the model spec: {exc}") from None  # fmt: skip
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            data = data["model"]
        if not isinstance(data, dict):
            raise ConfigError(f"--model {arg}: expected a mapping of model fields (path, unet, ...)")  # fmt: skip
        base = path.resolve().parent
        fields = ("path", "unet", "text_encoder", "transformer", "text_encoder_2",
                  "text_encoder_3", "lora", "single_file_config")  # fmt: skip
        data = {
            k: (os.fspath(base / v) if k in fields and isinstance(v, str)
                and not Path(v).is_absolute() and (base / v).exists() else v)
            for k, v in data.items()
        }  # fmt: skip
        return ModelSpec.from_dict(data)
    return ModelSpec.coerce(arg)


def _fingerprint(arg: str) -> str:
    from igmu_audit.pipelines.loading import load_pipeline

    # load_pipeline is the record's own fingerprint: same files, overrides, scheduler.
    return load_pipeline(_model_spec(arg), device="cpu").fingerprint


def verify(args: argparse.Namespace) -> int:
    """Check a signed record (and, with ``--model``, the weights); 0 only when valid."""
    key = signing.load_public_key(args.key)
    envelope = signing.read_envelope(args.envelope)
    stmt = signing.verify_envelope(envelope, key, file=str(args.envelope))
    record = stmt["predicate"]
    print(f"{args.envelope}: signature valid (key {signing.key_id(key)[:19]}..): "
          f"{str(record.get('verdict')).upper()} record, {len(stmt['subject'])} subject(s)")  # fmt: skip
    for subject in stmt["subject"]:
        print(f"  {subject['name']}  sha256:{subject['digest']['sha256']}")
    if args.model:
        lines = signing.check_models(stmt, {m: _fingerprint(m) for m in args.model})
        for line in lines:
            print(f"  {line}")
    print("igmu-audit verify: VERIFIED (exit 0)")
    return 0


def keygen(args: argparse.Namespace) -> int:
    """Write a new key pair; refuses to overwrite an existing key."""
    private, public = Path(args.private), Path(args.public)
    if private.resolve() == public.resolve():
        raise ConfigError("keygen: the private and public key files must differ")
    for path in (private, public):
        if path.exists():
            raise ConfigError(f"{path}: exists; keygen never overwrites a key (remove it or pick another name)")  # fmt: skip
    priv_pem, pub_pem = signing.generate_keypair()
    written: list[Path] = []
    try:
        for path, data, mode in ((private, priv_pem, 0o600), (public, pub_pem, 0o644)):
            # O_EXCL with the final mode: the private key is never readable by others.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            written.append(path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise ConfigError(f"keygen: cannot write {path}: {exc.strerror or exc}") from None  # fmt: skip
    print(f"{private}: private key (keep it secret); {public}: public key")
    return 0


def model_card(args: argparse.Namespace) -> int:
    """Write the model card section to ``-o`` or stdout."""
    from igmu_audit.reporting.model_card import model_card_section

    record = read_record(args.record)
    text = model_card_section(record)
    if args.output:
        output = Path(args.output)
        _refuse_overwrite_input(output, args.record)
        _write(output, text)
        print(f"{output}: Unlearning evaluation section ({record['verdict'].upper()})")
    else:
        sys.stdout.write(text)
    return 0
