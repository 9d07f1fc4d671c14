"""Reading a transcoded clip's frames for the filter, caption and embed stages (no stage here).

The stages look at a few frames of each clip, at low resolution, so they share one reader: open the
clip file with PyAV, decode in order (exact frame indices, no seeking, like `worldfm.video.io`) and
let the caller convert only the frames it wants. Failures are `VideoError`s naming the clip file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from worldfm.curate.task import Clip
from worldfm.errors import VideoError

_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, TypeError)


def clip_file(clip: Clip, stage: str) -> Path:
    """The clip's transcoded file; a clip without one means the transcode stage did not run."""
    if clip.path is None:
        raise VideoError(
            clip.clip_id, f"clip has no transcoded file (clip.path is None); run 'transcode' before {stage!r}"
        )
    path = Path(clip.path)
    if not path.is_file():
        raise VideoError(path, f"clip file of {clip.clip_id} does not exist")
    return path


@dataclass
class ClipReader:
    """An open clip file: its stream facts and a frame iterator.

    width, height: frame size in pixels; fps: frames per second; num_frames: frames in the file
    (from the mp4 index, or counted from packets when the container has none).
    """

    path: Path
    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    width: int
    height: int
    fps: float
    num_frames: int

    def frames(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) for every frame in presentation order; convert only what you keep."""
        index = 0
        try:
            for frame in self.container.decode(self.stream):
                yield index, frame
                index += 1
        except _AV_ERRORS as exc:
            raise VideoError(
                self.path, f"decoding failed at frame {index} ({exc.__class__.__name__}: {exc})"
            ) from exc


def _count_packets(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)


@contextlib.contextmanager
def open_clip(path: Path, options: dict[str, str] | None = None) -> Iterator[ClipReader]:
    """Open a clip file for decoding; `options` are decoder options (e.g. {"flags2": "+export_mvs"})."""
    try:
        container = av.open(str(path))
    except _AV_ERRORS as exc:
        raise VideoError(path, f"not a readable video ({exc.__class__.__name__}: {exc})") from exc
    try:
        reader = _reader(path, container, options)
    except _AV_ERRORS as exc:
        container.close()
        raise VideoError(path, f"corrupt video ({exc.__class__.__name__}: {exc})") from exc
    except BaseException:
        container.close()
        raise
    try:
        yield reader
    finally:
        container.close()


def _reader(path: Path, container: av.container.InputContainer, options: dict[str, str] | None) -> ClipReader:
    if not container.streams.video:
        raise VideoError(path, "contains no video stream")
    stream = container.streams.video[0]
    if options:
        stream.codec_context.options = dict(options)
    fps = float(stream.average_rate or stream.guessed_rate or 0.0)
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width <= 0 or height <= 0 or not fps > 0:
        raise VideoError(path, f"video stream has no usable size or rate ({width}x{height} at {fps} fps)")
    count = int(stream.frames or 0) or _count_packets(path)
    if count <= 0:
        raise VideoError(path, "video stream has no frames")
    return ClipReader(path, container, stream, width, height, fps, count)


def spread_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread evenly over `num_frames` frames (the centres of equal bins),
    fewer when the clip is shorter; sorted and unique."""
    if num_frames <= 0 or count <= 0:
        return []
    k = min(count, num_frames)
    return sorted({int((i + 0.5) * num_frames / k) for i in range(k)})


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) with the longer side at most `max_side`, aspect kept, both even and >= 2."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


def read_frames(
    path: Path, count: int, max_side: int | None = None, fmt: str = "rgb24"
) -> tuple[np.ndarray, list[int], ClipReader]:
    """Decode `count` frames spread over the clip (see `spread_indices`).

    Returns (frames, indices, reader facts): frames (N, h, w, 3) uint8 RGB for fmt "rgb24" or
    (N, h, w) uint8 luma for "gray", downscaled so the longer side is at most `max_side` (native
    size when None).
    """
    with open_clip(path) as reader:
        wanted = spread_indices(reader.num_frames, count)
        size = scaled_size(reader.width, reader.height, max_side) if max_side else None
        out: list[np.ndarray] = []
        got: list[int] = []
        todo = set(wanted)
        for index, frame in reader.frames():
            if index in todo:
                if size is not None and size != (reader.width, reader.height):
                    frame = frame.reformat(width=size[0], height=size[1], interpolation="AREA")
                out.append(frame.to_ndarray(format=fmt))
                got.append(index)
                if len(got) == len(wanted):
                    break
        if not out:
            raise VideoError(path, f"no frames decoded (the index promises {reader.num_frames})")
        return np.stack(out), got, reader
