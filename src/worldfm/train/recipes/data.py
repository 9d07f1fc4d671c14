"""The simulated data mixture a recipe trains on: generated on first use, read as clips.

A recipe's `data` section names sim datasets by how they are generated, so the data is reproducible
from the recipe alone:

    data:
      root: data/sim
      datasets:
        - {scenario: objects, episodes: 300, frames: 33, size: 64, seed: 1}
        - {scenario: robot, episodes: 300, frames: 33, size: 64, seed: 2}
      clip_length: 17
      clip_step: 8          # frames between clip starts in an episode (training)
      val_episodes: 8       # the last 8 episodes of every dataset are held out for validation

Dataset `i` lives at `root/<scenario>-<size>px-<frames>f-<episodes>ep-seed<seed>`; a missing one is
generated with `worldfm.sim.generate.generate_dataset` (rank 0 only; other ranks wait).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.errors import ConfigError, DatasetError
from worldfm.train import distributed as wdist
from worldfm.train.recipes.common import build


@dataclass(frozen=True)
class SimDatasetSpec:
    """One generated dataset: scenario, episodes, frames per episode, frame size, base seed."""

    scenario: str
    episodes: int
    frames: int = 33
    size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        from worldfm.sim.registry import SCENARIOS, check_episode_args

        if self.scenario not in SCENARIOS:
            raise ConfigError(f"scenario must be one of {sorted(SCENARIOS)}, got {self.scenario!r}")
        if self.episodes < 1:
            raise ConfigError(f"episodes must be >= 1, got {self.episodes}")
        check_episode_args(self.frames, self.size)

    @property
    def folder_name(self) -> str:
        return f"{self.scenario}-{self.size}px-{self.frames}f-{self.episodes}ep-seed{self.seed}"


@dataclass(frozen=True)
class DataSpec:
    """The `data` section (see the module docstring). `workers`: generation processes."""

    root: str
    datasets: tuple[SimDatasetSpec, ...]
    clip_length: int
    clip_step: int | None = None
    val_episodes: int = 0
    workers: int = 2

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ConfigError("data.datasets must list at least one dataset")
        if self.clip_length < 1:
            raise ConfigError(f"data.clip_length must be >= 1, got {self.clip_length}")
        if self.clip_step is not None and self.clip_step < 1:
            raise ConfigError(f"data.clip_step must be >= 1 or null, got {self.clip_step}")
        if self.val_episodes < 0:
            raise ConfigError(f"data.val_episodes must be >= 0, got {self.val_episodes}")
        if self.workers < 1:
            raise ConfigError(f"data.workers must be >= 1, got {self.workers}")
        for i, d in enumerate(self.datasets):
            if d.frames < self.clip_length:
                raise ConfigError(
                    f"data.datasets[{i}].frames ({d.frames}) is shorter than data.clip_length ({self.clip_length})"
                )
            if self.val_episodes >= d.episodes:
                raise ConfigError(
                    f"data.val_episodes ({self.val_episodes}) must be smaller than data.datasets[{i}].episodes "
                    f"({d.episodes}): the held-out episodes come out of each dataset"
                )
        sizes = {d.size for d in self.datasets}
        if len(sizes) > 1:
            raise ConfigError(
                f"data.datasets must share one frame size to be batched together, got {sorted(sizes)}"
            )

    @property
    def size(self) -> int:
        return self.datasets[0].size

    def paths(self, base: str | os.PathLike[str] | None = None) -> list[Path]:
        root = Path(self.root)
        if base is not None and not root.is_absolute():
            root = Path(base) / root
        return [root / d.folder_name for d in self.datasets]


def parse_data(data: dict[str, Any]) -> DataSpec:
    """The `data` section of a recipe -> DataSpec (ConfigError naming the bad key)."""
    raw = dict(data)
    items = raw.pop("datasets", None)
    if not isinstance(items, list) or not items:
        raise ConfigError(f"data.datasets must be a non-empty list of datasets, got {items!r}")
    specs = tuple(build(SimDatasetSpec, item, f"data.datasets[{i}]") for i, item in enumerate(items))
    return build(DataSpec, {**raw, "datasets": list(specs)}, "data")


def ensure_datasets(spec: DataSpec, log: Callable[[str], None] | None = None) -> list[Path]:
    """Generate every dataset of `spec` that does not exist yet (rank 0; others wait); return their paths.

    An existing folder must hold what the spec asks for (episode count, frames, size), otherwise a
    DatasetError names the mismatch (nothing is overwritten)."""
    from worldfm.data import open_dataset
    from worldfm.sim.generate import generate_dataset

    paths = spec.paths()
    if wdist.get_rank() == 0:
        for d, path in zip(spec.datasets, paths, strict=True):
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            # Several runs started at once (e.g. three recipes in the background) must not write the
            # same dataset together: the first one generates it, the others wait and then read it.
            with _locked(path.with_name(f".{path.name}.lock")):
                if path.exists():
                    continue
                if log:
                    log(
                        f"generating {d.episodes} {d.scenario} episodes ({d.frames} frames, {d.size}px) into {path}"
                    )
                report = generate_dataset(
                    d.scenario,
                    path,
                    episodes=d.episodes,
                    frames=d.frames,
                    size=d.size,
                    seed=d.seed,
                    workers=spec.workers,
                )
                if log:
                    log(f"  done in {report.seconds:.0f} s ({report.frames_per_second:.0f} frames/s)")
    wdist.barrier()
    for d, path in zip(spec.datasets, paths, strict=True):
        ds = open_dataset(path)
        recs = ds.records()
        bad = [
            f"{what} {got} (recipe: {want})"
            for what, got, want in (
                ("episodes", len(recs), d.episodes),
                ("frames", min(r.num_frames for r in recs), d.frames),
                ("size", max(max(r.height, r.width) for r in recs), d.size),
            )
            if got != want
        ]
        if bad:
            raise DatasetError(f"{path}: existing dataset does not match the recipe: {'; '.join(bad)}")
    return paths


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (POSIX flock; a no-op where there is none)."""
    try:
        import fcntl
    except ImportError:  # Windows: no concurrent-run protection
        yield
        return
    with open(lock_path, "w") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class EpisodeSubset:
    """Some episodes of an episode source, as a source itself (for train / validation splits)."""

    def __init__(self, source: Any, indices: Sequence[int], tag: str) -> None:
        self.source, self.indices, self.tag = source, [int(i) for i in indices], tag
        records = source.records()
        self._records = [records[i] for i in self.indices]

    @property
    def name(self) -> str:
        return f"{self.source.name}[{self.tag}]"

    @property
    def has_depth(self) -> bool:
        return bool(self.source.has_depth)

    def records(self) -> list[Any]:
        return list(self._records)

    def read_clip(self, index: int, start: int, end: int, with_depth: bool = False) -> Any:
        return self.source.read_clip(self.indices[index], start, end, with_depth=with_depth)


class ClipPositions:
    """A `ClipDataset` as a map-style dataset: item `i` is clip `i` of its enumeration, and
    `epoch_indices(e)` is this rank's visiting order in epoch `e` (the ClipDataset's own shuffle and
    sharding). The trainer addresses batches by position, so resuming skips without decoding."""

    def __init__(self, clips: Any, keys: Sequence[str] | None = ("video", "caption", "actions")) -> None:
        self.clips = clips
        self.keys = None if keys is None else tuple(keys)

    def __len__(self) -> int:
        return len(self.clips.clips)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.clips.clip(int(i))
        return item if self.keys is None else {k: item[k] for k in self.keys}

    def epoch_indices(self, epoch: int) -> np.ndarray:
        self.clips.set_epoch(epoch)
        return self.clips.assigned(0, 1)


def build_clip_data(
    spec: DataSpec,
    paths: Sequence[Path],
    seed: int,
    keys: Sequence[str] | None = ("video", "caption", "actions"),
) -> tuple[ClipPositions, ClipPositions | None]:
    """Training and validation clips: the last `val_episodes` of every dataset are held out.

    Training clips start every `clip_step` frames and are shuffled per epoch by `seed`; validation
    clips do not overlap and keep their order (every rank sees all of them; rank 0 scores them)."""
    from worldfm.data import ClipDataset, open_dataset

    train_sources, val_sources = [], []
    for path in paths:
        ds = open_dataset(path)
        n = len(ds)
        train_sources.append(EpisodeSubset(ds, range(n - spec.val_episodes), "train"))
        if spec.val_episodes:
            val_sources.append(EpisodeSubset(ds, range(n - spec.val_episodes, n), "val"))
    try:
        train = ClipDataset(
            train_sources, clip_length=spec.clip_length, clip_step=spec.clip_step, shuffle=True, seed=seed
        )
        val = (
            ClipDataset(val_sources, clip_length=spec.clip_length, shuffle=False, rank=0, world_size=1)
            if val_sources
            else None
        )
    except DatasetError as exc:
        raise DatasetError(f"cannot cut clips from the recipe's datasets: {exc}") from exc
    return ClipPositions(train, keys), (ClipPositions(val, keys) if val is not None else None)
