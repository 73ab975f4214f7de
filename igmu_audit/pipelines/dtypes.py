"""The one home of the dtype rules: which names a user may write and what each means.

The configuration's ``dtype``, a model spec's ``torch_dtype`` and ``load_pipeline``'s
``torch_dtype=`` argument all parse through here, so ``"fp16"`` means the same in a
pyproject, a YAML spec and Python, and the record and the image cache only ever see
the canonical name. No torch import at module level: ``config/`` reads this too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["ALIASES", "CANONICAL", "DEFAULT", "canonical_dtype", "to_torch_dtype"]

#: The dtypes a model may be loaded and run in, in the order messages list them.
CANONICAL = ("float32", "float16", "bfloat16")
#: The dtype when none is asked for: float32 (fp16 overflows draw NaN images).
DEFAULT = "float32"
#: Accepted spellings (case-insensitive, an optional ``torch.`` prefix) -> canonical name.
ALIASES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}  # fmt: skip
#: What a message says is accepted.
EXPECTED = "one of " + ", ".join(CANONICAL) + " (or fp32, fp16, half, bf16)"


def _lookup(value: object) -> str | None:
    # A string by its spelling; a torch.dtype by its name (torch is not imported here).
    if isinstance(value, str):
        return ALIASES.get(value.strip().lower().removeprefix("torch."))
    if type(value).__name__ == "dtype" and type(value).__module__ == "torch":
        return ALIASES.get(str(value).removeprefix("torch."))
    return None


def canonical_dtype(value: object, *, field: str = "torch_dtype") -> str:
    """The canonical name (``"float16"``...) of a dtype written any accepted way.

    Args:
        value: a name (``"fp16"``, ``"torch.bfloat16"``...), a ``torch.dtype``, or
            ``None`` for the default (``"float32"``).
        field: the setting being parsed, for the message.

    Raises:
        ConfigError: anything else (``"float64"``, ``"int8"``, ``torch.float64``, 16).
    """
    if value is None:
        return DEFAULT
    name = _lookup(value)
    if name is None:
        raise ConfigError(f"{field}: expected {EXPECTED}, got {value!r}")
    return name


def to_torch_dtype(value: object, *, field: str = "torch_dtype") -> torch.dtype:
    """The ``torch.dtype`` for ``value`` (see :func:`canonical_dtype`)."""
    import torch

    dtype: torch.dtype = getattr(torch, canonical_dtype(value, field=field))
    return dtype
