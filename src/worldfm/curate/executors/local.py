"""Local executor: a pool of worker processes on this machine (or the calling process itself for
one worker, which keeps debugging and small runs simple)."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from worldfm.curate.task import VideoTask
from worldfm.curate.worker import VideoWorker
from worldfm.errors import ConfigError

_WORKER: VideoWorker | None = None


def _init(entries: list[dict[str, Any]], fingerprint: str, threads: int) -> None:
    global _WORKER
    # One process per core: no oversubscription. Through the environment, so that a worker whose
    # stages never use torch does not pay for importing it (seconds per worker).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    _WORKER = VideoWorker(entries, fingerprint)


def _run(task: VideoTask) -> VideoTask:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER(task)


class LocalExecutor:
    """`workers` processes (spawned, so no state leaks from the parent), each with its own stages."""

    name = "local"

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def run(
        self, entries: list[dict[str, Any]], fingerprint: str, tasks: list[VideoTask]
    ) -> Iterator[VideoTask]:
        """Yield each finished task as soon as it is done (any order)."""
        if not tasks:
            return
        if self.workers == 1:
            worker = VideoWorker(entries, fingerprint)
            for task in tasks:
                yield worker(task)
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=ctx,
            initializer=_init,
            initargs=(entries, fingerprint, 1),
        ) as pool:
            pending: set[Future[VideoTask]] = {pool.submit(_run, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
