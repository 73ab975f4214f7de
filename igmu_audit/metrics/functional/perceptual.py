"""Paired perceptual distance: image i of one model against image i of the other.

LPIPS needs backbone weights that cannot be fetched here, so the always-available measure
is named for what it is: the cosine distance between two images' features in a named
feature space. LPIPS is used when the ``lpips`` package and its weights are on disk. The
name of what was computed travels with every number.

Pairs are matched by the caller's keys (prompt index, seed), never by file order: IGMU's
reference code paired two unsorted directory listings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from igmu_audit._imports import requires
from igmu_audit.metrics.features import FeatureExtractor, check_images
from igmu_audit.metrics.functional._checks import check_features, check_same_length

PairDistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# torchvision backbone weights that lpips.LPIPS(net=...) loads from the torch hub cache.
_LPIPS_BACKBONES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


def cosine_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """Row-wise ``1 - cos(a_i, b_i)`` in float64, ``(N,)`` values in ``[0, 2]``.

    Example:
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> cosine_distance(a, torch.tensor([[2.0, 0.0], [0.0, 1.0]])).tolist()
        [0.0, 1.0]
    """
    check_features(features_a, "features_a")
    check_features(features_b, "features_b")
    check_same_length(features_a, features_b, "features_a", "features_b")
    a = features_a.detach().to(torch.float64)
    b = features_b.detach().to(a.device, torch.float64)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)
    return (1.0 - cos).clamp(0.0, 2.0)  # round-off can push cos a hair past ±1


def feature_distance(
    extractor: FeatureExtractor,
) -> tuple[str, PairDistanceFn]:
    """``(name, fn)``: cosine distance of paired images in ``extractor``'s feature space.

    Example:
        >>> from igmu_audit.metrics.features import PixelFeatures
        >>> name, fn = feature_distance(PixelFeatures(size=4))
        >>> name
        'cosine distance in pixels-4x4 (48-d, area-resized)'
        >>> same = torch.full((2, 3, 8, 8), 0.5)
        >>> bool(fn(same, same).abs().max() < 1e-12)
        True
    """

    def fn(images_a: torch.Tensor, images_b: torch.Tensor) -> torch.Tensor:
        return cosine_distance(extractor(images_a), extractor(images_b))

    return f"cosine distance in {extractor.name}", fn


def lpips_distance(net: str = "alex") -> tuple[str, PairDistanceFn]:
    """``(name, fn)``: LPIPS (Zhang et al., 2018) with the ``lpips`` package, if usable.

    Raises:
        MissingDependencyError: ``lpips`` is not installed.
        FileNotFoundError: the torchvision backbone weights are not in the torch hub
            cache (they cannot be downloaded offline); names the file to place there.
        ValueError: unknown ``net``.
    """
    if net not in _LPIPS_BACKBONES:
        raise ValueError(
            f"`net` must be one of {sorted(_LPIPS_BACKBONES)}, got {net!r}"
        )
    requires("lpips", feature="LPIPS")
    weights = Path(torch.hub.get_dir()) / "checkpoints" / _LPIPS_BACKBONES[net]
    if not weights.is_file():
        raise FileNotFoundError(
            f"LPIPS(net={net!r}) needs the torchvision backbone weights at {weights}; "
            "copy them there, or use feature_distance(extractor) instead"
        )
    import lpips

    model = lpips.LPIPS(net=net, verbose=False).eval()

    @torch.no_grad()
    def fn(images_a: torch.Tensor, images_b: torch.Tensor) -> torch.Tensor:
        dev = next(model.parameters()).device
        out = model(images_a.to(dev) * 2 - 1, images_b.to(dev) * 2 - 1)
        distances: torch.Tensor = out.flatten().to(torch.float64).cpu()
        return distances

    return f"LPIPS ({net}, lpips {getattr(lpips, '__version__', '?')})", fn


def perceptual_distances(
    images_a: torch.Tensor, images_b: torch.Tensor, distance: PairDistanceFn
) -> torch.Tensor:
    """Per-pair distances ``distance(a_i, b_i)`` for two aligned image batches.

    Args:
        images_a, images_b: float ``(N, 3, H, W)`` in [0, 1], row i of each from the same
            prompt and seed (align them by key first; never by directory order).
        distance: the ``fn`` from ``feature_distance`` or ``lpips_distance``.

    Returns:
        ``(N,)`` float64 distances (lower = more alike).
    """
    check_images(images_a, "images_a")
    check_images(images_b, "images_b")
    check_same_length(images_a, images_b, "images_a", "images_b")
    out = distance(images_a, images_b).detach().to("cpu", torch.float64).flatten()
    if out.numel() != images_a.shape[0]:
        raise ValueError(
            f"the distance function returned {out.numel()} values for {images_a.shape[0]} pairs"
        )
    return out
