"""Detector cards from the command line: ``python -m igmu_audit.detectors <command>``.

``calibrate <labelled tree> --detector <name or profile> --out card.json`` measures a
detector on a DataIGM labelled tree and writes its card (optionally choosing the
threshold with ``--target-fpr`` / ``--target-fnr``). Exit 0 on success, 2 on bad input.
The toy world's shipped cards are rebuilt by ``make cards``
(``python -m igmu_audit.toyworld.detector_cards``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from igmu_audit.errors import IgmuAuditError

EXIT_BAD_INPUT = 2


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (``0.4``, ``["A","B"]``), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE (e.g. concept=circle), got {text!r}"
        )
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a rate in [0, 1), got {text!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m igmu_audit.detectors", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="measure a detector on a labelled tree")
    cal.add_argument(
        "tree", help="folder with train/ and/or test/, one folder per class"
    )
    cal.add_argument(
        "--detector", required=True, help="detector or profile name, e.g. nudenet-igmu"
    )
    cal.add_argument(
        "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
        help="detector option, e.g. concept=circle or threshold=0.4 (repeatable)",
    )  # fmt: skip
    cal.add_argument(
        "--positive",
        help="class folder showing the concept (default: the detector's concept)",
    )
    cal.add_argument(
        "--split", default="test", help="split to measure on (default: test)"
    )
    target = cal.add_mutually_exclusive_group()
    target.add_argument(
        "--target-fpr",
        type=_rate,
        help="choose the threshold for this false-positive rate",
    )
    target.add_argument(
        "--target-fnr",
        type=_rate,
        help="choose the threshold for this false-negative rate",
    )
    cal.add_argument(
        "--confidence",
        type=_rate,
        default=0.95,
        help="interval coverage (default 0.95)",
    )
    cal.add_argument(
        "--name", help="calibration set name (default: <tree folder>/<split>)"
    )
    cal.add_argument("--out", required=True, help="card file to write (JSON)")
    return parser


def _calibrate(args: argparse.Namespace) -> int:
    from igmu_audit.detectors.calibrate import calibrate
    from igmu_audit.detectors.card_files import write_card
    from igmu_audit.detectors.registry import get_detector

    detector = get_detector(args.detector, **dict(args.option))
    card = calibrate(
        args.tree, detector, profile=args.detector, positive=args.positive,
        split=args.split, target_fpr=args.target_fpr, target_fnr=args.target_fnr,
        confidence=args.confidence, name=args.name,
    )  # fmt: skip
    write_card(card, args.out)
    tpr, fpr = card.tpr(), card.fpr()
    print(
        f"{args.out}: {card.profile} at threshold {card.threshold:.6g} on {card.calibration.name} "
        f"({card.calibration.size} images): TPR {tpr.value:.3f} [{tpr.low:.3f}, {tpr.high:.3f}], "
        f"FPR {fpr.value:.3f} [{fpr.low:.3f}, {fpr.high:.3f}]"
    )
    if card.threshold != detector.threshold:
        print(
            f"the chosen threshold differs from the detector's ({detector.threshold}): set "
            f"detector_settings.{args.detector}.threshold: {card.threshold!r} to audit at it"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _calibrate(args)
    except IgmuAuditError as exc:
        print(f"igmu-audit detectors {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
