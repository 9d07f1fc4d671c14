"""Episode sources that `ClipDataset` reads clips from: a common protocol and the non-worldfm readers.

A source is a list of episodes, each described by an `EpisodeRecord` (known without decoding any
video) and read by `read_clip(i, start, end)`. Three kinds exist:

- `worldfm.data.EpisodeDataset` (a worldfm dataset folder: frames, depth, actions, captions);
- `VideoFolderSource`: a folder of video files (frames and captions only);
- `LeRobotSource`: a LeRobot-format dataset folder (frames of one camera, actions, task captions).

Sources hold only paths and plain Python values, so they pickle into DataLoader workers cheaply.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from worldfm.errors import DatasetError, UnknownNameError, WorldfmError

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")


@dataclass(frozen=True)
class EpisodeRecord:
    """What a source knows about one episode without decoding it.

    `action_dim` is 0 when the episode has no actions (`has_actions` False).
    """

    key: str
    num_frames: int
    caption: str
    fps: float
    height: int
    width: int
    has_actions: bool = False
    action_dim: int = 0


@dataclass
class ClipArrays:
    """Frames `[start, end)` of an episode and what goes with them.

    frames: (n, H, W, 3) uint8 RGB, n = end - start.
    actions: (n - 1, A) float32, row k is the action applied between frames start + k and
        start + k + 1; None when the episode has no actions.
    depth: (n, H, W) float32 metres, or None when not asked for or not available.
    """

    frames: np.ndarray
    actions: np.ndarray | None = None
    depth: np.ndarray | None = None


@runtime_checkable
class EpisodeSource(Protocol):
    """What `ClipDataset` needs from a source."""

    @property
    def name(self) -> str: ...

    @property
    def has_depth(self) -> bool: ...

    def records(self) -> list[EpisodeRecord]: ...

    def read_clip(self, index: int, start: int, end: int, with_depth: bool = False) -> ClipArrays: ...


def _check_clip_range(label: str, record: EpisodeRecord, start: int, end: int) -> None:
    if not 0 <= start < end <= record.num_frames:
        raise DatasetError(
            f"{label}: bad frame range [{start}, {end}) for a {record.num_frames}-frame episode"
        )


# --------------------------------------------------------------------------------------------------
# Video folders
# --------------------------------------------------------------------------------------------------


class VideoFolderSource:
    """Every video file under `path` (recursive; suffixes `suffixes`), one episode each, sorted by path.

    The caption of `clip.mp4` is the text of a sibling `clip.txt` (stripped), or "" when there is
    none. Episodes have frames only: no actions, no depth. Each file is probed once here (its frames
    are counted from packets, without decoding), so an unreadable file raises `VideoError` now, not
    in the middle of training. The key of an episode is its path relative to `path`, without suffix.
    """

    def __init__(self, path: str | os.PathLike[str], suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> None:
        from worldfm.video.io import probe_video

        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: video folder does not exist or is not a folder")
        wanted = {s.lower() for s in suffixes}
        self.files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
        if not self.files:
            raise DatasetError(f"{self.path}: no video files ({', '.join(sorted(wanted))}) found")
        self._records = []
        for file in self.files:
            info = probe_video(file)
            caption_file = file.with_suffix(".txt")
            caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.is_file() else ""
            key = file.relative_to(self.path).with_suffix("").as_posix()
            self._records.append(
                EpisodeRecord(key, info.num_frames, caption, info.fps, info.height, info.width)
            )

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def has_depth(self) -> bool:
        return False

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"VideoFolderSource({str(self.path)!r}, {len(self)} videos)"

    def records(self) -> list[EpisodeRecord]:
        return list(self._records)

    def read_clip(self, index: int, start: int, end: int, with_depth: bool = False) -> ClipArrays:
        """Decode frames `[start, end)` of video `index` (decoding stops at `end`)."""
        from worldfm.video.io import read_video

        if with_depth:
            raise DatasetError(f"{self.path}: video folders have no depth")
        _check_clip_range(str(self.files[index]), self._records[index], start, end)
        return ClipArrays(read_video(self.files[index], start, end))


# --------------------------------------------------------------------------------------------------
# LeRobot datasets
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LeRobotEpisode:
    index: int  # episode_index in the LeRobot dataset
    length: int
    caption: str
    data_file: str  # relative to the dataset root
    video_file: str
    video_start: int  # first frame of the episode in the video file (v3 files hold many episodes)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: missing (not a LeRobot dataset?)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: missing (not a LeRobot v2 dataset?)") from exc
    rows = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n}: not valid JSON ({exc})") from exc
    return rows


def _read_parquet(path: Path, **kwargs: Any) -> Any:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DatasetError(f"{path}: missing parquet file")
    try:
        return pq.read_table(path, **kwargs)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise DatasetError(f"{path}: cannot read parquet ({exc.__class__.__name__}: {exc})") from exc


class LeRobotSource:
    """A LeRobot-format dataset folder (v2.0/v2.1 or v3.0), read with pyarrow and PyAV (no lerobot import).

    Layouts (paths come from the templates in `meta/info.json`):

    - v2.x: `meta/episodes.jsonl` (`episode_index`, `tasks`, `length`), `meta/tasks.jsonl`,
      `data/chunk-000/episode_000000.parquet` (one per episode),
      `videos/chunk-000/<camera>/episode_000000.mp4` (one per episode and camera);
    - v3.0: `meta/episodes/chunk-*/file-*.parquet` (per episode: `length`, `tasks`,
      `data/chunk_index`, `data/file_index`, `videos/<camera>/chunk_index`, `.../file_index`,
      `.../from_timestamp`), `data/chunk-000/file-000.parquet` and
      `videos/<camera>/chunk-000/file-000.mp4`, each holding many episodes back to back.

    `camera` is a video feature key (e.g. `observation.images.top`); None picks the first one in
    `info.json`. Frames are that camera's video. Actions are the `action` column (one row per
    frame); row t is the command sent at frame t, which moves the robot to frame t + 1, so the
    episode's (T - 1, A) actions are rows 0..T-2 (the last row has no next frame). The caption is
    the episode's task text (several tasks joined with "; "). Video fps is `info.json`'s `fps`.
    """

    def __init__(self, path: str | os.PathLike[str], camera: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: LeRobot dataset folder does not exist or is not a folder")
        info = _read_json(self.path / "meta" / "info.json")
        if not isinstance(info, dict):
            raise DatasetError(f"{self.path / 'meta' / 'info.json'}: expected a JSON object")
        self.version = str(info.get("codebase_version", ""))
        features = info.get("features") or {}
        cameras = [k for k, v in features.items() if isinstance(v, dict) and v.get("dtype") == "video"]
        if not cameras:
            raise DatasetError(
                f"{self.path}: no video features in meta/info.json (image-only datasets are not supported)"
            )
        if camera is None:
            camera = cameras[0]
        elif camera not in cameras:
            raise UnknownNameError("camera", camera, cameras)
        self.camera = camera
        self.cameras = cameras
        self.fps = float(info.get("fps") or 0)
        if self.fps <= 0:
            raise DatasetError(f"{self.path}: meta/info.json has no positive 'fps'")
        shape = features[camera].get("shape") or []
        names = features[camera].get("names") or []
        self._height, self._width = self._frame_size(shape, names)
        action = features.get("action")
        self.action_dim = int(np.prod(action.get("shape") or [0])) if isinstance(action, dict) else 0
        if self.version.startswith("v2"):
            self._episodes = self._episodes_v2(info)
        elif self.version.startswith("v3"):
            self._episodes = self._episodes_v3(info)
        else:
            raise DatasetError(
                f"{self.path}: unsupported LeRobot codebase_version {self.version!r}; expected v2.0, v2.1 or v3.0"
            )
        if not self._episodes:
            raise DatasetError(f"{self.path}: the dataset lists no episodes")
        self._records = [
            EpisodeRecord(
                key=f"episode_{e.index:06d}",
                num_frames=e.length,
                caption=e.caption,
                fps=self.fps,
                height=self._height,
                width=self._width,
                has_actions=self.action_dim > 0,
                action_dim=self.action_dim,
            )
            for e in self._episodes
        ]
        self._actions_cache: dict[int, np.ndarray] = {}  # last episode's actions: clips come in runs

    @staticmethod
    def _frame_size(shape: list[int], names: list[str]) -> tuple[int, int]:
        if len(shape) == 3 and names and len(names) == 3:
            lookup = {str(n).lower()[:1]: int(s) for n, s in zip(names, shape, strict=True)}
            if "h" in lookup and "w" in lookup:
                return lookup["h"], lookup["w"]
        if len(shape) == 3:  # channels first (3, H, W) or last (H, W, 3)
            return (int(shape[1]), int(shape[2])) if shape[0] == 3 else (int(shape[0]), int(shape[1]))
        return 0, 0

    def _episodes_v2(self, info: dict[str, Any]) -> list[_LeRobotEpisode]:
        data_tpl = (
            info.get("data_path") or "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        )
        video_tpl = (
            info.get("video_path")
            or "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        )
        chunks = int(info.get("chunks_size") or 1000)
        episodes = []
        for row in _read_jsonl(self.path / "meta" / "episodes.jsonl"):
            index = int(row["episode_index"])
            fields = {"episode_chunk": index // chunks, "episode_index": index, "video_key": self.camera}
            episodes.append(
                _LeRobotEpisode(
                    index=index,
                    length=int(row["length"]),
                    caption=self._caption(row.get("tasks")),
                    data_file=data_tpl.format(**fields),
                    video_file=video_tpl.format(**fields),
                    video_start=0,
                )
            )
        return sorted(episodes, key=lambda e: e.index)

    def _episodes_v3(self, info: dict[str, Any]) -> list[_LeRobotEpisode]:
        import pyarrow as pa

        data_tpl = info.get("data_path") or "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        video_tpl = (
            info.get("video_path") or "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        )
        files = sorted((self.path / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise DatasetError(
                f"{self.path}: no meta/episodes/chunk-*/file-*.parquet (not a LeRobot v3 dataset?)"
            )
        table = pa.concat_tables([_read_parquet(f) for f in files], promote_options="default")
        cam = f"videos/{self.camera}/"
        need = [
            "episode_index",
            "length",
            "data/chunk_index",
            "data/file_index",
            cam + "chunk_index",
            cam + "file_index",
        ]
        missing = [c for c in need if c not in table.column_names]
        if missing:
            raise DatasetError(f"{self.path}: meta/episodes parquet lacks columns {missing}")
        episodes = []
        for row in table.to_pylist():
            data_file = data_tpl.format(
                chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
            )
            video_file = video_tpl.format(
                video_key=self.camera,
                chunk_index=row[cam + "chunk_index"],
                file_index=row[cam + "file_index"],
            )
            start = float(row.get(cam + "from_timestamp") or 0.0)
            episodes.append(
                _LeRobotEpisode(
                    index=int(row["episode_index"]),
                    length=int(row["length"]),
                    caption=self._caption(row.get("tasks")),
                    data_file=data_file,
                    video_file=video_file,
                    video_start=round(start * self.fps),  # timestamps are multiples of 1/fps
                )
            )
        return sorted(episodes, key=lambda e: e.index)

    @staticmethod
    def _caption(tasks: Any) -> str:
        if isinstance(tasks, str):
            return tasks
        return "; ".join(str(t) for t in (tasks or []))

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def has_depth(self) -> bool:
        return False

    def __len__(self) -> int:
        return len(self._episodes)

    def __repr__(self) -> str:
        return (
            f"LeRobotSource({str(self.path)!r}, {self.version}, camera={self.camera!r}, {len(self)} episodes)"
        )

    def records(self) -> list[EpisodeRecord]:
        return list(self._records)

    def episode_actions(self, index: int) -> np.ndarray | None:
        """(length, A) float32 `action` rows of episode `index` (position in this source), or None without actions."""
        if self.action_dim == 0:
            return None
        if index in self._actions_cache:
            return self._actions_cache[index]
        ep = self._episodes[index]
        path = self.path / ep.data_file
        table = _read_parquet(path, columns=["episode_index", "frame_index", "action"])
        episode_col = table.column("episode_index").to_numpy()
        rows = np.flatnonzero(episode_col == ep.index)
        order = np.argsort(table.column("frame_index").to_numpy()[rows], kind="stable")
        actions = table.column("action").take(rows[order]).to_pylist()
        if len(actions) != ep.length:
            raise DatasetError(
                f"{path}: episode {ep.index} has {len(actions)} rows, meta says length {ep.length}"
            )
        try:
            result = np.asarray(actions, np.float32).reshape(ep.length, -1)
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"{path}: 'action' column is not a fixed-size list of numbers ({exc})"
            ) from exc
        if result.shape[1] != self.action_dim:
            raise DatasetError(
                f"{path}: actions have {result.shape[1]} dimensions, meta/info.json says {self.action_dim}"
            )
        self._actions_cache = {index: result}
        return result

    def read_clip(self, index: int, start: int, end: int, with_depth: bool = False) -> ClipArrays:
        """Frames `[start, end)` of episode `index` from the camera video, and the actions between them."""
        from worldfm.video.io import read_video

        if with_depth:
            raise DatasetError(f"{self.path}: LeRobot sources have no depth")
        ep = self._episodes[index]
        _check_clip_range(f"{self.path} episode {ep.index}", self._records[index], start, end)
        video = self.path / ep.video_file
        try:
            frames = read_video(video, ep.video_start + start, ep.video_start + end)
        except WorldfmError as exc:
            raise DatasetError(f"{self.path}: episode {ep.index}: {exc}") from exc
        actions = self.episode_actions(index)
        return ClipArrays(frames, None if actions is None else actions[start : end - 1])
