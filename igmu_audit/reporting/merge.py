"""Merging shard records into one release decision, refusing anything that is not whole.

A merged PASS must mean every shard ran, on the same weights, without overlap. So
``merge`` refuses (``IncompleteMerge``) zero records, a missing, duplicated or
differently-counted shard (``--igmu-shard K/N``), and sharded mixed with unsharded
records; and refuses (``ConfigError``) overlapping test ids, one model label with two
fingerprints, and records of another schema version. Every message names the files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.reporting.record import build_record, read_record


class IncompleteMerge(ConfigError):
    """The records given do not cover the whole audit: the merged verdict is incomplete."""


def _shard_text(shard: Mapping[str, int]) -> str:
    return f"{shard['index']}/{shard['total']}"


def check_shards(records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Refuse unless the records are every shard 1..N of one N exactly once (or none sharded)."""
    shards = [(name, record["run"].get("shard")) for name, record in records]
    sharded = [(name, s) for name, s in shards if s is not None]
    if not sharded:
        return
    plain = [name for name, s in shards if s is None]
    if plain:
        raise IncompleteMerge(
            f"refusing to merge sharded and unsharded records: {', '.join(plain)} ran without "
            f"--igmu-shard, {', '.join(n for n, _ in sharded)} with it; merge the shards of one run"
        )
    totals = sorted({s["total"] for _, s in sharded})
    if len(totals) > 1:
        listed = ", ".join(f"{name} is shard {_shard_text(s)}" for name, s in sharded)
        raise IncompleteMerge(
            f"refusing to merge shards of different splits ({listed}): every job of one "
            "run must use the same N in --igmu-shard K/N"
        )
    total = totals[0]
    owner: dict[int, str] = {}
    for name, s in sharded:
        if s["index"] in owner:
            raise IncompleteMerge(
                f"shard {_shard_text(s)} appears twice ({owner[s['index']]} and {name}): "
                "one record per shard; is an old artifact mixed in?"
            )
        owner[s["index"]] = name
    missing = [k for k in range(1, total + 1) if k not in owner]
    if missing:
        got = ", ".join(f"{k}/{total} ({owner[k]})" for k in sorted(owner))
        raise IncompleteMerge(
            f"incomplete: shard(s) {', '.join(f'{k}/{total}' for k in missing)} missing "
            f"(got {got}); a shard that crashed or never wrote its record cannot pass the gate"
        )


def merge_records(records: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Merge validated records into one; refuse shards that disagree or do not cover the run.

    Args:
        records: (name, record) pairs, e.g. (file path, ``read_record(path)``).

    Returns:
        The merged record; its verdict is recomputed from every shard's entries.

    Raises:
        IncompleteMerge: no records, or shards missing / duplicated / of mixed N.
        ConfigError: overlapping test ids or one model label with two fingerprints.
    """
    if not records:
        raise IncompleteMerge(
            "incomplete: no verdict records to merge; a shard that crashed or never "
            "wrote its record (--igmu-record) leaves nothing to merge"
        )
    check_shards(records)
    label_to_fp: dict[str, tuple[str, str]] = {}
    owner: dict[str, str] = {}
    audits: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    not_applicable: list[dict[str, Any]] = []
    for name, record in records:
        for fingerprint, info in record["models"].items():
            label = info["label"]
            if label in label_to_fp and label_to_fp[label][0] != fingerprint:
                other_fp, other = label_to_fp[label]
                raise ConfigError(
                    f"refusing to merge: model {label!r} is {other_fp[:19]}.. in {other} but {fingerprint[:19]}.. in {name}; "
                    "shards of one audit must run on the same weights"
                )
            label_to_fp[label] = (fingerprint, name)
        ids = {
            e["test_id"]
            for e in [*record["audits"], *record["problems"], *record["not_applicable"]]
        }
        for test_id in sorted(i for i in ids if i):
            if test_id in owner:
                raise ConfigError(
                    f"refusing to merge: {test_id!r} appears in both {owner[test_id]} and {name}; the shards overlap"
                )
            owner[test_id] = name
        audits.extend(dict(a) for a in record["audits"])
        problems.extend(
            {**p, "test_id": p["test_id"] or f"[{name}]"} for p in record["problems"]
        )
        not_applicable.extend(dict(n) for n in record["not_applicable"])
    workers = sum(int(r["run"].get("workers") or 1) for _, r in records)
    return build_record(
        audits,
        problems,
        not_applicable=not_applicable,
        run={"workers": workers, "shards": [name for name, _ in records]},
    )


def merge_files(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """Read, validate and merge record files; the same file twice is refused."""
    seen: dict[Path, str] = {}
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            raise IncompleteMerge(
                f"refusing to merge: {path} is given twice (also as {seen[resolved]})"
            )
        seen[resolved] = str(path)
    return merge_records([(str(path), read_record(Path(path))) for path in paths])
