"""Build the toy world's detector cards: one per concept, on held-out rendered images.

Why one command: the cards are tied to the toy classifier's weights sha256, so a
retrained classifier makes every shipped card invalid; ``make cards`` (or
``python -m igmu_audit.toyworld.detector_cards``) renders a fresh held-out set and rebuilds
them all. The set is drawn from the ``test`` stream with a seed the training never used
(training renders seed 0 of the ``train`` stream), written as a DataIGM labelled tree
per attribute head (``<head>/test/<class>/<i>.png``) and measured with ``calibrate``,
exactly as a user's own tree would be.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from igmu_audit.detectors.calibrate import calibrate
from igmu_audit.detectors.card_files import write_card
from igmu_audit.detectors.cards import DetectorCard

#: seed of the held-out calibration renders (training uses seed 0, split "train")
CARD_SEED = 14
#: images rendered per attribute head
CARD_IMAGES = 1200


def render_tree(root: Path, attribute: str, n: int, seed: int) -> Path:
    """Render ``n`` held-out images into ``root/<attribute>/test/<class>/``; returns the tree."""
    from PIL import Image

    from igmu_audit.toyworld.data import sample_dataset
    from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

    column = ATTRIBUTES.index(attribute)
    classes = load_vocabulary().classes(attribute)
    data = sample_dataset(n, seed, "test")
    tree = root / attribute
    for cls in classes:
        (tree / "test" / cls).mkdir(parents=True, exist_ok=True)
    for i, (image, labels) in enumerate(zip(data.images, data.labels, strict=True)):
        cls = classes[int(labels[column])]
        Image.fromarray(image).save(tree / "test" / cls / f"{i:05d}.png")
    return tree


def build_toy_cards(
    out: Path, *, n: int = CARD_IMAGES, seed: int = CARD_SEED
) -> list[tuple[Path, DetectorCard]]:
    """Measure every toy concept at the detector's default threshold; write ``<concept>.json``."""
    from igmu_audit.toyworld.detector import ToyWorldDetector
    from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

    vocab = load_vocabulary()
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="igmu-toy-cards-") as tmp:
        for attribute in ATTRIBUTES:
            tree = render_tree(Path(tmp), attribute, n, seed)
            for concept in vocab.classes(attribute):
                card = calibrate(
                    tree,
                    ToyWorldDetector(concept),
                    profile="toyworld",
                    name=f"toyworld held-out renders ({attribute} head), seed {seed}, split test, {n} images",
                )
                path = out / f"{concept}.json"
                write_card(card, path)
                written.append((path, card))
    return written


def main(argv: list[str] | None = None) -> int:
    """Rebuild the cards into ``--out`` (default: the shipped ``fixtures/toyworld/cards``)."""
    from igmu_audit._paths import fixtures_dir

    parser = argparse.ArgumentParser(
        prog="python -m igmu_audit.toyworld.detector_cards",
        description="rebuild the toy world's detector cards on held-out renders",
    )
    parser.add_argument("--out", help="folder (default: fixtures/toyworld/cards)")
    parser.add_argument(
        "--images", type=int, default=CARD_IMAGES, help="images per head"
    )
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else fixtures_dir() / "toyworld" / "cards"
    for path, card in build_toy_cards(out, n=args.images):
        tpr, fpr = card.tpr(), card.fpr()
        print(
            f"{path}: TPR {tpr.value:.3f} [{tpr.low:.3f}, {tpr.high:.3f}], "
            f"FPR {fpr.value:.3f} [{fpr.low:.3f}, {fpr.high:.3f}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
