"""``LoadedPipeline``: a loaded diffusers pipeline plus what identifies it in records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from igmu_audit.pipelines.overrides import OverrideReport
    from igmu_audit.pipelines.spec import ModelSpec


class LoadedPipeline:
    """A loaded model: the diffusers pipeline plus what identifies it.

    Attributes:
        pipeline: the diffusers pipeline, on ``device``, in eval mode.
        spec: the ``ModelSpec`` it was loaded from.
        fingerprint: ``"sha256:<hex>"`` over weight files, overrides, scheduler config.
        label: short display name (``spec.label``).
        component_fingerprints: per file, ``{"unet/diffusion_pytorch_model.safetensors":
            "sha256:..", "override:unet": "sha256:..", ...}``.
        device: the torch device string the pipeline is on.
        torch_dtype: the dtype name the weights were loaded in.
        overrides: one ``OverrideReport`` per override file, in the order applied.
    """

    __slots__ = (
        "component_fingerprints", "device", "fingerprint", "label", "overrides",
        "pipeline", "spec", "torch_dtype",
    )  # fmt: skip

    def __init__(
        self,
        pipeline: Any,
        spec: ModelSpec,
        fingerprint: str,
        component_fingerprints: dict[str, str],
        device: str,
        torch_dtype: str,
        overrides: tuple[OverrideReport, ...] = (),
    ) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.fingerprint = fingerprint
        self.label = spec.label or spec.path
        self.component_fingerprints = component_fingerprints
        self.device = device
        self.torch_dtype = torch_dtype
        self.overrides = overrides

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary for verdict records."""
        return {
            "label": self.label,
            "fingerprint": self.fingerprint,
            "spec": self.spec.to_dict(),
            "device": self.device,
            "torch_dtype": self.torch_dtype,
            "component_fingerprints": dict(self.component_fingerprints),
            "overrides": [o.to_dict() for o in self.overrides],
        }

    def __repr__(self) -> str:
        return f"LoadedPipeline({self.label!r}, {self.fingerprint[:19]}.., device={self.device!r})"
