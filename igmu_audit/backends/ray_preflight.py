"""Session-start checks and planning for the Ray backend: one clear error, not a hang.

``ray.init`` on an address nobody listens on retries for minutes, so the address is
first probed with a plain TCP connect (seconds); only a listening cluster is joined.
Everything here runs in the controller before any test, and the connection it makes
is the one the backend reuses in the same process.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any

__all__ = ["connect", "planned_actors", "planned_block", "ray_problems"]

#: seconds a TCP probe of the cluster's address may take
PROBE_TIMEOUT_S = 5.0
#: the namespace igmu-audit's actors live in (so they never clash with the user's)
NAMESPACE = "igmu_audit"
_HOST_PORT = re.compile(r"^(?:ray://)?\[?([^\]\s/]+?)\]?:(\d{1,5})/?$")


def _address(config: Any) -> str | None:
    return getattr(config, "ray_address", None) or os.environ.get("RAY_ADDRESS") or None


def _where(config: Any) -> str:
    source = getattr(config, "source_of", lambda _: "default")("ray_address")
    return "RAY_ADDRESS" if source == "default" else f"`ray_address:` (set by {source})"


def connect(address: str | None) -> str:
    """Join (or, without an address, start) the Ray cluster once per process.

    Returns:
        The cluster's GCS address, as the record's ``run.backend.address``.
    """
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False}
        if address is None:
            kwargs["include_dashboard"] = False  # a fresh local instance: no web UI
        ray.init(address=address, **kwargs)
    gcs = str(ray.get_runtime_context().gcs_address)
    if address is None:
        # xdist workers start after this (the controller's preflight): they join this
        # instance instead of each starting their own.
        os.environ["RAY_ADDRESS"] = gcs
    return gcs


def _unreachable(address: str) -> str | None:
    """Why ``host:port`` does not accept connections, or ``None`` when it does."""
    match = _HOST_PORT.match(address.strip())
    if match is None:
        return None  # "auto", "local" and other forms: ray.init decides
    host, port = match[1], int(match[2])
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def ray_problems(config: Any) -> list[str]:
    """Problems with ``backend: ray``: the ``ray`` package, the address, joining the cluster."""
    from igmu_audit._imports import is_available

    source = getattr(config, "source_of", lambda _: "default")("backend")
    if not is_available("ray"):
        return [
            f"`backend: ray` (set by {source}) requires the 'ray' package: "
            "pip install 'igmu-audit[ray]', or use --igmu-backend local"
        ]
    address = _address(config)
    fix = (
        "start the cluster (`ray start --head`), give the head's address (host:6379, or "
        "ray://host:10001 for Ray Client), or run with --igmu-backend local"
    )
    if address is not None:
        why = _unreachable(address)
        if why is not None:
            return [
                f"{_where(config)} {address!r}: no Ray cluster reachable ({why}); {fix}"
            ]
    try:
        connect(address)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        shown = address if address is not None else "a local Ray instance"
        return [
            f"{_where(config)} {shown!r}: cannot join ({type(exc).__name__}: {exc}); {fix}"
        ]
    return []


def planned_actors(config: Any, resources: dict[str, float], workers: int) -> int:
    """Actors per pytest process: ``ray_actors``, else the cluster's slots shared by workers."""
    wanted = getattr(config, "ray_actors", None)
    if wanted is not None:
        return int(wanted)
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return max(1, gpus // max(1, workers))
    cpus = int(resources.get("CPU", 1)) // max(
        1, int(getattr(config, "ray_actor_cpus", 1))
    )
    return max(1, cpus // max(1, workers))


def planned_block(config: Any) -> dict[str, Any]:
    """The ``run.backend`` block of a process that did not generate (the xdist controller)."""
    block: dict[str, Any] = {
        "name": "ray",
        "address": _address(config),
        "actors": getattr(config, "ray_actors", None),
        "devices": None,
        "planned": True,
    }
    try:
        import ray
    except ImportError:
        return block
    if ray.is_initialized():
        from igmu_audit.devices import worker_count

        resources = dict(ray.cluster_resources())
        workers = worker_count()
        per_worker = planned_actors(config, resources, workers)
        kind = "cuda" if resources.get("GPU", 0) else "cpu"
        block.update(
            address=str(ray.get_runtime_context().gcs_address),
            actors=per_worker * max(1, workers),
            devices=[kind] * (per_worker * max(1, workers)),
        )
    return block
