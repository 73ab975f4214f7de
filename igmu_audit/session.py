"""Per-process audit state: the merged config, this worker's device, the cache, loaded models.

One ``AuditSession`` lives in ``pytest.Config.stash`` for a pytest run (one per xdist
worker); outside pytest, assertions create a default one on demand. Models load lazily
and once per process, keyed by their spec.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from igmu_audit.config import AuditConfig, load_config

if TYPE_CHECKING:
    from igmu_audit.backends import GenerationBackend
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.pipelines.loading import LoadedPipeline
    from igmu_audit.prompts.splits import DataIGM

Role = Literal["model", "original"]
_ROLE_OPTION = {"model": "--igmu-model", "original": "--igmu-original"}

_current: AuditSession | None = None


class AuditSession:
    """The state one process audits with.

    Args:
        config: the merged configuration.
        worker_id: the xdist worker id (``gw0``...), or ``None`` outside xdist.
    """

    def __init__(self, config: AuditConfig, *, worker_id: str | None = None) -> None:
        self.config = config
        self.worker_id = worker_id
        self._models: dict[str, LoadedPipeline] = {}

    @cached_property
    def device(self) -> str:
        """This process's device (one per xdist worker, round-robin over ``devices``)."""
        from igmu_audit.devices import limit_cpu_threads, resolve_device

        limit_cpu_threads()
        return resolve_device(self.config.devices, self.worker_id)

    @cached_property
    def cache(self) -> ImageCache | None:
        """The shared generation cache, or ``None`` with ``--igmu-no-cache``."""
        from igmu_audit.pipelines.cache import ImageCache

        return ImageCache(self.config.cache_dir) if self.config.use_cache else None

    @cached_property
    def backend(self) -> GenerationBackend:
        """Where cache misses are generated (``backend``: local or ray; ``igmu_audit.backends``)."""
        from igmu_audit.backends import make_backend

        return make_backend(self.config)

    @cached_property
    def settings(self) -> GenerationSettings:
        """Generation settings from the config."""
        from igmu_audit.pipelines.generation import GenerationSettings

        return GenerationSettings.from_config(self.config)

    @cached_property
    def dataigm(self) -> DataIGM:
        """The configured DataIGM split, or the one shipped with igmu-audit."""
        from igmu_audit.prompts.splits import load_dataigm

        prompts = self.config.prompts or {}
        return load_dataigm(
            prompts.get("root"),
            forget=prompts.get("forget"),
            retain=prompts.get("retain"),
        )

    def is_configured(self, role: Role) -> bool:
        """Whether the user configured the ``model`` or ``original`` role."""
        return getattr(self.config, role) is not None

    def missing_message(self, role: Role) -> str:
        """Why a test asking for ``role`` is skipped, and which option sets it."""
        what = "unlearned model" if role == "model" else "original model"
        return (
            f"igmu-audit: no {what} configured; set {_ROLE_OPTION[role]} PATH, "
            f"`{role}:` in an audit spec (--igmu-spec), or `{role}` in [tool.igmu_audit]"
        )

    def model(self, role: Role) -> LoadedPipeline:
        """Load (once per process) and return the model configured for ``role``."""
        from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

        raw = getattr(self.config, role)
        if raw is None:
            raise LookupError(self.missing_message(role))
        spec_dict: dict[str, Any] = {
            "allow_pickle": self.config.allow_pickle,
            "torch_dtype": self.config.dtype,
            **raw,
        }
        memo = json.dumps(spec_dict, sort_keys=True, default=str)
        if memo not in self._models:
            self._models[memo] = load_pipeline(
                ModelSpec.from_dict(spec_dict), device=self.device
            )
        return self._models[memo]

    @property
    def evidence_root(self) -> Path:
        """Folder under which each test's evidence is written."""
        return Path(self.config.evidence_dir)


def current_session() -> AuditSession:
    """The active session: the pytest run's, or a default one built from the cwd."""
    global _current
    if _current is None:
        _current = AuditSession(load_config(Path.cwd()))
    return _current


def activate(session: AuditSession | None) -> AuditSession | None:
    """Make ``session`` the active one and return the one it replaces (for nested runs)."""
    global _current
    previous, _current = _current, session
    return previous
