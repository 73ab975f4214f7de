"""Rebuild the toy-world zoo: ``python -m igmu_audit.toyworld.unlearn``.

Builds every zoo model from the shipped toy original with fixed seeds into
``fixtures/toyworld/zoo/`` (``--out`` to write elsewhere), then measures each one and writes
``measurements.json`` and ``ZOO_CARD.md`` next to the files. ``--quick`` runs a few steps
per method and skips measuring (the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from igmu_audit._paths import fixtures_dir
from igmu_audit.toyworld.unlearn.zoo import (
    QUICK_STEPS,
    ZOO,
    ZooModel,
    build_zoo,
    default_original,
)


def _bars(
    quick: bool,
) -> tuple[Callable[[ZooModel], Callable[[int, float], None] | None], list[tqdm[Any]]]:
    opened: list[tqdm[Any]] = []

    def factory(model: ZooModel) -> Callable[[int, float], None] | None:
        steps = model.settings.get("steps")
        if not steps:
            return None
        steps = QUICK_STEPS if quick else steps
        bar = tqdm(total=steps, desc=model.name, mininterval=5.0)
        opened.append(bar)

        def progress(step: int, loss: float) -> None:
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        return progress

    return factory, opened


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="zoo folder (default: fixtures/toyworld/zoo)",
    )
    parser.add_argument(
        "--original", type=Path, default=None, help="toy original pipeline folder"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps per method, no measuring"
    )
    parser.add_argument(
        "--only", nargs="*", default=(), help="build only these zoo models"
    )
    parser.add_argument(
        "--skip-build", action="store_true", help="measure the files already in --out"
    )
    parser.add_argument(
        "--skip-measure", action="store_true", help="build without measuring"
    )
    parser.add_argument(
        "--classifier",
        type=Path,
        default=None,
        help="toy classifier folder for measuring (default: the shipped one)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (default 2)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    out = args.out or fixtures_dir() / "toyworld" / "zoo"
    original = args.original or default_original()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    builds_path = out / "builds.json"
    if not args.skip_build:
        factory, bars = _bars(args.quick)
        records = build_zoo(
            out,
            original=original,
            quick=args.quick,
            seed=args.seed,
            only=tuple(args.only),
            progress=factory,
        )
        for bar in bars:
            bar.close()
        previous = json.loads(builds_path.read_text()) if builds_path.exists() else {}
        builds = {**previous, **records}
        builds_path.write_text(json.dumps(builds, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(records, indent=2))
    if args.quick or args.skip_measure:
        return
    from igmu_audit.toyworld.unlearn.card import measure_zoo, write_card

    models = [m for m in ZOO if not args.only or m.name in args.only]
    measurements = measure_zoo(out, original, models, classifier=args.classifier)
    measurements["build_seconds_total"] = round(time.perf_counter() - start, 1)
    print(f"wrote {write_card(out, measurements)}")


if __name__ == "__main__":
    main()
