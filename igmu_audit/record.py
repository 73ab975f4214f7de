"""Command line for verdict records: ``python -m igmu_audit.record merge a.json b.json -o all.json``.

Shards of an audit (CI jobs, cluster jobs) each write a record with ``--igmu-record``;
``merge`` merges them and exits with the gate's status (docs/verdict-record.md): 0 only
for an overall pass, 10 fail, 11 inconclusive, 12 error or incomplete, which includes no
records at all, a missing shard, or input it must refuse. On a refusal the output
still gets a record saying so, so no older PASS can be read from it.

Evidence for people outside CI (reporting/sign.py, reporting/model_card.py):
``keygen`` writes an Ed25519 key pair; ``sign`` wraps a record in a signed in-toto
statement (DSSE); ``verify`` checks one, and with ``--model`` that the weights are the
ones audited: exit 0 only when everything verifies, 13 when the signature or a model
digest does not, 12 for unreadable input; ``model-card`` writes the "Unlearning
evaluation" section of a Hugging Face model card. None of them imports numpy or torch
(``verify --model`` loads the model to fingerprint it, so it does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from igmu_audit.errors import ConfigError, IgmuAuditError
from igmu_audit.reporting import outcome
from igmu_audit.reporting.merge import IncompleteMerge, merge_files
from igmu_audit.reporting.record import build_record, problem, write_record

#: problem lines printed before the closing line (the merged record holds them all)
MAX_LINES = 10


def _refuse(output: Path, inputs: list[str], exc: ConfigError) -> int:
    verdict = outcome.INCOMPLETE if isinstance(exc, IncompleteMerge) else outcome.ERROR
    print(f"igmu-audit: {exc}", file=sys.stderr)
    if output.resolve() in {Path(p).resolve() for p in inputs}:
        print(f"igmu-audit: {output} is also an input; left as it was", file=sys.stderr)
    else:
        record = build_record([], [problem("", verdict, str(exc), phase="merge")])
        try:
            write_record(output, record)
            print(f"{output}: {verdict.upper()} (merge refused)", file=sys.stderr)
        except OSError as err:
            print(
                f"igmu-audit: cannot write {output}: {err.strerror or err}",
                file=sys.stderr,
            )
    print(
        f"igmu-audit gate: {outcome.WORDS[verdict]} (exit {outcome.EXIT_ERROR})",
        file=sys.stderr,
    )
    return outcome.EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m igmu_audit.record", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    merge = sub.add_parser("merge", help="merge shard records into one")
    merge.add_argument(
        "records", nargs="*", help="verdict record files (none: incomplete)"
    )
    merge.add_argument("-o", "--output", required=True, help="merged record to write")
    sign = sub.add_parser(
        "sign", help="sign a record: in-toto statement in a DSSE envelope"
    )
    sign.add_argument("record", help="verdict record to sign")
    sign.add_argument("--key", required=True, help="Ed25519 private key (PKCS8 PEM)")
    sign.add_argument("-o", "--output", required=True, help="envelope to write")
    verify = sub.add_parser(
        "verify", help="verify a signed record (exit 0 only when valid)"
    )
    verify.add_argument("envelope", help="signed record (DSSE envelope) to check")
    verify.add_argument(
        "--key", required=True, help="the signer's Ed25519 public key (PEM)"
    )
    verify.add_argument(
        "--model", action="append", default=[], metavar="PATH",
        help="a model that must be among the audited ones: diffusers folder, weight file, "
        "named model (toyworld:original) or a YAML/JSON model spec file; repeatable",
    )  # fmt: skip
    keygen = sub.add_parser("keygen", help="write a new Ed25519 key pair")
    keygen.add_argument("private", help="private key file to write (keep it secret)")
    keygen.add_argument(
        "public", help="public key file to write (give it to reviewers)"
    )
    card = sub.add_parser("model-card", help="Unlearning evaluation section (Markdown)")
    card.add_argument("record", help="verdict record")
    card.add_argument("-o", "--output", help="Markdown file to write (default: stdout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 only for an overall pass)."""
    args = _parser().parse_args(argv)
    if args.command != "merge":
        from igmu_audit.reporting import evidence_cli

        try:
            return int(getattr(evidence_cli, args.command.replace("-", "_"))(args))
        except IgmuAuditError as exc:
            return evidence_cli.report_error(args.command, exc)
    output = Path(args.output)
    try:
        if output.resolve() in {Path(p).resolve() for p in args.records}:
            raise ConfigError(
                f"refusing to merge: the output {output} is one of the inputs; write the merged record elsewhere"
            )
        merged = merge_files(args.records)
    except ConfigError as exc:
        return _refuse(output, args.records, exc)
    try:
        write_record(output, merged)
    except OSError as exc:
        print(
            f"igmu-audit: cannot write {output}: {exc.strerror or exc}", file=sys.stderr
        )
        return outcome.EXIT_ERROR
    c = merged["counts"]
    controls = merged["flags"].get(outcome.POSITIVE_CONTROL, 0)
    print(f"{output}: {merged['verdict'].upper()} ({c['pass']} pass, {c['fail']} fail, {c['inconclusive']} inconclusive, "
          f"{c['error']} error, {c['incomplete']} incomplete, {controls} positive control(s) caught by their tests) "
          f"from {len(args.records)} record(s)")  # fmt: skip
    for entry in merged["problems"][:MAX_LINES]:
        print(
            f"  {entry['verdict'].upper():<10}  {entry['test_id']}  {entry['reason']}"
        )
    if len(merged["problems"]) > MAX_LINES:
        print(f"  ... and {len(merged['problems']) - MAX_LINES} more in {output}")
    status = merged["exit_status"]
    print(f"igmu-audit gate: {outcome.WORDS[merged['verdict']]} (exit {status})")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
