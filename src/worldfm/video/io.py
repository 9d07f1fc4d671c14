"""Video files through PyAV: probe, read (whole or an exact frame range) and atomic write.

Frames at this edge are `T H W C` uint8 RGB numpy arrays. Every failure a user can cause
(missing, empty, corrupt, truncated or non-video file; bad frame range; bad array; failed encode)
raises `VideoError` naming the path (or `<memory ...>` for bytes) and the reason.

Frame indices are counted in presentation order from the first decoded frame, never derived from
timestamps, so `read_video(path, k, k + 1)` is frame k of the file exactly. Ranges are decoded from
the start of the stream (no seeking): exact and simple, and fast at the sizes worldfm uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import av
import numpy as np

from worldfm.errors import VideoError

# Container suffix -> (muxer name, default codec). H.264 in mp4/mkv, VP9 in webm. All use yuv420p.
_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
}
# yuv420p plays everywhere; yuv444p keeps full-resolution colour (for dataset shards of small frames,
# where halved chroma costs several grey levels) but does not play in browsers.
PIX_FMTS = ("yuv420p", "yuv444p")
# Errors PyAV raises for unreadable input or failed encodes (FFmpegError subclasses OSError or
# ValueError; unknown codecs and bad options raise plain ValueError/TypeError).
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, TypeError, UnicodeDecodeError)

Source = str | IO[bytes]  # a filename or an in-memory file for av.open


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` reports about a file.

    `codec` is the decoder name (`h264`, `vp9`, ...), `container` the concrete container name
    (`mp4`, `webm`, `matroska`, ...), `fps` frames per second, `duration` seconds.
    """

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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it onto `path`, on any error delete it.

    The temporary file lives in the same folder (so the rename is atomic on POSIX), is hidden, keeps
    the suffix of `path`, and gets the permissions a normal new file would (umask applied). An
    existing `path` is untouched unless the body succeeds. Parent folders are created.
    """
    path = Path(path)
    if path.is_dir():
        raise VideoError(path, "is a directory, expected a file path to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    # O_EXCL: never clobber someone else's temp file; mode 0o666 lets the umask decide permissions.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())  # data on disk before the rename makes it visible
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "file does not exist")
    if path.is_dir():
        raise VideoError(path, "is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty")


def _open(source: Source, label: str) -> av.container.InputContainer:
    """Open `source` for reading and check it holds a video stream (not a still image)."""
    try:
        container = av.open(source, mode="r")
    except _AV_ERRORS as exc:
        raise VideoError(label, f"not a readable video ({_describe(exc)})") from exc
    fmt = container.format.name
    if not container.streams.video:
        container.close()
        raise VideoError(label, "contains no video stream")
    if fmt.endswith("_pipe") or fmt == "image2":
        container.close()
        raise VideoError(label, f"is a still image ({fmt}), not a video")
    return container


def _describe(exc: BaseException) -> str:
    # FFmpeg messages end with ": '<none>'" or the filename; keep the useful part only.
    text = str(exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else exc)
    return f"{exc.__class__.__name__}: {text}"


def _container_name(container: av.container.InputContainer, suffix: str) -> str:
    """Concrete container name: the demuxer lists aliases ("mov,mp4,m4a,..."); prefer the file's suffix."""
    names = container.format.name.split(",")
    suffix = suffix.lower().lstrip(".")
    return suffix if suffix in names else names[0]


class _Completeness:
    """What the headers promise (an mp4 frame index, or a webm/mkv duration) against the data found.

    Decoders stop quietly where a file was cut, so truncation is found by comparing: the frame count
    with the index when there is one, else the time span of the packets with the header duration
    (timestamps, not a count, so variable-frame-rate files are judged correctly).
    """

    def __init__(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        self.frames = int(stream.frames or 0)
        self.fps = float(stream.average_rate or 0.0)
        if stream.duration is not None and stream.time_base is not None:
            self.seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None and len(container.streams) == 1:
            # The container duration covers every stream; only trust it when video is the only one.
            self.seconds = container.duration / av.time_base
        else:
            self.seconds = 0.0
        self.packets = 0
        self._first: float | None = None
        self._end: float | None = None

    def add(self, packet: av.Packet) -> None:
        if packet.size <= 0:
            return
        self.packets += 1
        if packet.pts is not None and packet.time_base is not None:
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            self._first = start if self._first is None else min(self._first, start)
            self._end = end if self._end is None else max(self._end, end)

    def shortfall(self, frames: int) -> str | None:
        """Why the data falls short of the header given `frames` frames found, or None if it does not."""
        if self.frames:
            return f"header promises {self.frames} frames, found {frames}" if frames < self.frames else None
        if self.seconds and self.fps > 0 and self._first is not None and self._end is not None:
            span = self._end - self._first
            if span < self.seconds - 0.5 / self.fps:
                return f"header says {self.seconds:.3f} s, data ends at {span:.3f} s"
        return None


def _probe(source: Source, label: str, suffix: str) -> VideoInfo:
    container = _open(source, label)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        # Count packets (one per frame) without decoding: exact, and it reads the whole payload, so
        # a cut file shows up here even when its header (mp4 index, webm duration) looks complete.
        found = _Completeness(container, stream)
        for packet in container.demux(stream):
            found.add(packet)
        count = found.packets
        shortfall = found.shortfall(count)
        if shortfall:
            raise VideoError(label, f"truncated video: {shortfall}")
        if count <= 0:
            raise VideoError(label, "video stream has no frames")
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = count / fps if fps > 0 else 0.0
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise VideoError(label, f"video stream has no frame size ({width}x{height})")
        return VideoInfo(
            path=label,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            fps=fps,
            num_frames=count,
            duration=duration,
            container=_container_name(container, suffix),
        )
    except _AV_ERRORS as exc:
        raise VideoError(label, f"corrupt video ({_describe(exc)})") from exc
    finally:
        container.close()


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Return codec, size, fps, frame count and duration of a video file.

    The frame count is the number of packets in the video stream, read without decoding (I/O bound,
    much cheaper than decoding), so it is exact for the files worldfm writes. A file whose packets
    stop short of what its header promises (mp4 frame count, webm duration) is reported as truncated.
    """
    path = Path(path)
    _check_path(path)
    return _probe(str(path), str(path), path.suffix)


def _check_range(label: str, start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end <= start):
        raise VideoError(label, f"bad frame range [{start}, {end}): need 0 <= start < end")


_THREADED_DECODE_PIXELS = 256 * 256


def _decode(source: Source, label: str, start: int, end: int | None) -> Iterator[np.ndarray]:
    container = _open(source, label)
    index = 0
    try:
        stream = container.streams.video[0]
        # Frame threading pays off only on large frames; on small ones its start-up costs more.
        if stream.codec_context.width * stream.codec_context.height >= _THREADED_DECODE_PIXELS:
            stream.thread_type = "AUTO"
        found = _Completeness(container, stream)
        for packet in container.demux(stream):  # ends with an empty packet that flushes the decoder
            found.add(packet)
            for frame in packet.decode():
                if end is not None and index >= end:
                    return
                if index >= start:
                    yield frame.to_ndarray(format="rgb24")
                index += 1
        # Only a read to the end can tell a truncated file; a range that ended earlier was served.
        shortfall = found.shortfall(index)
        if shortfall and (end is None or end > index):
            raise VideoError(label, f"truncated video: {shortfall}")
    except _AV_ERRORS as exc:
        raise VideoError(
            label, f"corrupt video: decoding failed at frame {index} ({_describe(exc)})"
        ) from exc
    finally:
        container.close()


def iter_frames(path: str | os.PathLike[str], start: int = 0, end: int | None = None) -> Iterator[np.ndarray]:
    """Yield decoded frames `start <= i < end` (to the last frame when `end` is None) as (H, W, 3) uint8 RGB.

    The path and range are checked at call time; the file is opened on the first `next()`.
    Decoding stops as soon as `end` is reached. Running out of frames before `end` is not an error
    here (`read_video` checks the count); a truncated or corrupt file is.
    """
    path = Path(path)
    _check_range(str(path), start, end)
    _check_path(path)
    return _decode(str(path), str(path), start, end)


def _collect(frames: Iterator[np.ndarray], label: str, start: int, end: int | None) -> np.ndarray:
    out = list(frames)
    asked = f"frames [{start}, {end})" if end is not None else f"frames from index {start}"
    if not out:
        raise VideoError(label, f"asked for {asked} but the video has at most {start} frames")
    if end is not None and len(out) != end - start:
        raise VideoError(label, f"asked for {asked} but the video has only {start + len(out)} frames")
    return np.stack(out)


def read_video(path: str | os.PathLike[str], start: int = 0, end: int | None = None) -> np.ndarray:
    """Decode frames `[start, end)` (to the last frame when `end` is None) into a (T, H, W, 3) uint8 RGB array.

    Raises `VideoError` if the file cannot be decoded, is truncated, or holds fewer than `end` frames.
    """
    label = str(path)
    return _collect(iter_frames(path, start, end), label, start, end)


def _check_frames(label: str, frames: np.ndarray, fps: float, pix_fmt: str = "yuv420p") -> np.ndarray:
    if pix_fmt not in PIX_FMTS:
        raise VideoError(label, f"pix_fmt must be one of {PIX_FMTS}, got {pix_fmt!r}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VideoError(
            label, f"frames must be a (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}"
        )
    t, h, w, _ = frames.shape
    if t == 0:
        raise VideoError(label, "no frames to write")
    if h % 2 or w % 2:
        raise VideoError(label, f"height and width must be even, got {h}x{w}")
    if not fps > 0:  # also rejects NaN
        raise VideoError(label, f"fps must be positive, got {fps}")
    return np.ascontiguousarray(frames)


def _resolve_format(label: str, suffix: str, codec: str | None) -> tuple[str, str]:
    suffix = suffix.lower()
    if suffix not in _FORMATS:
        raise VideoError(label, f"unknown container {suffix!r}; expected one of {sorted(_FORMATS)}")
    muxer, default_codec = _FORMATS[suffix]
    return muxer, codec or default_codec


def _x264_deterministic() -> dict[str, str]:
    """libx264 options that make its output repeat exactly on this CPU ({} where nothing is needed).

    On CPUs with AVX-512 (measured on an AMD EPYC), libx264's AVX-512 kernels made the same frames
    encode to different streams from run to run (3 to 8 of 100 encodes of one small clip; curated
    shards differed between runs). Capped at AVX2, which every AVX-512 CPU has with the other sets
    named, the encodes repeat exactly and as fast. x264 trusts the list, so it is only given where
    AVX-512 is present (numpy's CPU feature table tells)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # another numpy layout: leave x264 its own detection
        return {}
    if not features.get("AVX512F"):
        return {}
    return {"x264-params": "asm=MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,LZCNT,AVX,FMA3,BMI1,BMI2,AVX2"}


X264_DETERMINISTIC = _x264_deterministic()


def _codec_options(label: str, codec: str, crf: int, options: dict[str, str] | None) -> dict[str, str]:
    # x264 clamps an out-of-range crf silently; refuse it instead (H.264 0-51, VP9 0-63).
    top = 51 if codec == "libx264" else 63
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= top:
        raise VideoError(label, f"crf must be an integer in [0, {top}] for {codec}, got {crf!r}")
    opts = {"crf": str(crf)}
    if codec == "libvpx-vp9":
        # b=0 makes crf a pure quality target; realtime/cpu-used 8 keep encoding fast on 2 cores.
        opts.update({"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
    elif codec == "libx264":
        opts.update({"preset": "veryfast", **X264_DETERMINISTIC})
    opts.update(options or {})
    return opts


def _encode(
    target: Source,
    label: str,
    muxer: str,
    codec: str,
    frames: np.ndarray,
    fps: float,
    options: dict[str, str],
    pix_fmt: str = "yuv420p",
) -> None:
    _, h, w, _ = frames.shape
    try:
        with av.open(target, mode="w", format=muxer) as out:
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.options = options
            for frame in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(stream.encode())  # flush delayed frames
    except _AV_ERRORS as exc:
        raise VideoError(label, f"encoding with {codec} failed ({_describe(exc)})") from exc


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float = 10.0,
    codec: str | None = None,
    crf: int = 18,
    options: dict[str, str] | None = None,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Encode (T, H, W, 3) uint8 RGB frames to `path` atomically (temp file in the same folder, then rename).

    The container follows the suffix (.mp4 and .mkv -> H.264, .webm -> VP9, unless `codec` says
    otherwise); pixels are stored as `pix_fmt` (yuv420p, or yuv444p for full-resolution colour);
    height and width must be even. `crf` sets quality
    (lower is better; 18 is visually lossless for H.264, 0 is lossless in YUV). `options` are extra
    encoder options and override the defaults. On any failure no file is left behind and an
    existing `path` is untouched. Returns the final path.
    """
    path = Path(path)
    label = str(path)
    frames = _check_frames(label, frames, fps, pix_fmt)
    muxer, codec = _resolve_format(label, path.suffix, codec)
    opts = _codec_options(label, codec, crf, options)
    try:
        with atomic_output(path) as tmp:
            _encode(str(tmp), label, muxer, codec, frames, fps, opts, pix_fmt)
    except OSError as exc:  # folder not writable, disk full, ...
        raise VideoError(label, f"cannot write ({exc.__class__.__name__}: {exc.strerror or exc})") from exc
    return path


def encode_video_bytes(
    frames: np.ndarray, fps: float = 10.0, suffix: str = ".mp4", crf: int = 18, pix_fmt: str = "yuv420p"
) -> bytes:
    """Encode (T, H, W, 3) uint8 RGB frames to the bytes of a video file, in memory (used for dataset shards).

    Same rules as `write_video`; `suffix` picks the container (.mp4, .mkv or .webm).
    """
    label = f"<memory {suffix}>"
    frames = _check_frames(label, frames, fps, pix_fmt)
    muxer, codec = _resolve_format(label, suffix, None)
    buffer = io.BytesIO()
    _encode(buffer, label, muxer, codec, frames, fps, _codec_options(label, codec, crf, None), pix_fmt)
    return buffer.getvalue()


def decode_video_bytes(
    data: bytes, suffix: str = ".mp4", start: int = 0, end: int | None = None
) -> np.ndarray:
    """Decode the bytes of a video file, in memory, into (T, H, W, 3) uint8 RGB frames `[start, end)`.

    The container is detected from the data; `suffix` only labels error messages. Same errors as
    `read_video`.
    """
    label = f"<memory {suffix}, {len(data)} bytes>"
    _check_range(label, start, end)
    if not data:
        raise VideoError(label, "no data (empty bytes)")
    return _collect(_decode(io.BytesIO(data), label, start, end), label, start, end)


def probe_video_bytes(data: bytes, suffix: str = ".mp4") -> VideoInfo:
    """`probe_video` for the bytes of a video file held in memory; `path` in the result is a `<memory>` label."""
    label = f"<memory {suffix}, {len(data)} bytes>"
    if not data:
        raise VideoError(label, "no data (empty bytes)")
    return _probe(io.BytesIO(data), label, suffix)
