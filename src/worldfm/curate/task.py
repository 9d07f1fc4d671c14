"""What flows through the curation pipeline: one `VideoTask` per source video, holding its `Clip`s.

Per-video stages fill the task in (probe info, clips, clip files, scores, captions, embeddings);
corpus-wide stages (deduplication, sharding) then see every task at once. Tasks are plain data and
round-trip through JSON exactly, so a finished video is saved as `task.json` in its work folder and
a restarted run reuses it instead of redoing the work.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worldfm.errors import ConfigError

TASK_FORMAT_VERSION = 1


@dataclass
class Clip:
    """One clip cut from a source video.

    clip_id: `<video_id>-<index:04d>`, stable across runs. start_frame/end_frame: half-open frame
    range in the source; start_s/end_s: the same in seconds. path: the transcoded clip file (None
    before the transcode stage). scores: each filter's score (name -> float). filtered: why the clip
    was dropped (None while kept), e.g. "motion: 0.0003 < 0.001". caption: text or None.
    embedding: a unit-norm vector as a list of floats, or None. meta: extra JSON (e.g. the shot
    detector's boundary kind).
    """

    clip_id: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    path: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    filtered: str | None = None
    caption: str | None = None
    embedding: list[float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        return self.filtered is None

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame

    def drop(self, stage: str, reason: str) -> None:
        """Filter the clip out; the first reason wins (later stages skip dropped clips)."""
        if self.filtered is None:
            self.filtered = f"{stage}: {reason}"


@dataclass
class StageError:
    """A stage failed on a whole video: the video is quarantined with this record."""

    stage: str
    error: str


@dataclass
class VideoTask:
    """One source video on its way through the pipeline.

    video_id: stable id (`video_id_for`). source: the input path as given. work_dir: folder for
    this video's intermediate files (clips). info: probe results (fps, frames, size, codec,
    duration). clips: see `Clip`. error: set when a stage failed on the whole video (quarantined).
    timings: seconds per stage. meta: extra JSON from ingest (e.g. a LeRobot episode's task text).
    """

    video_id: str
    source: str
    work_dir: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    clips: list[Clip] = field(default_factory=list)
    error: StageError | None = None
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_clips(self) -> list[Clip]:
        return [c for c in self.clips if c.kept]

    def to_dict(self) -> dict[str, Any]:
        return {"_format_version": TASK_FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoTask:
        data = dict(data)
        version = data.pop("_format_version", None)
        if version != TASK_FORMAT_VERSION:
            raise ConfigError(f"task format version {version!r} is not {TASK_FORMAT_VERSION}")
        clips = [Clip(**c) for c in data.pop("clips", [])]
        error = data.pop("error", None)
        return cls(**data, clips=clips, error=StageError(**error) if error else None)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the task as JSON atomically (temp file, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VideoTask:
        return cls.from_dict(json.loads(Path(path).read_text()))


def video_id_for(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> str:
    """A stable, filesystem-safe id: the file's stem plus a hash of its path relative to `root`
    and its size, so the same input gets the same id in every run and on every machine."""
    p = Path(path)
    rel = os.path.relpath(p, root) if root is not None else p.name
    size = p.stat().st_size if p.exists() else -1
    digest = hashlib.sha1(f"{rel}|{size}".encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in p.stem)[:40] or "video"
    return f"{stem}-{digest}"
