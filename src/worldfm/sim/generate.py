"""Generate a dataset of simulated episodes, in parallel worker processes, into WebDataset shards.

Each worker simulates an episode and encodes it into a shard sample (mp4 + compressed arrays +
JSON), so both simulation and video encoding run in parallel; the parent only appends samples to
tar shards in episode order. Episode `i` uses `episode_seed(seed, i)`, so the dataset is identical
whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldfm.errors import ConfigError
from worldfm.sim.registry import check_episode_args, episode_seed, generate_episode, get_scenario


@dataclass(frozen=True)
class GenerationJob:
    """One episode to simulate: scenario name, index in the dataset, its seed, length and size."""

    scenario: str
    index: int
    seed: int
    num_frames: int
    size: int

    @property
    def key(self) -> str:
        return f"{self.scenario}-{self.index:06d}"


@dataclass(frozen=True)
class GenerationReport:
    """What `generate_dataset` did: where, how many episodes and frames, and how long it took."""

    out: str
    scenario: str
    episodes: int
    frames: int
    size: int
    seed: int
    workers: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.episodes * self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "frames_per_second": round(self.frames_per_second, 1)}


def _simulate_sample(job: GenerationJob) -> dict[str, Any]:
    """Worker body: simulate one episode and encode it as a shard sample."""
    from worldfm.data import episode_to_sample

    episode = generate_episode(job.scenario, job.seed, job.num_frames, job.size)
    return episode_to_sample(episode, job.key)


def _worker_init() -> None:
    # One simulator per process already fills a core; stop libraries from oversubscribing. Workers never
    # import torch (it would cost ~3 CPU-seconds of start-up per worker for nothing).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def iter_samples(jobs: list[GenerationJob], workers: int) -> Iterator[dict[str, Any]]:
    """Yield encoded samples for `jobs` in order, using `workers` processes (1 = in this process)."""
    if workers <= 1:
        for job in jobs:
            yield _simulate_sample(job)
        return
    # spawn, not fork: OpenGL contexts and torch thread pools do not survive fork reliably.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        yield from pool.map(_simulate_sample, jobs, chunksize=1)


def generate_dataset(
    scenario: str,
    out: str | os.PathLike[str],
    episodes: int,
    frames: int = 32,
    size: int = 64,
    seed: int = 0,
    workers: int = 1,
    episodes_per_shard: int = 64,
    overwrite: bool = False,
    on_episode: Callable[[int], None] | None = None,
) -> GenerationReport:
    """Simulate `episodes` episodes of `scenario` and write them as a worldfm dataset at `out`.

    The dataset appears at `out` only once complete (see `worldfm.data.DatasetWriter`).
    `on_episode(n_done)` is called after each episode is written (progress bars).
    """
    from worldfm.data import DatasetWriter

    get_scenario(scenario)  # unknown names fail before any work starts
    check_episode_args(frames, size)
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    jobs = [GenerationJob(scenario, i, episode_seed(seed, i), frames, size) for i in range(episodes)]
    start = time.perf_counter()
    with DatasetWriter(Path(out), episodes_per_shard=episodes_per_shard, overwrite=overwrite) as writer:
        for done, sample in enumerate(iter_samples(jobs, min(workers, episodes)), start=1):
            writer.write(sample)
            if on_episode is not None:
                on_episode(done)
    return GenerationReport(
        out=str(out),
        scenario=scenario,
        episodes=episodes,
        frames=frames,
        size=size,
        seed=seed,
        workers=workers,
        seconds=time.perf_counter() - start,
    )
