"""Probe stage: read each video's header and packets, quarantine what is not a usable video.

Fills `task.info`:

- `path`: the file later stages decode (the source itself, or for a worldfm dataset episode the
  mp4 member extracted to `work_dir/source.mp4`);
- `codec`, `container`, `width`, `height`, `fps` of the file;
- `start_frame`, `end_frame`: the half-open frame range of the file to curate (the whole file, or
  the part that `task.meta["range"] = [start_s, end_s]` names, e.g. one LeRobot episode of a v3
  video holding many; frame = round(seconds * fps));
- `num_frames`, `duration_s`: of that range; `source_num_frames`: of the whole file.

A missing, empty, corrupt, truncated or non-video file raises `VideoError` (the worker quarantines
the video with the reason). A video shorter than `min_duration_s` is dropped (returns None, the
reason in `task.meta["dropped"]`).

`decode_range` is how later stages read a source range: frames are indexed as `worldfm.video.io`
counts them (presentation order from the first frame), but a range far into a file (e.g. episode
90 of a LeRobot v3 video) is reached by seeking to the keyframe before it instead of decoding
everything in front of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError, VideoError

EXTRACTED_NAME = "source.mp4"
SEEK_MIN_FRAMES = 250  # ranges starting this far in are reached by seeking (decoding costs more)
_REORDER = 64  # packets come in decode order; a frame's presentation slot is never this far off


def _sorted_pts(container: Any, stream: Any, limit: int | None) -> list[int] | None:
    """Presentation timestamps of the first `limit` packets (all if None), sorted: entry k is the
    pts of frame k. None if a packet has no pts or two share one (then frames must be counted)."""
    pts = []
    for packet in container.demux(stream):
        if packet.size <= 0:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if limit is not None and len(pts) >= limit:
            break
    pts.sort()
    return pts if len(set(pts)) == len(pts) else None


def _seek_range(container: Any, stream: Any, start: int, end: int | None) -> Iterator[tuple[int, Any]] | None:
    """Frames `[start, end)` reached by seeking, or None when the file does not allow it exactly."""
    pts = _sorted_pts(container, stream, None if end is None else end + _REORDER)
    if pts is None or len(pts) <= start:
        return None
    index_of = {p: i for i, p in enumerate(pts)}
    target = pts[start]
    container.seek(target, stream=stream, backward=True)  # lands on the keyframe at or before it
    frames = (f for f in container.decode(stream) if f.pts is None or f.pts >= target)
    first = next(frames, None)
    if first is None or index_of.get(first.pts) != start:
        return None

    def run() -> Iterator[tuple[int, Any]]:
        for expected, frame in enumerate(itertools.chain([first], frames), start=start):
            if end is not None and expected >= end:
                return
            if index_of.get(frame.pts) != expected:
                raise ValueError(f"frame with pts {frame.pts} is not frame {expected} after seeking")
            yield expected, frame

    return run()


def decode_range(
    container: Any, stream: Any, start: int = 0, end: int | None = None, seek_min: int = SEEK_MIN_FRAMES
) -> Iterator[tuple[int, Any]]:
    """Yield `(index, av.VideoFrame)` for frames `start <= index < end` (end None: to the last) of an
    open PyAV input `container`'s video `stream`, in order.

    Frame k is the k-th decoded frame, exactly as `worldfm.video.io.read_video` counts. When
    `start >= seek_min`, the frame index is mapped to timestamps by reading packet headers (no
    decoding) and decoding starts at the keyframe before `start`; a file whose timestamps cannot
    place frames exactly is decoded from its beginning instead. Errors are PyAV's (callers wrap them).
    """
    if start >= seek_min:
        seeked = _seek_range(container, stream, start, end)
        if seeked is not None:
            yield from seeked
            return
        container.seek(0)  # back to the beginning: count frames instead
    for index, frame in enumerate(container.decode(stream)):
        if end is not None and index >= end:
            return
        if index >= start:
            yield index, frame


def video_path(task: VideoTask) -> Path:
    """The video file to decode for `task` (after probe: `task.info["path"]`)."""
    if "path" not in task.info:
        raise ConfigError(f"video {task.video_id}: no probe info; run the 'probe' stage first")
    return Path(task.info["path"])


def frame_range(task: VideoTask) -> tuple[int, int]:
    """The half-open source frame range `[start, end)` to curate (set by probe)."""
    if "start_frame" not in task.info:
        raise ConfigError(f"video {task.video_id}: no probe info; run the 'probe' stage first")
    return int(task.info["start_frame"]), int(task.info["end_frame"])


def _extract_episode(task: VideoTask) -> Path:
    """Write the mp4 member of a worldfm dataset episode to work_dir (atomically) and return it."""
    from worldfm.data.episodes import EpisodeDataset
    from worldfm.video.io import atomic_output

    if not task.work_dir:
        raise ConfigError(f"video {task.video_id}: a worldfm dataset episode needs a work_dir to extract to")
    target = Path(task.work_dir) / EXTRACTED_NAME
    if not target.is_file():
        data = EpisodeDataset(task.source).read_member(int(task.meta["episode"]), "mp4")
        with atomic_output(target) as tmp:
            tmp.write_bytes(data)
    return target


def _range_frames(task: VideoTask, path: Path, fps: float, total: int) -> tuple[int, int]:
    span = task.meta.get("range")
    if span is None:
        return 0, total
    if not (isinstance(span, (list, tuple)) and len(span) == 2):
        raise VideoError(path, f"meta range must be [start_s, end_s], got {span!r}")
    start, end = round(float(span[0]) * fps), round(float(span[1]) * fps)
    if not 0 <= start < end <= total:
        raise VideoError(
            path,
            f"range [{span[0]}, {span[1]}] s is frames [{start}, {end}), outside the video's {total} frames",
        )
    return start, end


@register_stage("probe")
@dataclass
class Probe(Stage):
    """Probe each video (`worldfm.video.io.probe_video`: packets counted, no decoding).

    min_duration_s: videos (or ranges) shorter than this many seconds are dropped (0 keeps all).
    """

    min_duration_s: float = 0.0

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ("info",)

    def __post_init__(self) -> None:
        if isinstance(self.min_duration_s, bool) or not isinstance(self.min_duration_s, (int, float)):
            raise ConfigError(f"probe: min_duration_s must be a number, got {self.min_duration_s!r}")
        if not self.min_duration_s >= 0:
            raise ConfigError(f"probe: min_duration_s must be >= 0, got {self.min_duration_s}")

    def process(self, task: VideoTask) -> VideoTask | None:
        from worldfm.video.io import probe_video

        path = _extract_episode(task) if task.meta.get("kind") == "worldfm" else Path(task.source)
        info = probe_video(path)
        if not info.fps > 0:
            raise VideoError(path, "video stream has no frame rate")
        start, end = _range_frames(task, path, info.fps, info.num_frames)
        duration = (end - start) / info.fps if task.meta.get("range") is not None else info.duration
        task.info = {
            "path": str(path),
            "codec": info.codec,
            "container": info.container,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "start_frame": start,
            "end_frame": end,
            "num_frames": end - start,
            "duration_s": duration,
            "source_num_frames": info.num_frames,
        }
        if duration < self.min_duration_s:
            task.meta["dropped"] = f"probe: {duration:.3f} s < min_duration_s {self.min_duration_s}"
            return None
        return task
