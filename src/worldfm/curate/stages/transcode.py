"""Transcode stage: write each kept clip as an H.264 mp4 at a target frame rate and resolution.

One decoding pass per video serves every clip: it starts at the first clip (seeking there when it
lies far into the file, see `probe.decode_range`), stops after the last clip's end frame, and each
clip's encoder sees only its own frame range. Frames go from the decoder's YUV straight to the target size in yuv420p
(swscale, area filter), with no RGB round trip.

- fps: target frame rate (None keeps the source rate). Resampling picks source frames by time:
  output frame k of a clip is source frame start + floor(k * src_fps / fps), and a clip of n source
  frames gets max(1, round(n * fps / src_fps)) frames (30 -> 15 fps keeps every other frame).
- resolution: None keeps the source size; an int is the short side; [w, h] is a box the frame is
  fitted into. The aspect ratio is kept, sizes are rounded to even numbers (H.264 4:2:0 needs
  them), and frames are never upscaled unless `upscale` is true.
- crf: x264 quality (0-51, lower is better); preset: x264 speed preset.

Files go to `work_dir/clips/<clip_id>.mp4` (temp file + rename); `clip.path`, `width`, `height` and
`fps` are filled in. Dropped clips are skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages.probe import decode_range, video_path
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, VideoError

CLIPS_DIR = "clips"
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def target_size(
    width: int, height: int, resolution: int | tuple[int, int] | list[int] | None, upscale: bool = False
) -> tuple[int, int]:
    """Output (width, height) for a `width` x `height` source (see the module docstring); even sizes."""
    if resolution is None:
        scale = 1.0
    elif isinstance(resolution, int):
        scale = resolution / min(width, height)
    else:
        box_w, box_h = resolution
        scale = min(box_w / width, box_h / height)
    if not upscale:
        scale = min(scale, 1.0)
    if scale == 1.0:
        # Keep the size; only an odd side is rounded down (never up past the source).
        return max(2, width - width % 2), max(2, height - height % 2)
    return _even(width * scale), _even(height * scale)


class _ClipWriter:
    """An open H.264 encoder for one clip, fed source frames in order; picks the ones it keeps."""

    def __init__(
        self,
        clip: Clip,
        path: Path,
        src_fps: Fraction,
        fps: Fraction,
        size: tuple[int, int],
        crf: int,
        preset: str,
    ) -> None:
        import av

        from worldfm.video.io import X264_DETERMINISTIC, atomic_output

        self.clip, self.path = clip, path
        self.ratio = src_fps / fps  # source frames per output frame
        self.count = max(1, round(clip.num_frames * fps / src_fps))
        self.k = 0  # next output frame
        self.size = size
        self.time_base = 1 / fps
        self._atomic = atomic_output(path)
        tmp = self._atomic.__enter__()
        try:
            self.container = av.open(str(tmp), mode="w", format="mp4")
            self.stream = self.container.add_stream("libx264", rate=fps)
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(crf), "preset": preset, **X264_DETERMINISTIC}
            # One encoder thread: workers already run one per core, and x264's frame threads would
            # delay output by several frames for no gain on short clips.
            self.stream.codec_context.thread_count = 1
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def wants(self, index: int) -> int:
        """How many times source frame `index` is used (0 to skip it; > 1 when raising the rate)."""
        uses = 0
        while self.k + uses < self.count:
            src = self.clip.start_frame + math.floor((self.k + uses) * self.ratio)
            if src != index:
                break
            uses += 1
        return uses

    def add(self, frame: Any, uses: int) -> None:
        import av

        out = frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p", interpolation="AREA")
        for _ in range(uses):
            new = av.VideoFrame.from_ndarray(out.to_ndarray(), format="yuv420p") if uses > 1 else out
            new.pts, new.time_base = self.k, self.time_base
            self.container.mux(self.stream.encode(new))
            self.k += 1

    @property
    def done(self) -> bool:
        return self.k >= self.count

    def close(self) -> None:
        self.container.mux(self.stream.encode())  # flush delayed frames
        self.container.close()
        self._atomic.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        try:
            self.container.close()
        finally:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)


@register_stage("transcode")
@dataclass
class Transcode(Stage):
    """Kept clips -> H.264 mp4 files (see the module docstring for fps, resolution and crf)."""

    fps: float | None = None
    resolution: int | list[int] | None = None
    crf: int = 23
    preset: str = "veryfast"
    upscale: bool = False

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("info", "clips")
    outputs: ClassVar[tuple[str, ...]] = ("clips.path",)

    def __post_init__(self) -> None:
        if self.fps is not None and (
            isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not self.fps > 0
        ):
            raise ConfigError(f"transcode: fps must be a positive number or null (keep), got {self.fps!r}")
        res = self.resolution
        if isinstance(res, tuple):
            self.resolution = res = list(res)  # YAML gives lists; keep one JSON-friendly form
        ok = res is None or (isinstance(res, int) and not isinstance(res, bool) and res >= 2)
        if isinstance(res, list):
            ok = len(res) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in res)
        if not ok:
            raise ConfigError(
                f"transcode: resolution must be null, a short side in pixels >= 2, or [width, height], got {res!r}"
            )
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ConfigError(f"transcode: crf must be an integer in [0, 51], got {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise ConfigError(f"transcode: preset must be one of {X264_PRESETS}, got {self.preset!r}")
        if not isinstance(self.upscale, bool):
            raise ConfigError(f"transcode: upscale must be true or false, got {self.upscale!r}")

    def process(self, task: VideoTask) -> VideoTask:
        import av

        clips = sorted((c for c in task.clips if c.kept), key=lambda c: (c.start_frame, c.clip_id))
        if not clips:
            return task
        source = video_path(task)
        out_dir = Path(task.work_dir) / CLIPS_DIR
        label = str(source)
        try:
            container = av.open(label)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(label, f"not a readable video ({exc})") from exc
        writers: list[_ClipWriter] = []
        pending = list(clips)
        index = 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            src_fps = Fraction(stream.average_rate or Fraction(task.info["fps"])).limit_denominator(1001)
            fps = src_fps if self.fps is None else Fraction(self.fps).limit_denominator(1001)
            size = target_size(
                stream.codec_context.width, stream.codec_context.height, self.resolution, self.upscale
            )
            first, last = clips[0].start_frame, max(c.end_frame for c in clips)
            index = first
            for index, frame in decode_range(container, stream, first, last):
                while pending and pending[0].start_frame == index:
                    clip = pending.pop(0)
                    writers.append(
                        _ClipWriter(
                            clip, out_dir / f"{clip.clip_id}.mp4", src_fps, fps, size, self.crf, self.preset
                        )
                    )
                for writer in writers:
                    uses = writer.wants(index)
                    if uses:
                        writer.add(frame, uses)
                for writer in [w for w in writers if w.done]:
                    writer.close()
                    writers.remove(writer)
                    self._finish(writer, size, fps)
            if writers or pending:
                missing = [w.clip.clip_id for w in writers] + [c.clip_id for c in pending]
                raise VideoError(label, f"video ended after frame {index}, before the end of clips {missing}")
        except BaseException as exc:
            for writer in writers:
                writer.abort(exc)
            container.close()
            if isinstance(exc, (av.error.FFmpegError, OSError, ValueError)) and not isinstance(
                exc, ConfigError
            ):
                raise VideoError(label, f"transcoding failed at frame {index} ({exc})") from exc
            raise
        container.close()
        return task

    @staticmethod
    def _finish(writer: _ClipWriter, size: tuple[int, int], fps: Fraction) -> None:
        clip = writer.clip
        clip.path = str(writer.path)
        clip.width, clip.height = size
        clip.fps = float(fps)
