"""Split stage: cut each video into clips at shot boundaries (or fixed windows).

Per video (within the probed frame range, `task.info["start_frame"]` to `["end_frame"]`):

1. `detect_shots` finds shots with `detector` (see `shot_detectors`);
2. shot detectors only: `trim_s` seconds are cut from each shot end that lies at a detected
   boundary (cosmos-curate crops 0.5 s there, so no transition frames reach a clip); the video's
   own first and last frames are not boundaries and are kept;
3. a shot longer than `max_clip_s` is cut into ceil(len / max_clip_s) windows of near-equal length;
4. a clip shorter than `min_clip_s` is kept in the record but dropped (`clip.filtered`), so the run
   summary lists it.

Clips get ids `<video_id>-<i:04d>` in time order, source frame and second ranges (seconds =
frame / fps of the source), and `meta` {"detector", "shot", "window"}. A video in which no cut is
found is one shot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages.probe import frame_range, video_path
from worldfm.curate.stages.shot_detectors import check_detector, detect_shots, split_evenly
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError


def _number(stage: str, name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{stage}: {name} must be a number >= 0, got {value!r}")


@register_stage("split")
@dataclass
class Split(Stage):
    """Shot detection and clip cutting.

    detector: "transnetv2", "adaptive", "content" or "stride". threshold: the detector's threshold
    (None: its default). min_clip_s / max_clip_s: clip length bounds in seconds (max None: no
    bound). trim_s: seconds cut at each detected boundary. downscale: frame width the
    PySceneDetect detectors see. min_scene_len: their minimum shot length, frames. stride_s:
    window length of the stride detector, seconds.
    """

    detector: str = "adaptive"
    threshold: float | None = None
    min_clip_s: float = 2.0
    max_clip_s: float | None = 60.0
    trim_s: float = 0.5
    downscale: int = 256
    min_scene_len: int = 15
    stride_s: float = 10.0

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("info",)
    outputs: ClassVar[tuple[str, ...]] = ("clips",)

    def __post_init__(self) -> None:
        check_detector(self.detector, self.threshold)  # unknown name / bad threshold -> clear error
        _number("split", "min_clip_s", self.min_clip_s)
        _number("split", "max_clip_s", self.max_clip_s, allow_none=True)
        _number("split", "trim_s", self.trim_s)
        if self.max_clip_s is not None and not self.max_clip_s > 0:
            raise ConfigError(f"split: max_clip_s must be > 0 (or null for no limit), got {self.max_clip_s}")
        if self.max_clip_s is not None and self.max_clip_s < self.min_clip_s:
            raise ConfigError(
                f"split: max_clip_s {self.max_clip_s} is below min_clip_s {self.min_clip_s}; no clip could pass"
            )
        if isinstance(self.downscale, bool) or not isinstance(self.downscale, int) or self.downscale < 16:
            raise ConfigError(
                f"split: downscale must be a frame width in pixels >= 16, got {self.downscale!r}"
            )
        if (
            isinstance(self.min_scene_len, bool)
            or not isinstance(self.min_scene_len, int)
            or self.min_scene_len < 1
        ):
            raise ConfigError(
                f"split: min_scene_len must be an integer >= 1 (frames), got {self.min_scene_len!r}"
            )
        if (
            isinstance(self.stride_s, bool)
            or not isinstance(self.stride_s, (int, float))
            or not self.stride_s > 0
        ):
            raise ConfigError(f"split: stride_s must be a number > 0, got {self.stride_s!r}")

    def setup(self) -> None:
        if self.detector == "transnetv2":
            from worldfm.curate.stages.shot_detectors import load_transnet

            load_transnet()  # once per worker, not per video

    def process(self, task: VideoTask) -> VideoTask:
        start, end = frame_range(task)
        fps = float(task.info["fps"])
        shots = detect_shots(
            video_path(task),
            self.detector,
            fps=fps,
            start=start,
            end=end,
            threshold=self.threshold,
            downscale=self.downscale,
            min_scene_len=self.min_scene_len,
            stride_s=self.stride_s,
        )
        task.clips = self.clips_for(task.video_id, shots, start, end, fps)
        return task

    def clips_for(
        self, video_id: str, shots: list[tuple[int, int]], start: int, end: int, fps: float
    ) -> list[Clip]:
        """Turn detected shots of the range `[start, end)` into clips (trim, windows, min length)."""
        trim = round(self.trim_s * fps) if self.detector != "stride" else 0
        min_len = self.min_clip_s * fps
        max_len = max(1, round(self.max_clip_s * fps)) if self.max_clip_s is not None else None
        if not shots:
            shots = [(start, end)]
        pieces: list[tuple[int, int, int, int | None, str | None]] = []  # (a, b, shot, window, why dropped)
        for k, (a, b) in enumerate(shots):
            a2 = a + trim if a > start else a
            b2 = b - trim if b < end else b
            if b2 - a2 < max(min_len, 1):
                why = f"shot of {(b2 - a2) / fps:.2f} s after trim < min_clip_s {self.min_clip_s}"
                pieces.append((a, b, k, None, why) if b2 <= a2 else (a2, b2, k, None, why))
                continue
            windows = split_evenly(a2, b2, max_len) if max_len is not None else [(a2, b2)]
            for j, (wa, wb) in enumerate(windows):
                why = None
                if wb - wa < min_len:
                    why = f"{(wb - wa) / fps:.2f} s < min_clip_s {self.min_clip_s}"
                pieces.append((wa, wb, k, j if len(windows) > 1 else None, why))
        clips = []
        for i, (a, b, k, j, why) in enumerate(pieces):
            meta: dict[str, object] = {"detector": self.detector, "shot": k}
            if j is not None:
                meta["window"] = j
            clip = Clip(
                clip_id=f"{video_id}-{i:04d}",
                start_frame=a,
                end_frame=b,
                start_s=a / fps,
                end_s=b / fps,
                meta=meta,
            )
            if why is not None:
                clip.drop(self.name, why)
            clips.append(clip)
        return clips
