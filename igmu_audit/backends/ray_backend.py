"""The ``ray`` backend: generation on Ray actors, pytest still the judge.

Each pytest process (each xdist worker) starts its own pool of ``GenerationActor``s,
one per GPU (``num_gpus=1``) or per ``ray_actor_cpus`` CPUs, and keeps up to
``IN_FLIGHT`` batches queued on each (the least loaded actor gets the next one). An
actor holds one loaded pipeline per model fingerprint and draws a batch with the very
loop the local backend uses (``local.run_batches``); the driver caches what comes back.

Why the results stay identical to the local backend: an actor reloads the model from
its picklable ``ModelSpec`` and refuses to generate (``ConfigError``) unless its
fingerprint and every image's cache-key fields (scheduler, dtype, resolution, family)
equal the driver's, so an image is drawn from exactly what its key says.

Faults: actors are created with Ray's ``max_restarts`` / ``max_task_retries``, so a
killed actor restarts and its queued batches run again; nothing is cached until the
driver has a whole checked batch, so a retried batch is still cached once. An actor
lost for good is a ``GenerationError`` naming it; the images of that batch are neither
cached nor scored.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from igmu_audit.backends import GeneratedBatch
from igmu_audit.errors import ConfigError, GenerationError, IgmuAuditError

if TYPE_CHECKING:
    import numpy as np

    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.pipelines.loaded import LoadedPipeline

__all__ = ["GenerationActor", "RayBackend"]

#: Ray restarts a killed actor this many times (then the run fails, naming it)
MAX_RESTARTS = 4
#: and re-runs each of its unfinished batches this many times
MAX_TASK_RETRIES = 4
#: batches queued per actor: one running, one ready to start at once
IN_FLIGHT = 2
#: seconds every actor of the pool may take to start (import torch, reserve a device)
START_TIMEOUT_S = 600.0


def _mismatch(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> str:
    keys = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
    return ", ".join(
        f"{k}: actor {mine.get(k)!r} != driver {theirs.get(k)!r}" for k in keys
    )


class GenerationActor:
    """One Ray actor: loaded pipelines by fingerprint, generating the batches it is sent.

    A plain class (``ray.remote`` wraps it when the pool starts), so this module
    imports without ray and the actor can be tested as an object.
    """

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self._models: dict[str, LoadedPipeline] = {}
        self.device = "cpu"
        try:
            import ray

            if ray.is_initialized() and ray.get_gpu_ids():
                self.device = "cuda"  # Ray narrowed CUDA_VISIBLE_DEVICES to this GPU
            node = ray.util.get_node_ip_address() if ray.is_initialized() else "local"
        except ImportError:
            node = "local"
        self.where = f"{node}/{self.device}"

    def info(self) -> dict[str, Any]:
        """Where this actor generates: node, device and process id."""
        return {"device": self.where, "pid": os.getpid()}

    def _model(self, spec: dict[str, Any], torch_dtype: str, fingerprint: str) -> Any:
        from igmu_audit.pipelines.loading import load_pipeline
        from igmu_audit.pipelines.spec import ModelSpec

        memo = json.dumps([spec, torch_dtype], sort_keys=True, default=str)
        if memo not in self._models:
            loaded = load_pipeline(
                ModelSpec.from_dict(spec), device=self.device, torch_dtype=torch_dtype
            )
            if loaded.fingerprint != fingerprint:
                raise ConfigError(
                    f"Ray actor {self.where}: model {loaded.label!r} loads with fingerprint "
                    f"{loaded.fingerprint[:23]}.. but the pytest process has "
                    f"{fingerprint[:23]}..: the model files differ between the cluster and "
                    "the pytest machine; put the model on a filesystem every node shares "
                    "(or the same hub snapshot), or run with --igmu-backend local"
                )
            self._models[memo] = loaded
        return self._models[memo]

    def generate(
        self,
        spec: dict[str, Any],
        torch_dtype: str,
        fingerprint: str,
        fields: list[dict[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> tuple[np.ndarray, str, list[dict[str, Any]]]:
        """Pixels of one batch, this actor's device, and the OOM back-offs it caused."""
        import numpy as np

        from igmu_audit.backends.local import prepare, run_batches
        from igmu_audit.pipelines import memory
        from igmu_audit.pipelines.generation import image_fields

        model = self._model(spec, torch_dtype, fingerprint)
        for wanted in fields:
            mine = image_fields(model, wanted["prompt"], wanted["seed"], settings)
            if mine != wanted:
                raise ConfigError(
                    f"Ray actor {self.where}: the image fields differ from the pytest "
                    f"process's ({_mismatch(mine, wanted)}); was the pipeline changed after "
                    "loading (a new scheduler)? The Ray backend generates from the loaded "
                    "spec: use a pipeline_factory, or --igmu-backend local"
                )
        prepare(model.pipeline, settings)
        mark = len(memory.REDUCTIONS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", memory.BatchSizeReduced)  # the driver warns
            parts = [
                b.pixels
                for b in run_batches(
                    model, fields, settings.batch_size, desc, self.where
                )
            ]
        return np.concatenate(parts), self.where, list(memory.REDUCTIONS[mark:])


def _shippable(model: Any) -> tuple[dict[str, Any], str, str]:
    """(spec dict, torch dtype, fingerprint) an actor reloads ``model`` from."""
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(model, "fingerprint"):
        raise ConfigError(
            f"the Ray backend generates from a model's ModelSpec, but got a bare "
            f"{type(model).__name__}; load it with igmu_audit.load_pipeline (or the "
            "igmu_model fixture), or run with --igmu-backend local"
        )
    return spec.to_dict(), str(model.torch_dtype), str(model.fingerprint)


class RayBackend:
    """Generate on a pool of Ray actors (started on first use, once per process)."""

    name = "ray"

    def __init__(
        self, config: Any, *, actors: int | None = None, actor_cpus: int = 1
    ) -> None:
        from igmu_audit._imports import requires

        requires("ray", feature="the Ray backend (--igmu-backend ray)")
        self.config = config
        self.actors = actors
        self.actor_cpus = actor_cpus
        self.address: str | None = None
        self._pool: list[Any] = []
        self._devices: list[str] = []

    @classmethod
    def from_config(cls, config: Any) -> RayBackend:
        """The backend for an ``AuditConfig`` (``ray_address``, ``ray_actors``, ``ray_actor_cpus``)."""
        return cls(
            config,
            actors=getattr(config, "ray_actors", None),
            actor_cpus=int(getattr(config, "ray_actor_cpus", 1)),
        )

    @property
    def pool(self) -> list[Any]:
        """The actor handles, starting them on first use."""
        if not self._pool:
            self._start()
        return self._pool

    def _start(self) -> None:
        import ray

        from igmu_audit.backends.ray_preflight import _address, connect, planned_actors
        from igmu_audit.devices import worker_count

        self.address = connect(_address(self.config))
        resources = dict(ray.cluster_resources())
        planned = self.actors or planned_actors(self.config, resources, worker_count())
        options: dict[str, Any] = {
            "num_cpus": self.actor_cpus,
            "max_restarts": MAX_RESTARTS,
            "max_task_retries": MAX_TASK_RETRIES,
        }
        if resources.get("GPU", 0):
            options["num_gpus"] = 1
        remote: Any = ray.remote(
            GenerationActor
        )  # ray's stubs type the class, not its handle
        pool: list[Any] = [
            remote.options(**options).remote(self.actor_cpus) for _ in range(planned)
        ]
        try:
            infos = ray.get([a.info.remote() for a in pool], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            for actor in pool:
                ray.kill(actor)
            raise GenerationError(
                f"only part of {planned} Ray actors ({options}) started within "
                f"{START_TIMEOUT_S:.0f} s on {self.address} (cluster: {resources}); lower "
                "ray_actors / ray_actor_cpus or add nodes"
            ) from None
        self._pool, self._devices = pool, [str(i["device"]) for i in infos]

    def close(self) -> None:
        """Kill this process's actors (they also die with it); the next use starts anew."""
        import ray

        for actor in self._pool:
            ray.kill(actor, no_restart=True)
        self._pool, self._devices = [], []

    def describe(self) -> dict[str, Any]:
        """Address, actor count and each actor's device (planned when none started)."""
        if not self._pool:
            from igmu_audit.backends.ray_preflight import planned_block

            return planned_block(self.config)
        return {
            "name": "ray",
            "address": self.address,
            "actors": len(self._pool),
            "devices": list(self._devices),
            "max_restarts": MAX_RESTARTS,
            "max_task_retries": MAX_TASK_RETRIES,
        }

    def batches(
        self,
        model: Any,
        fields: Sequence[Mapping[str, Any]],
        settings: GenerationSettings,
        desc: str,
    ) -> Iterator[GeneratedBatch]:
        """Batches of ``settings.batch_size`` from the pool, as each one completes."""
        import ray

        spec, dtype, fingerprint = _shippable(model)
        pool = self.pool
        size = settings.batch_size
        chunks = [
            tuple(range(i, min(i + size, len(fields))))
            for i in range(0, len(fields), size)
        ]
        load = [0] * len(pool)
        pending: dict[Any, tuple[int, int]] = {}
        sent = 0
        try:
            while sent < len(chunks) or pending:
                while sent < len(chunks) and len(pending) < IN_FLIGHT * len(pool):
                    actor = min(range(len(pool)), key=load.__getitem__)
                    batch = [dict(fields[i]) for i in chunks[sent]]
                    ref = pool[actor].generate.remote(
                        spec, dtype, fingerprint, batch, settings, desc
                    )
                    pending[ref], sent = (sent, actor), sent + 1
                    load[actor] += 1
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                chunk, actor = pending.pop(ref)
                load[actor] -= 1
                pixels, device, reductions = self._result(ref, actor)
                _replay(reductions, desc)
                yield GeneratedBatch(chunks[chunk], pixels, f"ray:{device}")
        finally:
            for ref in pending:  # the consumer stopped early: drop what is still queued
                with contextlib.suppress(
                    Exception
                ):  # a finished task cannot be cancelled
                    ray.cancel(ref)

    def _result(
        self, ref: Any, actor: int
    ) -> tuple[np.ndarray, str, list[dict[str, Any]]]:
        import ray

        try:
            result: tuple[np.ndarray, str, list[dict[str, Any]]] = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, IgmuAuditError):
                raise cause from None
            raise
        except ray.exceptions.RayError as exc:
            where = self._devices[actor] if actor < len(self._devices) else f"#{actor}"
            raise GenerationError(
                f"Ray actor {where} was lost and did not come back after {MAX_RESTARTS} "
                f"restarts / {MAX_TASK_RETRIES} retries ({type(exc).__name__}: {exc}); "
                "nothing of its batch was cached or scored; check the node (out of memory? "
                "preempted?) and re-run: cached images are not generated again"
            ) from exc
        return result


def _replay(reductions: list[dict[str, Any]], desc: str) -> None:
    """Record and warn, in this process, the OOM back-offs an actor made."""
    from igmu_audit.pipelines.memory import REDUCTIONS, BatchSizeReduced

    for step in reductions:
        REDUCTIONS.append(step)
        warnings.warn(
            f"igmu-audit: {desc}: out of memory on a Ray actor at batch size "
            f"{step.get('from')}; it retried with {step.get('to')} (images are unchanged)",
            BatchSizeReduced,
            stacklevel=3,
        )
