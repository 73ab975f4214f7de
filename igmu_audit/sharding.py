"""Deterministic sharding of an audit across CI jobs or cluster jobs (``--igmu-shard K/N``).

Each test goes to the shard given by a hash of its node id, so every job, on any machine,
with any collection order, agrees on who runs what without talking to the others. Written
here rather than taken from pytest-split (which balances by recorded durations, so the
split changes as a durations file changes) or pytest-shard (unmaintained): the whole rule
is one line, and the verdict-record merge relies on it never assigning a test twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypeVar

from igmu_audit.errors import ConfigError

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; shards count from 1, as CI matrices do."""
    head, sep, tail = text.partition("/")
    try:
        index, total = int(head), int(tail)
    except ValueError:
        index = total = 0
    if not sep or not 1 <= index <= total:
        raise ConfigError(
            f"--igmu-shard {text!r}: expected K/N with 1 <= K <= N, e.g. --igmu-shard 1/2 for the first of two jobs"
        )
    return index, total


def shard_of(node_id: str, total: int) -> int:
    """The shard (1..total) that runs ``node_id``; stable across machines and Python runs."""
    digest = hashlib.sha256(node_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def split(
    items: Sequence[T], node_ids: Sequence[str], index: int, total: int
) -> tuple[list[T], list[T]]:
    """(kept, deselected) for shard ``index`` of ``total``, keeping collection order."""
    kept: list[T] = []
    dropped: list[T] = []
    for item, node_id in zip(items, node_ids, strict=True):
        (kept if shard_of(node_id, total) == index else dropped).append(item)
    return kept, dropped


def shard_option(config: Any) -> dict[str, int] | None:
    """``--igmu-shard K/N`` as the record's ``{"index": K, "total": N}`` (``None`` unsharded).

    The record carries it so ``merge`` can tell a missing shard from a finished run.
    """
    text = config.getoption("igmu_shard", None)
    if not text:
        return None
    index, total = parse_shard(text)
    return {"index": index, "total": total}
