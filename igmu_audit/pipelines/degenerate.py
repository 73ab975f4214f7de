"""Degenerate generations (NaN / inf values, constant images) are errors, never images.

A broken model (NaN weights, an fp16 overflow, a safety checker that blacks images
out) draws nothing, and a detector finds no concept in nothing: scored, such images
make an erasure audit PASS. So every raw float image is checked *before* the uint8
cast (which turns NaN into 0 and hides it), and every cache hit is checked again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from igmu_audit.errors import GenerationError

#: An image whose every channel has a spatial standard deviation below this (in [0, 1]
#: pixel units) is "constant": half a uint8 step, so after quantisation (nearly) every
#: pixel has the same colour. Real generations, even of an empty background, carry
#: noise and shading far above it; black safety-checker images and dead decoders have 0.
CONSTANT_STD = 0.5 / 255
_CONSTANT_TEXT = "0.5/255"


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.float64) / 255.0
    return array.astype(np.float64, copy=False)


def _count(n: int, total: int, what: str) -> str:
    share = "all" if n == total else f"{n} of"
    return f"{share} {total} pixel values are {what}"


def constant_reason(image: np.ndarray) -> str | None:
    """Why ``image`` (H, W, C; float in [0, 1] or uint8) is constant, or ``None``."""
    array = _as_unit_float(image)
    if array.ndim != 3 or array.shape[0] * array.shape[1] == 0:
        return f"not an (H, W, C) image: shape {tuple(array.shape)}"
    std = float(array.reshape(-1, array.shape[-1]).std(axis=0).max())
    if std >= CONSTANT_STD:
        return None
    colour = tuple(int(v) for v in np.rint(array[0, 0].clip(0.0, 1.0) * 255))
    return (
        f"constant image: every pixel is {colour} "
        f"(pixel std {std * 255:.3f}/255 < {_CONSTANT_TEXT} in every channel)"
    )


def degenerate_reason(image: np.ndarray) -> str | None:
    """What is degenerate about one raw generated image, or ``None`` when it is usable.

    Args:
        image: (H, W, C), float in [0, 1] as the pipeline returned it (or uint8).

    Returns:
        e.g. ``"all 3072 pixel values are NaN"`` or ``"constant image: ..."``.
    """
    array = np.asarray(image)
    if np.issubdtype(array.dtype, np.floating):
        nan = int(np.isnan(array).sum())
        if nan:
            return _count(nan, array.size, "NaN")
        inf = int(np.isinf(array).sum())
        if inf:
            return _count(inf, array.size, "infinite")
    return constant_reason(array)


def model_name(model: Any, fingerprint: str) -> str:
    """``'label' (sha256:0123abcd..)`` for messages; the fingerprint alone without a label."""
    label = getattr(model, "label", None)
    short = f"{fingerprint[:19]}.." if len(fingerprint) > 19 else fingerprint
    return f"{label!r} ({short})" if label else short


def _hint(model: Any, flagged_by_safety_checker: bool) -> str:
    if flagged_by_safety_checker:
        return (
            "the pipeline's safety checker replaced this image with a black one: load the "
            "pipeline with safety_checker=None (an audit must see what the model draws)"
        )
    overrides = [
        f"{o.component} <- {o.file}" for o in getattr(model, "overrides", ()) or ()
    ]
    where = f" ({'; '.join(overrides)})" if overrides else ""
    return (
        f"check the model's weights{where} for NaN/inf values and try torch_dtype "
        "'float32' (fp16 overflows give NaN); a safety checker also draws black images: "
        "load the pipeline with safety_checker=None"
    )


def generation_error(
    reason: str,
    *,
    model: Any,
    fingerprint: str,
    prompt: str,
    seed: int,
    flagged_by_safety_checker: bool = False,
    also: Sequence[tuple[str, int]] = (),
) -> GenerationError:
    """The ``GenerationError`` for one degenerate image (``also``: others in its batch)."""
    more = ""
    if also:
        shown = ", ".join(f"({p!r}, seed {s})" for p, s in also[:3])
        extra = f" (+{len(also) - 3} more)" if len(also) > 3 else ""
        more = f"\n  also degenerate in the same batch: {shown}{extra}"
    return GenerationError(
        f"degenerate generation from model {model_name(model, fingerprint)}: prompt "
        f"{prompt!r}, seed {seed}: {reason}. Nothing was cached or scored.{more}\n"
        f"  fix: {_hint(model, flagged_by_safety_checker)}"
    )


class LatentWatch:
    """A ``callback_on_step_end`` that notes, per image, the first step with NaN/inf latents.

    The note stays on the latents' device until :meth:`problems` reads it once, so
    watching costs no host sync per step.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.first_bad: Any = None  # (n,) int tensor: 1-based step, 0 while finite

    def __call__(
        self, _pipe: Any, step: int, _t: Any, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        import torch

        latents = kwargs.get("latents")
        if isinstance(latents, torch.Tensor) and latents.shape[0] == self.n:
            bad = ~torch.isfinite(latents.reshape(self.n, -1)).all(dim=1)
            if self.first_bad is None:
                self.first_bad = torch.zeros(
                    self.n, dtype=torch.long, device=latents.device
                )
            fresh = bad & (self.first_bad == 0)
            self.first_bad = torch.where(fresh, step + 1, self.first_bad)
        return {}

    def problems(self) -> dict[int, str]:
        """Image index -> what went wrong in its latents."""
        if self.first_bad is None:
            return {}
        return {
            i: f"latents became NaN/inf at denoising step {step}"
            for i, step in enumerate(self.first_bad.tolist())
            if step
        }


def watch_kwargs(pipe: Any, watch: LatentWatch) -> dict[str, Any]:
    """``{"callback_on_step_end": watch}`` when the pipeline names that hook, else ``{}``."""
    # Only pipelines that name the hook get it (directly, or through a wrapper's
    # **kwargs that forwards to a base class naming it).
    from igmu_audit.pipelines.families import call_parameters

    names = call_parameters(pipe)
    return {"callback_on_step_end": watch} if "callback_on_step_end" in names else {}
