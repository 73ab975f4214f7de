"""Worker -> device assignment: round-robin, outer CUDA_VISIBLE_DEVICES respected, CPU untouched."""

from __future__ import annotations

import pytest

from igmu_audit.devices import pin_worker_gpu, resolve_device, worker_index


@pytest.mark.parametrize(
    ("worker", "index"), [("gw0", 0), ("gw3", 3), (None, 0), ("master", 0)]
)
def test_worker_index(
    worker: str | None, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert worker_index(worker) == index


def test_explicit_gpus_round_robin_through_outer_visibility() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "4,5,6"}
    assert pin_worker_gpu(("cuda:0", "cuda:2"), "gw1", env) == "6"
    assert env["CUDA_VISIBLE_DEVICES"] == "6"
    env = {"CUDA_VISIBLE_DEVICES": "4,5,6"}
    assert pin_worker_gpu(("cuda:0", "cuda:2"), "gw2", env) == "4"


def test_auto_uses_every_visible_gpu() -> None:
    for worker, physical in [("gw0", "2"), ("gw1", "3"), ("gw2", "2")]:
        env = {"CUDA_VISIBLE_DEVICES": "2,3"}
        assert pin_worker_gpu(("auto",), worker, env) == physical


def test_cpu_and_non_workers_are_left_alone() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "1"}
    assert pin_worker_gpu(("cpu",), "gw0", env) is None
    assert pin_worker_gpu(("cuda:0",), None, env) is None
    assert env == {"CUDA_VISIBLE_DEVICES": "1"}
    assert pin_worker_gpu(("auto",), "gw0", {"CUDA_VISIBLE_DEVICES": ""}) is None


def test_explicit_device_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IGMU_PHYSICAL_GPU", raising=False)
    assert resolve_device(("cpu",), "gw1") == "cpu"
    assert resolve_device(("cuda:1", "cuda:3"), "gw1") == "cuda:3"
    monkeypatch.setenv("IGMU_PHYSICAL_GPU", "3")
    assert resolve_device(("cuda:1", "cuda:3"), "gw1") == "cuda:0"
