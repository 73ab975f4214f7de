"""igmu-audit's pytest fixtures, pulled in by ``pytest_plugins`` in ``plugin.py``.

All are session-scoped (per xdist worker) and lazy: a model loads the first time a test
asks for it, on this worker's device. A test that asks for something the user did not
configure is skipped with the option that would configure it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from igmu_audit.config import AuditConfig
from igmu_audit.load_errors import load_once
from igmu_audit.session import AuditSession, Role
from igmu_audit.stash import audit_session_key

if TYPE_CHECKING:
    from igmu_audit.detectors.base import Detector
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.pipelines.loading import LoadedPipeline
    from igmu_audit.prompts.splits import DataIGM, TaskPrompts


def _session(request: pytest.FixtureRequest) -> AuditSession:
    return request.config.stash[audit_session_key]


def _model(request: pytest.FixtureRequest, role: Role, what: str) -> LoadedPipeline:
    """Load ``role`` once per worker, quietly; a failure is reported once per session."""
    from igmu_audit.reporting.progress import quiet_libraries

    session = _session(request)
    if not session.is_configured(role):
        pytest.skip(session.missing_message(role))

    def load() -> LoadedPipeline:
        quiet_libraries()
        return session.model(role)

    return load_once(request, what, load)


@pytest.fixture(scope="session")
def igmu_config(request: pytest.FixtureRequest) -> AuditConfig:
    """The merged igmu-audit configuration; ``igmu_config.sources`` says where each value came from."""
    return _session(request).config


@pytest.fixture(scope="session")
def igmu_cache(request: pytest.FixtureRequest) -> ImageCache | None:
    """The content-addressed generation cache shared by all workers (``None`` with --igmu-no-cache)."""
    return _session(request).cache


@pytest.fixture(scope="session")
def igmu_generation_settings(request: pytest.FixtureRequest) -> GenerationSettings:
    """Generation settings (steps, guidance, resolution, batch size) from the config."""
    return _session(request).settings


@pytest.fixture(scope="session")
def igmu_device(request: pytest.FixtureRequest) -> str:
    """This worker's device, e.g. ``cpu`` or ``cuda:1``."""
    return _session(request).device


@pytest.fixture(scope="session")
def unlearned_pipeline(request: pytest.FixtureRequest) -> LoadedPipeline:
    """The unlearned model (``--igmu-model``), loaded once per worker; skips when unset."""
    return _model(request, "model", "unlearned model (`model:` / --igmu-model)")


@pytest.fixture(scope="session")
def original_pipeline(request: pytest.FixtureRequest) -> LoadedPipeline:
    """The original model (``--igmu-original``), loaded once per worker; skips when unset."""
    return _model(request, "original", "original model (`original:` / --igmu-original)")


@pytest.fixture(scope="session")
def dataigm(request: pytest.FixtureRequest) -> DataIGM:
    """The DataIGM prompt split (configured with ``prompts:``, else the one shipped)."""
    return _session(request).dataigm


def _task(request: pytest.FixtureRequest, dataigm: DataIGM) -> TaskPrompts:
    task = _session(request).config.dataigm_task
    if task is None:
        pytest.skip(
            "igmu-audit: no DataIGM task configured; set `dataigm_task:` in the audit spec"
        )
    return dataigm[task]


@pytest.fixture(scope="session")
def forget_prompts(request: pytest.FixtureRequest, dataigm: DataIGM) -> list[str]:
    """Forget prompts of the configured ``dataigm_task``; skips when no task is set."""
    return _task(request, dataigm).forget_prompts()


@pytest.fixture(scope="session")
def retain_prompts(request: pytest.FixtureRequest, dataigm: DataIGM) -> list[str]:
    """Retain prompts of the configured ``dataigm_task``; skips when no task is set."""
    return _task(request, dataigm).retain_prompts()


@pytest.fixture(scope="session")
def retain_by_category(
    request: pytest.FixtureRequest, dataigm: DataIGM
) -> dict[str, list[str]]:
    """Retain prompts of ``dataigm_task`` grouped by category (the class each should show)."""
    return {c: list(p) for c, p in _task(request, dataigm).retain.items()}


@pytest.fixture(scope="session")
def igmu_detector(request: pytest.FixtureRequest) -> Detector:
    """The configured detector (``detector:``), built for the configured ``concept``; skips when unset."""
    from igmu_audit.scoring import resolve_detector

    session = _session(request)
    if session.config.detector is None:
        pytest.skip(
            "igmu-audit: no detector configured; set --igmu-detector or `detector:` in the audit spec"
        )

    def build() -> Detector:
        return resolve_detector(None, session, session.config.concept)

    return load_once(request, f"detector {session.config.detector!r}", build)


@pytest.fixture(scope="session")
def igmu_clip(request: pytest.FixtureRequest) -> Any:
    """The configured CLIP model (``clip:``) for CLIP scores and CSDR; skips when unset."""
    from igmu_audit.clip_models import load_clip

    session = _session(request)
    if session.config.clip is None:
        pytest.skip(
            "igmu-audit: no CLIP model configured; set `clip:` (toyworld or {model_name, checkpoint})"
        )

    clip = session.config.clip

    def build() -> Any:
        return load_clip(clip, allow_pickle=session.config.allow_pickle)

    return load_once(request, "CLIP model (`clip:`)", build)
