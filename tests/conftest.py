"""Shared test fixtures: tiny real diffusers pipelines saved once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers.tiny_sd import save_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real Stable Diffusion pipeline saved as a diffusers folder (safetensors)."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")


@pytest.fixture
def audit_session(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An isolated active igmu-audit session (cache and evidence under tmp_path)."""
    from igmu_audit.config import load_config
    from igmu_audit.session import AuditSession, activate, current_session

    previous = current_session()
    session = AuditSession(
        load_config(tmp_path, cli={"seeds": "0-1", "steps": 2, "devices": "cpu"})
    )
    activate(session)
    yield session
    activate(previous)


@pytest.fixture(scope="session")
def tiny_model(tiny_sd_dir: Path):  # type: ignore[no-untyped-def]
    """The tiny pipeline loaded through the public loading code."""
    from igmu_audit import load_pipeline

    return load_pipeline(tiny_sd_dir)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Skip ``gpu`` tests without CUDA and ``slow`` tests unless IGMU_RUN_SLOW=1 (diffusers' @slow idiom)."""
    import os

    run_slow = os.environ.get("IGMU_RUN_SLOW") == "1"
    has_gpu = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(
                pytest.mark.skip(reason="slow test: set IGMU_RUN_SLOW=1 to run it")
            )
        if "gpu" in item.keywords:
            if has_gpu is None:
                import torch

                has_gpu = torch.cuda.is_available()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
