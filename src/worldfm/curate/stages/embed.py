"""Embed stage with pluggable embedders: one unit-norm float32 vector per kept clip, for deduplication.

An embedder has a `name`, `dim`, the frames it wants (`num_frames` spread over the clip, longer side
at most `max_side` px) and `embed(clip_frames, task, clip) -> (dim,) float32` with unit L2 norm.
Embedders register by name (`register_embedder`); the stage's `embedder` parameter picks one.

Default "thumbnail" (offline, CPU, no weights) describes a clip by what survives re-encoding, small
crops and shifts and brightness changes:
- structure: for each of `num_frames` frames, the centre `crop` of the luma, resized to 32x32, its
  2-D DCT, and the lowest `band` x `band` coefficients without the DC term (so the mean brightness is
  gone) scaled to unit norm (so is the contrast); the per-frame vectors are concatenated in time order;
- colour: a 6x6 histogram of chromaticity (r, g) = (R, G) / (R + G + B) over the same crops
  (invariant to brightness scaling), square-rooted (Hellinger) and scaled to unit norm;
- the two parts are weighted (`colour_weight` of the squared norm goes to colour) and concatenated.
Cosine similarity of two embeddings is then (1 - w) * mean per-frame structure cosine + w * colour
cosine. It finds copies of the same footage, not semantic neighbours: a model embedder (the
"tokenizer" one, or a video-text model later) plugs in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import cv2
import numpy as np

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages._frames import clip_file, read_frames
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, UnknownNameError


class Embedder(Protocol):
    """Maps a clip to a (dim,) float32 unit vector. clip_frames: (N, h, w, 3) uint8 RGB, N <=
    num_frames frames spread evenly over the clip, longer side <= max_side."""

    name: str
    dim: int
    num_frames: int
    max_side: int

    def embed(self, clip_frames: np.ndarray, task: VideoTask, clip: Clip) -> np.ndarray: ...


EMBEDDERS: dict[str, Callable[[], Embedder]] = {}


def register_embedder(name: str) -> Callable[[Callable[[], Embedder]], Callable[[], Embedder]]:
    """Decorator: make an embedder class (or factory with no arguments) selectable by `name`."""

    def deco(factory: Callable[[], Embedder]) -> Callable[[], Embedder]:
        if name in EMBEDDERS and EMBEDDERS[name] is not factory:
            raise ConfigError(f"embedder name {name!r} registered twice")
        EMBEDDERS[name] = factory
        return factory

    return deco


_GRID = 32  # DCT input size
_HIST_BINS = 6


def _centre_crop(frame: np.ndarray, crop: float) -> np.ndarray:
    h, w = frame.shape[:2]
    ch, cw = max(1, round(h * crop)), max(1, round(w * crop))
    y, x = (h - ch) // 2, (w - cw) // 2
    return frame[y : y + ch, x : x + cw]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


def structure_features(frame: np.ndarray, band: int) -> np.ndarray:
    """(band * band - 1,) float32 unit vector: low DCT band (no DC) of a (h, w, 3) uint8 RGB crop's
    luma at 32x32; zeros for a flat frame."""
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(luma, (_GRID, _GRID), interpolation=cv2.INTER_AREA)
    coeffs = cv2.dct(small)[:band, :band].reshape(-1)[1:]
    return _unit(coeffs).astype(np.float32)


def colour_features(frames: np.ndarray) -> np.ndarray:
    """(36,) float32 unit vector: square-rooted 6x6 chromaticity histogram of (N, h, w, 3) uint8 RGB."""
    rgb = frames.reshape(-1, 3).astype(np.float32)
    total = rgb.sum(1)
    keep = total > 30  # near-black pixels have no reliable colour
    if not keep.any():
        return np.zeros(_HIST_BINS * _HIST_BINS, np.float32)
    r = rgb[keep, 0] / total[keep]
    g = rgb[keep, 1] / total[keep]
    hist, _, _ = np.histogram2d(r, g, bins=_HIST_BINS, range=((0, 1), (0, 1)))
    return _unit(np.sqrt(hist.reshape(-1) / keep.sum())).astype(np.float32)


@register_embedder("thumbnail")
@dataclass
class ThumbnailEmbedder:
    """The default embedder (see the module docstring). dim = num_frames * (band^2 - 1) + 36."""

    num_frames: int = 4
    max_side: int = 128
    crop: float = 0.8
    band: int = 5
    colour_weight: float = 0.3
    name: ClassVar[str] = "thumbnail"

    @property
    def dim(self) -> int:
        return self.num_frames * (self.band * self.band - 1) + _HIST_BINS * _HIST_BINS

    def embed(
        self, clip_frames: np.ndarray, task: VideoTask | None = None, clip: Clip | None = None
    ) -> np.ndarray:
        if clip_frames.ndim != 4 or clip_frames.shape[-1] != 3 or clip_frames.dtype != np.uint8:
            raise ConfigError(
                f"thumbnail: frames must be (N, H, W, 3) uint8, got {clip_frames.shape} {clip_frames.dtype}"
            )
        # Clips with fewer frames than num_frames repeat their frames so every vector has `dim` entries.
        picks = np.minimum(
            (np.arange(self.num_frames) * len(clip_frames)) // self.num_frames, len(clip_frames) - 1
        )
        crops = [_centre_crop(clip_frames[i], self.crop) for i in picks]
        structure = np.concatenate([structure_features(c, self.band) for c in crops]) / np.sqrt(
            self.num_frames
        )
        colour = colour_features(
            np.stack([cv2.resize(c, (_GRID, _GRID), interpolation=cv2.INTER_AREA) for c in crops])
        )
        vec = np.concatenate(
            [np.sqrt(1.0 - self.colour_weight) * structure, np.sqrt(self.colour_weight) * colour]
        )
        if np.linalg.norm(vec) < 1e-6:  # flat black clips: all alike, so all get the same unit vector
            vec = np.ones_like(vec)
        return _unit(vec).astype(np.float32)


def build_embedder(name: str) -> Embedder:
    if name not in EMBEDDERS:
        raise UnknownNameError("embedder", name, list(EMBEDDERS))
    return EMBEDDERS[name]()


@register_stage("embed")
@dataclass
class EmbedStage(Stage):
    """Write `clip.embedding` (unit-norm float32 list) for every kept clip with the named embedder."""

    embedder: str = "thumbnail"

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("clips.path",)
    outputs: ClassVar[tuple[str, ...]] = ("clips.embedding",)

    def __post_init__(self) -> None:
        if self.embedder not in EMBEDDERS:
            raise UnknownNameError("embedder", self.embedder, list(EMBEDDERS))

    def setup(self) -> None:
        self._embedder = build_embedder(self.embedder)

    def process(self, task: VideoTask) -> VideoTask:
        if getattr(self, "_embedder", None) is None:
            self.setup()
        emb = self._embedder
        for clip in task.kept_clips:
            frames, _, _ = read_frames(clip_file(clip, self.name), emb.num_frames, emb.max_side)
            vec = np.asarray(emb.embed(frames, task, clip), np.float32)
            if vec.shape != (emb.dim,) or not np.isfinite(vec).all():
                raise ConfigError(
                    f"embedder {emb.name!r} returned shape {vec.shape}, expected ({emb.dim},) finite"
                )
            clip.embedding = [float(x) for x in vec]
            clip.meta["embedder"] = emb.name
        return task
