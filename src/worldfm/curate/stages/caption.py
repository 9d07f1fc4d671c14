"""Caption stage with pluggable captioners.

A captioner is anything with a `name`, a `needs_frames` flag and
`caption(clip_frames, task, clip) -> str | None` (None: nothing to say about this clip). Captioners
register by name (`register_captioner`); the stage's `captioner` parameter names one, or a fallback
chain joined by "+" ("metadata+describe": the metadata caption where there is one, else the
template). Clips no captioner can describe keep `caption=None` and are NOT dropped. The captioner
that wrote a caption is recorded in `clip.meta["caption_by"]`.

Built-ins:
- "metadata": text that came with the video: `clip.meta["caption"]`, then the task's ingest
  metadata (`task.meta["caption"]`, `"task"` or `"tasks"`: e.g. a simulator episode's caption or a
  LeRobot episode's task text), then a sidecar file next to the source (`<stem>.txt`, the convention
  of `worldfm.data.VideoFolderSource`, or `<stem>.json` with one of the same keys).
- "describe": a template caption built only from measured properties (duration, size, fps, motion
  level, brightness, dominant colour). It is not a vision model and says nothing about content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages._frames import clip_file, read_frames
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, DatasetError, UnknownNameError

META_KEYS = ("caption", "task", "tasks")


class Captioner(Protocol):
    """Writes one clip's caption. clip_frames: (N, h, w, 3) uint8 RGB frames spread over the clip
    (None when `needs_frames` is False)."""

    name: str
    needs_frames: bool

    def caption(self, clip_frames: np.ndarray | None, task: VideoTask, clip: Clip) -> str | None: ...


CAPTIONERS: dict[str, Callable[[], Captioner]] = {}


def register_captioner(name: str) -> Callable[[Callable[[], Captioner]], Callable[[], Captioner]]:
    """Decorator: make a captioner class (or factory with no arguments) selectable by `name`."""

    def deco(factory: Callable[[], Captioner]) -> Callable[[], Captioner]:
        if name in CAPTIONERS and CAPTIONERS[name] is not factory:
            raise ConfigError(f"captioner name {name!r} registered twice")
        CAPTIONERS[name] = factory
        return factory

    return deco


def _text_of(value: Any) -> str | None:
    """A usable caption from a metadata value: a non-empty string, or a list of them joined."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return "; ".join(v.strip() for v in value if v.strip()) or None
    return None


def _from_mapping(meta: dict[str, Any]) -> str | None:
    for key in META_KEYS:
        text = _text_of(meta.get(key))
        if text:
            return text
    return None


def sidecar_caption(source: str | Path) -> str | None:
    """The caption in `<stem>.txt` or `<stem>.json` next to `source`, or None when neither exists.

    An unreadable sidecar (not UTF-8, bad JSON, no caption key) raises `DatasetError` naming it.
    """
    source = Path(source)
    txt, js = source.with_suffix(".txt"), source.with_suffix(".json")
    try:
        if txt.is_file() and txt != source:
            return txt.read_text(encoding="utf-8").strip() or None
        if js.is_file() and js != source:
            data = json.loads(js.read_text(encoding="utf-8"))
            text = _from_mapping(data) if isinstance(data, dict) else None
            if text is None:
                raise DatasetError(f"{js}: caption sidecar has none of the keys {list(META_KEYS)} as text")
            return text
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"caption sidecar of {source} is unreadable: {exc}") from None
    return None


@register_captioner("metadata")
class MetadataCaptioner:
    """The text that came with the video (see the module docstring); None when there is none."""

    name = "metadata"
    needs_frames = False

    def caption(self, clip_frames: np.ndarray | None, task: VideoTask, clip: Clip) -> str | None:
        return _from_mapping(clip.meta) or _from_mapping(task.meta) or sidecar_caption(task.source)


# Motion levels on the motion stage's score (mean displacement per frame / (width + height)); the
# first bound is the motion filter's default drop threshold.
MOTION_LEVELS = ((0.00098, "almost no motion"), (0.004, "slow motion"), (0.015, "moderate motion"))
# Without a motion score: mean absolute luma change between successive sampled frames (0-255).
DIFF_LEVELS = ((1.0, "almost no motion"), (6.0, "slow motion"), (20.0, "moderate motion"))
BRIGHTNESS = ((50.0, "dark"), (100.0, "dim"), (190.0, "normally lit"))
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta")


def _level(value: float, levels: tuple[tuple[float, str], ...], top: str) -> str:
    for bound, label in levels:
        if value < bound:
            return label
    return top


def _dominant_colour(frames: np.ndarray) -> str:
    """Name of the mean hue of the saturated pixels, or "grey" when few pixels are saturated."""
    rgb = frames.reshape(-1, 3).astype(np.float32) / 255.0
    hi, lo = rgb.max(1), rgb.min(1)
    sat = (hi - lo) / np.maximum(hi, 1e-6)
    keep = (sat > 0.25) & (hi > 0.15)
    if keep.mean() < 0.2:
        return "grey"
    r, g, b = rgb[keep].T
    hue = np.arctan2(np.sqrt(3.0) * (g - b), 2.0 * r - g - b)  # radians, red = 0
    mean = np.angle(np.exp(1j * hue).mean())  # circular mean
    return COLOURS[round(float(mean % (2 * np.pi)) / (2 * np.pi) * len(COLOURS)) % len(COLOURS)]


@register_captioner("describe")
class DescribeCaptioner:
    """A template caption from measured properties only (no vision model):
    "A 4.0 s video clip, 640x360 at 24 fps, with slow motion, normally lit, mostly green tones."."""

    name = "describe"
    needs_frames = True

    def caption(self, clip_frames: np.ndarray | None, task: VideoTask, clip: Clip) -> str | None:
        if clip_frames is None or len(clip_frames) == 0:
            return None
        frames = clip_frames.astype(np.float32)
        luma = frames @ np.array([0.299, 0.587, 0.114], np.float32)  # (N, h, w)
        if "motion" in clip.scores:
            motion = _level(clip.scores["motion"], MOTION_LEVELS, "fast motion")
        elif len(luma) > 1:
            motion = _level(float(np.abs(np.diff(luma, axis=0)).mean()), DIFF_LEVELS, "fast motion")
        else:
            motion = "a single frame"
        light = _level(float(luma.mean()), BRIGHTNESS, "very bright")
        size = f"{clip.width}x{clip.height}" if clip.width and clip.height else None
        parts = [f"A {clip.end_s - clip.start_s:.1f} s video clip"]
        if size:
            parts.append(f"{size} at {clip.fps:g} fps" if clip.fps else size)
        parts.append(f"with {motion}" if motion != "a single frame" else motion)
        parts.append(light)
        colour = _dominant_colour(clip_frames)
        parts.append("mostly grey tones" if colour == "grey" else f"mostly {colour} tones")
        return ", ".join(parts) + "."


def build_captioners(spec: str) -> list[Captioner]:
    """ "metadata+describe" -> [MetadataCaptioner(), DescribeCaptioner()]; unknown names raise."""
    names = [n.strip() for n in spec.split("+")]
    if not spec or any(not n for n in names):
        raise ConfigError(f"caption: captioner must be names joined by '+', got {spec!r}")
    for name in names:
        if name not in CAPTIONERS:
            raise UnknownNameError("captioner", name, list(CAPTIONERS))
    return [CAPTIONERS[n]() for n in names]


@register_stage("caption")
@dataclass
class CaptionStage(Stage):
    """Caption every kept clip with the first captioner of the chain that has something to say.

    captioner: a registered name or a "+"-joined fallback chain ("metadata", "describe",
    "metadata+describe"). num_frames, max_side: frames decoded for captioners that look at pixels.
    """

    captioner: str = "metadata+describe"
    num_frames: int = 4
    max_side: int = 128

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("clips.path",)
    outputs: ClassVar[tuple[str, ...]] = ("clips.caption",)

    def __post_init__(self) -> None:
        build_captioners(self.captioner)  # unknown names fail at config time, not in a worker
        if self.num_frames < 1:
            raise ConfigError(f"caption: num_frames must be >= 1, got {self.num_frames}")
        if self.max_side < 16:
            raise ConfigError(f"caption: max_side must be >= 16 pixels, got {self.max_side}")

    def setup(self) -> None:
        self._captioners = build_captioners(self.captioner)

    def process(self, task: VideoTask) -> VideoTask:
        if getattr(self, "_captioners", None) is None:
            self.setup()
        for clip in task.kept_clips:
            frames: np.ndarray | None = None
            for captioner in self._captioners:
                if captioner.needs_frames and frames is None:
                    frames, _, _ = read_frames(clip_file(clip, self.name), self.num_frames, self.max_side)
                text = captioner.caption(frames if captioner.needs_frames else None, task, clip)
                if text:
                    clip.caption = text
                    clip.meta["caption_by"] = captioner.name
                    break
        return task
