"""Executors run the per-video stages over many videos: `LocalExecutor` (a process pool on this
machine) and `RayExecutor` (Ray actors, on a local Ray instance or an existing cluster). Both give
each worker its own copy of the stages, set up once, and yield finished tasks as they complete;
the pipeline sorts them, so the output does not depend on the executor or on timing."""

from __future__ import annotations

from typing import Any

from worldfm.errors import UnknownNameError

EXECUTORS = ("local", "ray")


def make_executor(name: str, workers: int, ray_address: str | None = None) -> Any:
    """ "local" or "ray" -> an executor with `workers` workers (`ray_address`: join that cluster)."""
    if name == "local":
        from worldfm.curate.executors.local import LocalExecutor

        return LocalExecutor(workers)
    if name == "ray":
        from worldfm.curate.executors.ray import RayExecutor

        return RayExecutor(workers, address=ray_address)
    raise UnknownNameError("executor", name, list(EXECUTORS))
