"""Video files through PyAV: probe, read (whole or an exact frame range) and atomic write.

Frames at this edge are `T H W C` uint8 RGB numpy arrays. Every failure a user can cause
(missing, empty, corrupt or non-video file; bad frame range; bad array) raises `VideoError`
naming the path and the reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from worldfm.errors import VideoError

# Container suffix -> (default codec, pixel format). H.264 in mp4, VP9 in webm.
_CODECS: dict[str, tuple[str, str]] = {
    ".mp4": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
}


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` reports about a file. `duration` is in seconds."""

    path: str
    codec: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    container: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoError(path, "file does not exist")
    if path.is_dir():
        raise VideoError(path, "is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(path, f"not a readable video ({exc.__class__.__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "contains no video stream")
    return container


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Return codec, size, fps, frame count and duration of a video file.

    The frame count comes from the container header when it has one and is otherwise counted by
    demuxing packets (no decoding), so it is exact for the files worldfm writes.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        count = int(stream.frames or 0)
        if count <= 0:
            count = sum(1 for p in container.demux(stream) if p.size > 0)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = count / fps if fps > 0 else 0.0
        if count <= 0:
            raise VideoError(path, "video stream has no frames")
        return VideoInfo(
            path=str(path),
            codec=stream.codec_context.name,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=fps,
            num_frames=count,
            duration=duration,
            container=container.format.name,
        )
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"corrupt video ({exc})") from exc
    finally:
        container.close()


def iter_frames(path: str | os.PathLike[str], start: int = 0, end: int | None = None) -> Iterator[np.ndarray]:
    """Yield decoded frames `start <= i < end` as (H, W, 3) uint8 RGB, in order.

    Frames are counted in decode order from the first frame, so indices are exact regardless of
    timestamps; decoding stops as soon as `end` is reached.
    """
    path = Path(path)
    if start < 0 or (end is not None and end < start):
        raise VideoError(path, f"bad frame range [{start}, {end})")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        for frame in container.decode(stream):
            if end is not None and index >= end:
                break
            if index >= start:
                yield frame.to_ndarray(format="rgb24")
            index += 1
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"corrupt video: decoding failed at frame {index} ({exc})") from exc
    finally:
        container.close()


def read_video(path: str | os.PathLike[str], start: int = 0, end: int | None = None) -> np.ndarray:
    """Decode frames `[start, end)` (all frames by default) into a (T, H, W, 3) uint8 RGB array.

    Raises `VideoError` if the file cannot be decoded or holds fewer than `end` frames.
    """
    frames = list(iter_frames(path, start, end))
    if not frames:
        raise VideoError(path, f"no frames decoded in range [{start}, {end})")
    if end is not None and len(frames) != end - start:
        raise VideoError(path, f"asked for frames [{start}, {end}) but the video ends after {start + len(frames)}")
    return np.stack(frames)


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float = 10.0,
    codec: str | None = None,
    crf: int = 18,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode (T, H, W, 3) uint8 RGB frames to `path` atomically (temp file in the same folder, then rename).

    The container follows the suffix (.mp4 -> H.264, .webm -> VP9 unless `codec` says otherwise).
    Odd heights/widths are rejected because yuv420p needs even sizes. `crf` sets quality
    (lower is better; 18 is visually lossless for H.264). Returns the final path.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VideoError(path, f"frames must be a (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if t == 0:
        raise VideoError(path, "no frames to write")
    if h % 2 or w % 2:
        raise VideoError(path, f"height and width must be even for yuv420p, got {h}x{w}")
    suffix = path.suffix.lower()
    if suffix not in _CODECS and codec is None:
        raise VideoError(path, f"unknown container {suffix!r}; expected one of {sorted(_CODECS)}")
    default_codec, pix_fmt = _CODECS.get(suffix, (codec, "yuv420p"))
    codec = codec or default_codec
    if fps <= 0:
        raise VideoError(path, f"fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        opts = {"crf": str(crf)}
        if codec == "libvpx-vp9":
            opts.update({"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
        elif codec == "libx264":
            opts.update({"preset": "veryfast"})
        opts.update(options or {})
        with av.open(tmp_name, mode="w", format=suffix.lstrip(".").replace("mkv", "matroska")) as out:
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.options = opts
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(tmp_name, path)
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"encoding with {codec} failed ({exc})") from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def encode_video_bytes(frames: np.ndarray, fps: float = 10.0, suffix: str = ".mp4", crf: int = 18) -> bytes:
    """Encode frames to an in-memory video file (used for dataset shards). Same rules as `write_video`."""
    with tempfile.TemporaryDirectory() as tmp:
        target = write_video(Path(tmp) / f"clip{suffix}", frames, fps=fps, crf=crf)
        return target.read_bytes()


def decode_video_bytes(data: bytes, suffix: str = ".mp4", start: int = 0, end: int | None = None) -> np.ndarray:
    """Decode an in-memory video file into (T, H, W, 3) uint8 RGB frames `[start, end)`."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        return read_video(tmp.name, start, end)
