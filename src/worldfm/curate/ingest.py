"""Ingest: turn an input spec into the `VideoTask`s of a curation run, sorted by video id.

An input spec is one of (checked in this order):

- a worldfm dataset folder (`dataset.json` present): one task per episode. `source` is the dataset
  folder, `meta` holds `kind="worldfm"`, `episode` (position), `episode_key` and `caption`; the
  probe stage extracts the episode's mp4 member to `work_dir/source.mp4`;
- a LeRobot dataset folder (`meta/info.json` present, read with `LeRobotSource`): one task per
  episode of one camera. `source` is the camera's video file, which in LeRobot v3 holds many
  episodes back to back, so `meta["range"] = [start_s, end_s]` says where the episode lies in it
  (stages honour it: probe counts only those frames, split cuts only inside them, and clip times
  stay times within the source file). `meta` also holds `kind="lerobot"`, `dataset`, `camera`,
  `episode_index`, `task` (the episode's task text) and `caption` (the same text);
- a folder: every video file under it (recursive; suffixes `VIDEO_SUFFIXES`; hidden files and
  folders skipped, so temp files and a `.work` folder of an earlier run are never ingested);
- a list file (`.txt`): one path per line, relative to the list file's folder; blank lines and
  lines starting with `#` are skipped;
- a single video file;
- a glob pattern (`raw/**/*.mp4`; `**` recurses): the matching video files.

Video ids come from `video_id_for(path, root)`, where root is the folder, the list file's folder or
the glob's fixed prefix, so an input gets the same id in every run. Episodes of a dataset get
`<id of the file holding them>-ep<index>`.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from worldfm.curate.task import VideoTask, video_id_for
from worldfm.errors import WorldfmError

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v")
LIST_SUFFIXES = (".txt",)


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _file_tasks(files: list[Path], root: Path) -> list[VideoTask]:
    tasks = [VideoTask(video_id=video_id_for(f, root), source=str(f)) for f in files]
    seen: dict[str, str] = {}
    for task in tasks:
        if task.video_id in seen:
            raise WorldfmError(
                f"{task.source}: listed twice (same id {task.video_id!r} as {seen[task.video_id]}); "
                "each input video must appear once"
            )
        seen[task.video_id] = task.source
    return tasks


def _folder(root: Path) -> list[VideoTask]:
    files = sorted(p for p in root.rglob("*") if _is_video(p) and not _hidden(p, root))
    if not files:
        raise WorldfmError(f"{root}: no video files ({', '.join(VIDEO_SUFFIXES)}) found in this folder")
    return _file_tasks(files, root)


def _list_file(path: Path) -> list[VideoTask]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldfmError(f"{path}: cannot read the list file ({exc})") from exc
    root = path.parent
    files = []
    for n, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        file = Path(entry) if os.path.isabs(entry) else root / entry
        if not file.is_file():
            raise WorldfmError(f"{path}:{n}: {entry!r} is not a file (paths are relative to the list file)")
        files.append(file)
    if not files:
        raise WorldfmError(f"{path}: the list file names no videos")
    return _file_tasks(files, root)


def _glob_root(pattern: str) -> Path:
    """The pattern's longest leading folder without wildcards (ids are relative to it)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _glob(pattern: str) -> list[VideoTask]:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if _is_video(Path(p)))
    if not files:
        raise WorldfmError(
            f"{pattern}: the glob pattern matches no video files ({', '.join(VIDEO_SUFFIXES)})"
        )
    return _file_tasks(files, _glob_root(pattern))


def _lerobot(root: Path) -> list[VideoTask]:
    from worldfm.data.sources import LeRobotSource

    source = LeRobotSource(root)
    tasks = []
    # The source keeps each episode's video file and first frame privately; read them from there
    # rather than re-parsing the dataset layout (both LeRobot v2.x and v3.0 are handled by it).
    for record, episode in zip(source.records(), source._episodes, strict=True):
        video = root / episode.video_file
        start_s = episode.video_start / source.fps
        meta: dict[str, Any] = {
            "kind": "lerobot",
            "dataset": str(root),
            "camera": source.camera,
            "episode_index": episode.index,
            "task": record.caption,
            "caption": record.caption,
            "range": [start_s, start_s + record.num_frames / source.fps],
        }
        video_id = f"{video_id_for(video, root)}-ep{episode.index:06d}"
        tasks.append(VideoTask(video_id=video_id, source=str(video), meta=meta))
    return tasks


def _worldfm_dataset(root: Path) -> list[VideoTask]:
    from worldfm.data.episodes import EpisodeDataset

    dataset = EpisodeDataset(root)
    rows = dataset.rows()
    tasks = []
    for i, (key, record) in enumerate(zip(dataset.keys, dataset.records(), strict=True)):
        shard = root / rows[i]["shard"]
        meta = {"kind": "worldfm", "episode": i, "episode_key": key, "caption": record.caption}
        tasks.append(VideoTask(video_id=f"{video_id_for(shard, root)}-{key}", source=str(root), meta=meta))
    if not tasks:
        raise WorldfmError(f"{root}: the worldfm dataset holds no episodes")
    return tasks


def ingest(spec: str | os.PathLike[str]) -> list[VideoTask]:
    """The tasks of input `spec` (folder, glob, list file, video file, LeRobot or worldfm dataset),
    sorted by video id, with empty `work_dir` (the pipeline sets it). Raises `WorldfmError` when the
    input does not exist or holds no videos (`DatasetError` for a malformed dataset)."""
    text = os.fspath(spec)
    if not text:
        raise WorldfmError("empty input spec; expected a folder, glob, list file or dataset folder")
    path = Path(text)
    if path.is_dir():
        if (path / "dataset.json").is_file():
            tasks = _worldfm_dataset(path)
        elif (path / "meta" / "info.json").is_file():
            tasks = _lerobot(path)
        else:
            tasks = _folder(path)
    elif path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            tasks = _list_file(path)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            tasks = _file_tasks([path], path.parent)
        else:
            raise WorldfmError(
                f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}) or list file ({', '.join(LIST_SUFFIXES)})"
            )
    elif glob.has_magic(text):
        tasks = _glob(text)
    else:
        raise WorldfmError(
            f"{path}: input does not exist; expected a folder, glob, list file, video or dataset folder"
        )
    return sorted(tasks, key=lambda t: t.video_id)
