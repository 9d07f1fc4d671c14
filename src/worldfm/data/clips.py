"""`ClipDataset`: fixed-length training clips from worldfm datasets, video folders and LeRobot datasets.

Clips are enumerated once, deterministically: for every source (in the order given), every episode
(in source order), starts `0, clip_step, 2 * clip_step, ...` while the clip fits. An epoch visits
that list in order, or permuted by `(seed, epoch)` when `shuffle`. The list is then cut into
`world_size * num_workers` contiguous, near-equal parts, one per (rank, DataLoader worker), so every
clip is yielded exactly once per epoch across all processes. A rank's part does not depend on the
number of workers, and ranks differ by at most one clip (DDP users who need equal counts should
drop the last batch).

Video is decoded from the start of a file (exact frame indices, no seeking), so a worker reads each
run of consecutive clips of one episode with a single decode: unshuffled, every frame is decoded
about once per epoch; shuffled, runs are short and each clip costs a decode up to its last frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from worldfm.data.sources import ClipArrays, EpisodeRecord, EpisodeSource
from worldfm.errors import ConfigError, DatasetError
from worldfm.video.transforms import Size, frames_to_tensor, resize_frames

SourceLike = str | os.PathLike[str] | EpisodeSource
RUN_BYTES = 256 * 2**20  # most RGB frame bytes one worker decodes in one go (see ClipDataset._runs)


def as_source(source: SourceLike) -> EpisodeSource:
    """A path becomes the dataset it holds: a worldfm dataset (`dataset.json`) or a LeRobot dataset
    (`meta/info.json`); anything else must already be a source. A folder of plain videos is not
    guessed: pass `VideoFolderSource(path)` explicitly.
    """
    from worldfm.data.episodes import open_dataset
    from worldfm.data.format import INFO_FILE
    from worldfm.data.sources import LeRobotSource

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if (path / INFO_FILE).is_file():
            return open_dataset(path)
        if (path / "meta" / "info.json").is_file():
            return LeRobotSource(path)
        if not path.exists():
            raise DatasetError(f"{path}: dataset folder does not exist")
        raise DatasetError(
            f"{path}: neither a worldfm dataset ({INFO_FILE}) nor a LeRobot dataset (meta/info.json); "
            "for a folder of video files pass VideoFolderSource(path)"
        )
    if isinstance(source, EpisodeSource):
        return source
    raise ConfigError(f"expected a dataset path or an episode source, got {type(source).__name__}")


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world_size): the arguments where given, else torch.distributed if initialised, else
    the `RANK` / `WORLD_SIZE` environment variables (set by torchrun), else (0, 1)."""
    if rank is None or world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            auto = dist.get_rank(), dist.get_world_size()
        else:
            try:
                auto = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
            except ValueError as exc:
                raise ConfigError(f"RANK and WORLD_SIZE must be integers ({exc})") from exc
        rank = auto[0] if rank is None else rank
        world_size = auto[1] if world_size is None else world_size
    if not isinstance(world_size, int) or world_size < 1:
        raise ConfigError(f"world_size must be a positive integer, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ConfigError(f"rank must be an integer in [0, {world_size}), got {rank!r}")
    return rank, world_size


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ClipDataset(IterableDataset):
    """Clips of `clip_length` frames, taken every `stride`-th frame, for training (a torch IterableDataset).

    source: a dataset path (worldfm or LeRobot), an episode source (`EpisodeDataset`,
        `VideoFolderSource`, `LeRobotSource`), or a list of these: a mixture, clips concatenated
        in list order.
    clip_length: frames per clip, T.
    clip_step: frames between the starts of consecutive clips of an episode; default (None) is the
        clip's span `(clip_length - 1) * stride + 1`, i.e. back-to-back clips that do not overlap.
    stride: temporal subsampling; the clip holds frames `start, start + stride, ...`.
    size: None keeps the source size; an int resizes the shorter side (aspect kept); (h, w) resizes
        exactly (bilinear, antialiased; depth nearest).
    shuffle, seed: permute the clip order per epoch with `(seed, epoch)`; call `set_epoch(e)` before
        each epoch (with `persistent_workers=True` the workers keep the epoch they started with).
    rank, world_size: this process's share (see the module docstring); default from
        torch.distributed, else env `RANK`/`WORLD_SIZE`, else 0 and 1.
    with_depth: also yield depth (every source must have it: worldfm datasets do).

    Each item is a dict with always the same keys (so the default collate batches them):

    - "video": (3, T, H, W) float32 in [-1, 1];
    - "caption": str ("" when the source has none);
    - "actions": (T - 1, stride * A) float32, where A is the largest action dimension over all
      episodes of the dataset (0 when none has actions). Row k holds the `stride` raw actions applied
      between kept frames k and k + 1, concatenated; an episode with fewer action dimensions is
      zero-padded per raw action, one without actions is all zeros;
    - "has_actions": bool, whether the episode has actions; "action_dim": its raw A (0 without);
    - "key": the episode key; "source": index of the source in the mixture; "episode": index of
      the episode in its source; "start": first frame (in the episode's own frames);
    - "fps": the clip's frame rate (source fps / stride);
    - "depth" (only with `with_depth`): (1, T, H, W) float32 metres.

    `len(ds)` is the number of clips this rank yields per epoch (all its workers together).
    """

    def __init__(
        self,
        source: SourceLike | Sequence[SourceLike],
        clip_length: int,
        clip_step: int | None = None,
        stride: int = 1,
        size: Size | None = None,
        shuffle: bool = False,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        with_depth: bool = False,
    ) -> None:
        super().__init__()
        items = list(source) if isinstance(source, (list, tuple)) else [source]
        if not items:
            raise ConfigError("source list is empty; expected at least one dataset or source")
        self.sources: list[EpisodeSource] = [as_source(s) for s in items]
        self.clip_length = _positive_int("clip_length", clip_length)
        self.stride = _positive_int("stride", stride)
        self.span = (self.clip_length - 1) * self.stride + 1  # source frames one clip covers
        self.clip_step = self.span if clip_step is None else _positive_int("clip_step", clip_step)
        if size is not None:
            resize_frames(np.zeros((1, 2, 2, 3), np.uint8), size)  # validates size now, not in a worker
        self.size = size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self.with_depth = bool(with_depth)
        if with_depth:
            no_depth = [s.name for s in self.sources if not s.has_depth]
            if no_depth:
                raise ConfigError(f"with_depth=True but these sources have no depth: {no_depth}")
        self.records: list[list[EpisodeRecord]] = [s.records() for s in self.sources]
        self.action_dim = max(
            (r.action_dim for recs in self.records for r in recs if r.has_actions), default=0
        )
        self._clips = self._enumerate()
        if len(self._clips) == 0:
            longest = max(r.num_frames for recs in self.records for r in recs)
            raise DatasetError(
                f"no clips: a clip of {self.clip_length} frames at stride {self.stride} spans {self.span} "
                f"frames, but the longest episode has {longest}"
            )

    def _enumerate(self) -> np.ndarray:
        """(N, 3) int64 rows (source, episode, start), in source, episode, start order."""
        rows = [
            (s, e, start)
            for s, recs in enumerate(self.records)
            for e, rec in enumerate(recs)
            for start in range(0, rec.num_frames - self.span + 1, self.clip_step)
        ]
        return np.asarray(rows, np.int64).reshape(-1, 3)

    # -- order and sharding -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle permutation of `epoch` (no effect without `shuffle`)."""
        self.epoch = int(epoch)

    @property
    def clips(self) -> np.ndarray:
        """All clips as (N, 3) int64 rows (source, episode, start), in enumeration order."""
        return self._clips.copy()

    def epoch_order(self) -> np.ndarray:
        """Positions into `clips` in this epoch's visiting order (a permutation when shuffling)."""
        n = len(self._clips)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def _part(self, part: int, parts: int) -> tuple[int, int]:
        n = len(self._clips)
        return n * part // parts, n * (part + 1) // parts

    def assigned(self, worker: int = 0, num_workers: int = 1) -> np.ndarray:
        """Positions into `clips` that DataLoader worker `worker` of `num_workers` on this rank yields, in order."""
        lo, hi = self._part(self.rank * num_workers + worker, self.world_size * num_workers)
        return self.epoch_order()[lo:hi]

    def __len__(self) -> int:
        lo, hi = self._part(self.rank, self.world_size)
        return hi - lo

    # -- reading ----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker = get_worker_info()
        wid, nworkers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        for s, e, lo, hi, run in self._runs(self.assigned(wid, nworkers)):
            arrays = self.sources[s].read_clip(e, lo, hi, with_depth=self.with_depth)
            for start in run:
                yield self._item(s, e, start, arrays, lo)

    def _runs(self, positions: np.ndarray) -> Iterator[tuple[int, int, int, int, list[int]]]:
        """Group consecutive clips of the same episode: (source, episode, lo, hi, starts).

        Video is decoded from the first frame of a file up to the last frame asked for, so reading
        a run of clips as one frame range `[lo, hi)` decodes each frame once instead of once per
        clip (unshuffled, a worker's clips come in such runs). A run is cut where its range would
        exceed `RUN_BYTES` of frames, so long videos are never held in memory whole.
        """
        run: list[int] = []
        s = e = lo = hi = -1
        budget = 0
        for position in positions:
            ps, pe, start = (int(v) for v in self._clips[position])
            end = start + self.span
            if run and (ps, pe) == (s, e) and max(hi, end) - min(lo, start) <= budget:
                run.append(start)
                lo, hi = min(lo, start), max(hi, end)
                continue
            if run:
                yield s, e, lo, hi, run
            record = self.records[ps][pe]
            budget = max(self.span, RUN_BYTES // max(1, record.height * record.width * 3))
            s, e, lo, hi, run = ps, pe, start, end, [start]
        if run:
            yield s, e, lo, hi, run

    def clip(self, position: int) -> dict[str, Any]:
        """Read and convert clip `position` of `clips` alone (see the class docstring for the keys)."""
        s, e, start = (int(v) for v in self._clips[position])
        arrays = self.sources[s].read_clip(e, start, start + self.span, with_depth=self.with_depth)
        return self._item(s, e, start, arrays, start)

    def _item(self, s: int, e: int, start: int, arrays: ClipArrays, offset: int) -> dict[str, Any]:
        """The item of the clip at `start` from arrays that hold the episode's frames from `offset` on."""
        record = self.records[s][e]
        lo = start - offset
        keep = slice(lo, lo + self.span, self.stride)
        frames = arrays.frames[keep]
        if len(frames) != self.clip_length:
            raise DatasetError(
                f"{self.sources[s].name}: episode {record.key!r} gave {len(arrays.frames)} frames "
                f"from {offset}, expected at least {lo + self.span}"
            )
        raw = None if arrays.actions is None else arrays.actions[lo : lo + self.span - 1]
        if self.size is not None:
            frames = resize_frames(frames, self.size)
        item: dict[str, Any] = {
            "video": frames_to_tensor(frames)[0],  # (3, T, H, W) in [-1, 1]
            "caption": record.caption,
            "actions": torch.from_numpy(self._actions(raw, record)),
            "has_actions": record.has_actions,
            "action_dim": record.action_dim if record.has_actions else 0,
            "key": record.key,
            "source": s,
            "episode": e,
            "start": start,
            "fps": record.fps / self.stride,
        }
        if self.with_depth:
            depth = torch.from_numpy(np.ascontiguousarray(arrays.depth[keep], np.float32))[
                None
            ]  # (1, T, H, W)
            if self.size is not None:
                h, w = frames.shape[1:3]
                depth = torch.nn.functional.interpolate(depth, size=(h, w), mode="nearest-exact")
            item["depth"] = depth
        return item

    def _actions(self, raw: np.ndarray | None, record: EpisodeRecord) -> np.ndarray:
        """(span - 1, a) raw actions -> (T - 1, stride * A) padded, concatenated per kept step."""
        steps = self.clip_length - 1
        out = np.zeros((steps, self.stride, self.action_dim), np.float32)
        if record.has_actions and steps > 0:
            if raw is None or raw.shape[0] != self.span - 1:
                got = None if raw is None else raw.shape
                raise DatasetError(f"episode {record.key!r}: expected {self.span - 1} action rows, got {got}")
            out[:, :, : raw.shape[1]] = raw.reshape(steps, self.stride, raw.shape[1])
        return out.reshape(steps, self.stride * self.action_dim)

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.sources)
        return (
            f"ClipDataset([{names}], clip_length={self.clip_length}, stride={self.stride}, "
            f"{len(self._clips)} clips, rank {self.rank}/{self.world_size})"
        )
