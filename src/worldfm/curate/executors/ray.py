"""Ray executor: one actor per worker, each holding its own set-up stages (so models load once
per actor, as Cosmos-Xenna's actor pools do), fed through `ray.util.ActorPool`.

Without `address` a local Ray instance is started for the run (and shut down after); with
`address` ("auto", "ray://host:10001", "host:6379") the run joins that cluster and leaves it
running. Actors ask for the largest CPU/GPU share any of their stages declares.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError, WorldfmError


class RayExecutor:
    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers, self.address = workers, address

    def _connect(self) -> tuple[Any, bool]:
        try:
            import ray
        except ImportError as exc:
            raise WorldfmError("the Ray executor needs Ray: pip install 'worldfm[curate]'") from exc
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if ray.is_initialized():
            return ray, False
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=max(self.workers, 1),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a local instance"
            raise WorldfmError(f"cannot start or join Ray ({where}): {exc}") from exc
        return ray, True

    def run(
        self, entries: list[dict[str, Any]], fingerprint: str, tasks: list[VideoTask]
    ) -> Iterator[VideoTask]:
        """Yield each finished task as soon as it is done (any order)."""
        if not tasks:
            return
        from worldfm.curate.stage import Stage, build_stage

        stages = [build_stage(e) for e in entries]
        cpus = max([s.resources.cpus for s in stages if isinstance(s, Stage)] or [1.0])
        gpus = max([s.resources.gpus for s in stages if isinstance(s, Stage)] or [0.0])
        ray, started = self._connect()
        try:
            from ray.util import ActorPool

            actor_cls = ray.remote(num_cpus=cpus, num_gpus=gpus)(_RayWorker)
            actors = [actor_cls.remote(entries, fingerprint) for _ in range(min(self.workers, len(tasks)))]
            pool = ActorPool(actors)
            yield from pool.map_unordered(lambda actor, task: actor.run.remote(task), tasks)
        finally:
            if started:
                ray.shutdown()


class _RayWorker:
    def __init__(self, entries: list[dict[str, Any]], fingerprint: str) -> None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"  # before any stage imports torch (importing it just for this costs seconds)
        from worldfm.curate.worker import VideoWorker

        self.worker = VideoWorker(entries, fingerprint)

    def run(self, task: VideoTask) -> VideoTask:
        return self.worker(task)
