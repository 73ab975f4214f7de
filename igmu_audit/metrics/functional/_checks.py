"""Argument checks shared by the metric functions: name the argument, show the value."""

from __future__ import annotations

import math

import torch


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` if it lies strictly between 0 and 1, else raise ``ValueError``."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise ValueError(
            f"`confidence` must be a float in (0, 1), got {confidence!r} "
            f"(type={type(confidence).__name__})"
        )
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(
            f"`confidence` must lie strictly between 0 and 1, got {confidence!r}"
        )
    return float(confidence)


def check_count(value: int, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an int ``>= minimum`` (bools refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}, got {value!r} "
            f"(type={type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return value


def check_rate(value: float, name: str) -> float:
    """Return ``value`` if it is a finite number in [0, 1], else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a number in [0, 1], got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"`{name}` must be a number in [0, 1], got {value!r}")
    return float(value)


def check_vector(x: torch.Tensor, name: str, *, min_len: int = 1) -> torch.Tensor:
    """Check a finite 1-d tensor with at least ``min_len`` entries."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"`{name}` must be 1-d (N,), got shape {tuple(x.shape)}")
    if x.numel() < min_len:
        raise ValueError(f"`{name}` needs at least {min_len} entries, got {x.numel()}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` contains NaN or inf values")
    return x


def check_features(x: torch.Tensor, name: str, *, min_rows: int = 1) -> torch.Tensor:
    """Check a finite 2-d float tensor of features ``(N, D)`` with ``N >= min_rows``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"`{name}` must be a torch.Tensor (N, D), got {type(x).__name__}"
        )
    if x.ndim != 2:
        raise ValueError(
            f"`{name}` must be 2-d (N, D) features, got shape {tuple(x.shape)}"
        )
    if x.shape[0] < min_rows:
        raise ValueError(f"`{name}` needs at least {min_rows} rows, got {x.shape[0]}")
    if not x.is_floating_point():
        raise ValueError(f"`{name}` must be a float tensor, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` contains NaN or inf values")
    return x


def check_same_length(
    a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str
) -> None:
    """Paired inputs must have the same number of rows."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` are paired row by row and must have the same "
            f"length, got {a.shape[0]} and {b.shape[0]}"
        )


def check_method(method: str, name: str, accepted: tuple[str, ...]) -> str:
    """Return ``method`` if it is one of ``accepted``, else raise listing them."""
    if method not in accepted:
        raise ValueError(f"`{name}` must be one of {list(accepted)}, got {method!r}")
    return method
