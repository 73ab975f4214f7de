"""The toy detector network: a small CNN with one head per attribute (shape, colour, texture).

Why its own network: the audits need a detector whose accuracy is *measured* on held-out
data, so that an erasure rate read through it means something. Weights ship as
``fixtures/toyworld/classifier/model.safetensors`` with ``config.json`` (class lists).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from igmu_audit._paths import fixtures_dir
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

if TYPE_CHECKING:
    from collections.abc import Callable

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def _block(c_in: int, c_out: int, *, pool: bool = True) -> list[nn.Module]:
    # Batch norm makes a few hundred steps enough; pooling 32 -> 16 -> 8 -> 4.
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]
    return [*layers, nn.MaxPool2d(2)] if pool else layers


class ToyClassifier(nn.Module):
    """Four conv + batch-norm layers, global average pooling, one linear head per attribute."""

    def __init__(self, classes: dict[str, list[str]], width: int = 32) -> None:
        super().__init__()
        self.classes = {a: list(classes[a]) for a in ATTRIBUTES}
        self.features = nn.Sequential(
            *_block(3, width),
            *_block(width, 2 * width),
            *_block(2 * width, 4 * width),
            *_block(4 * width, 4 * width, pool=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.heads = nn.ModuleDict(
            {a: nn.Linear(4 * width, len(self.classes[a])) for a in ATTRIBUTES}
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per attribute for float images (N, 3, 32, 32) in [0, 1]."""
        if images.shape[-2:] != (32, 32):
            images = nn.functional.interpolate(
                images,
                size=(32, 32),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        features = self.features((images - 0.5) / 0.25)
        return {a: head(features) for a, head in self.heads.items()}

    @torch.no_grad()
    def predict(
        self, images: torch.Tensor, batch_size: int = 256
    ) -> dict[str, torch.Tensor]:
        """Softmax probabilities per attribute, in batches, without gradients."""
        chunks = [
            self(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
        ]
        return {a: torch.cat([c[a] for c in chunks]).softmax(-1) for a in ATTRIBUTES}


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Horizontal flips keep every label; blur and noise mimic decoded (generated) images.
    flip = torch.rand(len(images), generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    blur = torch.rand(len(images), generator=generator) < 0.3
    kernel = torch.tensor([0.25, 0.5, 0.25])
    kernel2d = (kernel[:, None] * kernel[None, :]).expand(3, 1, 3, 3)
    blurred = nn.functional.conv2d(
        nn.functional.pad(images, (1, 1, 1, 1), mode="replicate"), kernel2d, groups=3
    )
    images = torch.where(blur[:, None, None, None], blurred, images)
    noise = torch.randn(images.shape, generator=generator) * 0.02
    return (images + noise).clamp(0, 1)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 128,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> ToyClassifier:
    """Train a fresh classifier on float images (N, 3, 32, 32) and int labels (N, 3)."""
    torch.manual_seed(seed)
    vocab = load_vocabulary()
    model = ToyClassifier({a: vocab.classes(a) for a in ATTRIBUTES})
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=2e-3, total_steps=steps
    )
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        logits = model(_augment(images[index], generator))
        # sum() of tensors is a tensor (mypy types its empty case as the int 0)
        loss = cast(
            "torch.Tensor",
            sum(
                nn.functional.cross_entropy(logits[a], labels[index, k])
                for k, a in enumerate(ATTRIBUTES)
            ),
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step, loss.item())
    return model.eval()


def save_classifier(model: ToyClassifier, folder: Path) -> Path:
    """Write fp32 safetensors weights and the class lists to ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME))
    (folder / CONFIG_NAME).write_text(
        json.dumps({"classes": model.classes, "input_size": 32}, indent=2) + "\n",
        encoding="utf-8",
    )
    return folder


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file (recorded in detector profiles)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_toy_classifier(folder: Path | None = None) -> ToyClassifier:
    """Load the shipped toy classifier (or one saved with :func:`save_classifier`), in eval mode."""
    from safetensors.torch import load_file

    folder = (
        Path(folder)
        if folder is not None
        else fixtures_dir() / "toyworld" / "classifier"
    )
    config: dict[str, Any] = json.loads(
        (folder / CONFIG_NAME).read_text(encoding="utf-8")
    )
    model = ToyClassifier(config["classes"])
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
    return model.eval()


def accuracy(
    model: ToyClassifier, images: torch.Tensor, labels: torch.Tensor
) -> dict[str, tuple[int, int]]:
    """(correct, total) per attribute on a labelled batch."""
    probs = model.predict(images)
    return {
        a: (int((probs[a].argmax(-1) == labels[:, k]).sum()), len(labels))
        for k, a in enumerate(ATTRIBUTES)
    }


def labels_tensor(labels: np.ndarray) -> torch.Tensor:
    """int64 tensor from a dataset's label array."""
    return torch.from_numpy(np.asarray(labels, dtype=np.int64))
