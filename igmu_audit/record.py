"""Command line for verdict records: ``python -m igmu_audit.record merge a.json b.json -o all.json``.

Shards of an audit (CI jobs, cluster jobs) each write a record with ``--igmu-record``;
this merges them, refusing shards that ran on different weights, and exits non-zero
when the merged verdict is not a pass, so a CI merge step gates the release.
"""

from __future__ import annotations

import argparse
import sys

from igmu_audit.errors import ConfigError
from igmu_audit.reporting.record import merge_records, read_record, write_record


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 only for an overall pass)."""
    parser = argparse.ArgumentParser(
        prog="python -m igmu_audit.record", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    merge = sub.add_parser("merge", help="merge shard records into one")
    merge.add_argument("records", nargs="+", help="verdict record files")
    merge.add_argument("-o", "--output", required=True, help="merged record to write")
    args = parser.parse_args(argv)
    try:
        merged = merge_records([(path, read_record(path)) for path in args.records])
    except ConfigError as exc:
        print(f"igmu-audit: {exc}", file=sys.stderr)
        return 2
    write_record(args.output, merged)
    counts = merged["counts"]
    print(f"{args.output}: {merged['verdict'].upper()} ({counts['pass']} pass, {counts['fail']} fail, "
          f"{counts['inconclusive']} inconclusive, {counts.get('caught', 0)} caught by their tests) "
          f"from {len(args.records)} shard(s)")  # fmt: skip
    return 0 if merged["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
