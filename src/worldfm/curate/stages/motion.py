"""Motion filter: drop static clips, as cosmos-curate does, from the codec's own motion vectors.

Score (cosmos-curate's definition and units): at a few sampled frames, every pixel gets the length
of the motion vector of the block it belongs to (in pixels, to the block's reference frame, which is
usually the previous frame and at most a few frames away), divided by (width + height) of the frame;
pixels of intra-coded blocks count as 0. `motion` is the mean over pixels and sampled frames;
`motion_patch_min` averages the per-pixel values over the sampled frames and takes the smallest mean
over a grid of about `patch_size` x `patch_size` patches (one patch when the frame is smaller). For a
1280x720 clip the default `min_mean` 0.00098 is about 2 px of motion per frame; a clip is dropped when
`motion < min_mean` or `motion_patch_min < min_patch` (cosmos-curate: 0.00098 and 1e-6).

Methods: "mv" reads H.264 (or MPEG-family) motion vectors through PyAV's `export_mvs` flag, with no
pixel work at all; "flow" runs OpenCV's Farneback optical flow on frame pairs downscaled to
`flow_max_side`, giving the same units (pixels per frame at full size / (width + height)) for codecs
without motion vectors. The clip's frame rate matters: the same camera speed gives half the score at
twice the fps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages._frames import clip_file, open_clip, scaled_size
from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError, VideoError

METHODS = ("mv", "flow")
_CELL = 4  # motion-vector blocks are multiples of 4 px, so a 4 px grid rasterises them exactly


def sample_step(fps: float, num_frames: int, sample_fps: float, min_samples: int) -> int:
    """Frame step that samples about `sample_fps` frames per second, but at least `min_samples`
    frames when the clip has them."""
    step = max(1, round(fps / sample_fps))
    return max(1, min(step, num_frames // max(1, min_samples)))


def mv_magnitude_map(mvs: np.ndarray, width: int, height: int) -> np.ndarray:
    """Rasterise one frame's motion vectors (PyAV's structured array) onto a 4 px grid.

    Returns (ceil(height / 4), ceil(width / 4)) float32: per cell the motion-vector length in pixels
    of the block covering it (the larger one where a bi-predicted block has two), 0 where no vector.
    """
    grid = np.zeros((math.ceil(height / _CELL), math.ceil(width / _CELL)), np.float32)
    if len(mvs) == 0:
        return grid
    scale = np.maximum(mvs["motion_scale"].astype(np.float32), 1.0)
    mag = np.hypot(mvs["motion_x"].astype(np.float32), mvs["motion_y"].astype(np.float32)) / scale
    bw, bh = mvs["w"].astype(np.int64), mvs["h"].astype(np.int64)
    x0 = (mvs["dst_x"].astype(np.int64) - bw // 2) // _CELL  # dst is the block centre
    y0 = (mvs["dst_y"].astype(np.int64) - bh // 2) // _CELL
    for w, h in sorted(set(zip(bw.tolist(), bh.tolist(), strict=True))):
        sel = (bw == w) & (bh == h)
        nx, ny = max(1, w // _CELL), max(1, h // _CELL)
        ys = (y0[sel][:, None, None] + np.arange(ny)[None, :, None]).repeat(nx, axis=2)
        xs = (x0[sel][:, None, None] + np.arange(nx)[None, None, :]).repeat(ny, axis=1)
        vals = np.broadcast_to(mag[sel][:, None, None], ys.shape)
        inside = (ys >= 0) & (ys < grid.shape[0]) & (xs >= 0) & (xs < grid.shape[1])
        np.maximum.at(grid, (ys[inside], xs[inside]), vals[inside])
    return grid


def patch_min(mean_map: np.ndarray, width: int, height: int, patch_size: int) -> float:
    """Smallest patch mean of a per-pixel map covering a `width` x `height` frame, on a grid of
    round(height / patch_size) x round(width / patch_size) patches (at least 1 x 1)."""
    rows = max(1, round(height / patch_size))
    cols = max(1, round(width / patch_size))
    means = [
        float(block.mean())
        for band in np.array_split(mean_map, rows, axis=0)
        for block in np.array_split(band, cols, axis=1)
        if block.size
    ]
    return min(means)


def motion_from_vectors(
    path: Path, sample_fps: float, min_samples: int, patch_size: int
) -> tuple[float, float, int]:
    """(mean, patch min, frames used) of normalised motion-vector lengths; see the module docstring."""
    with open_clip(path, {"flags2": "+export_mvs"}) as reader:
        if reader.num_frames < 2:
            return 0.0, 0.0, 0
        step = sample_step(reader.fps, reader.num_frames, sample_fps, min_samples)
        norm = float(reader.width + reader.height)
        total: np.ndarray | None = None
        used = 0
        pending = False  # a sampled frame had no vectors (intra frame): take the next one that has
        seen_vectors = False
        for index, frame in reader.frames():
            pending = pending or index % step == 0
            if not pending:
                continue
            side = frame.side_data.get("MOTION_VECTORS")
            if side is None:
                continue
            seen_vectors = True
            grid = mv_magnitude_map(side.to_ndarray(), reader.width, reader.height) / norm
            total = grid if total is None else total + grid
            used += 1
            pending = False
        if not seen_vectors:
            raise VideoError(
                path,
                f"no motion vectors in {reader.num_frames} frames of codec {reader.stream.codec_context.name!r} "
                "(intra-only or a codec without them); use the motion stage with method 'flow'",
            )
        assert total is not None
        mean_map = total / used
        return float(mean_map.mean()), patch_min(mean_map, reader.width, reader.height, patch_size), used


def motion_from_flow(
    path: Path, sample_fps: float, min_samples: int, patch_size: int, max_side: int
) -> tuple[float, float, int]:
    """(mean, patch min, pairs used) from Farneback flow between frames i-1 and i at sampled i,
    computed at low resolution and scaled back to full-size pixels; see the module docstring."""
    with open_clip(path) as reader:
        if reader.num_frames < 2:
            return 0.0, 0.0, 0
        step = sample_step(reader.fps, reader.num_frames, sample_fps, min_samples)
        w, h = scaled_size(reader.width, reader.height, max_side)
        to_full = reader.width / w  # low-res pixels -> full-size pixels
        norm = float(reader.width + reader.height)
        total: np.ndarray | None = None
        used = 0
        previous: np.ndarray | None = None
        for index, frame in reader.frames():
            wanted = index >= 1 and index % step == 0
            if not wanted and (index + 1) % step != 0:
                previous = None
                continue
            grey = frame.reformat(width=w, height=h, format="gray", interpolation="AREA").to_ndarray()
            if wanted and previous is not None:
                flow = cv2.calcOpticalFlowFarneback(previous, grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
                mag = np.hypot(flow[..., 0], flow[..., 1]) * (to_full / norm)
                total = mag if total is None else total + mag
                used += 1
            previous = grey
        if total is None:
            return 0.0, 0.0, 0
        mean_map = total / used
        return float(mean_map.mean()), patch_min(mean_map, reader.width, reader.height, patch_size), used


@register_stage("motion")
@dataclass
class MotionFilter(Stage):
    """Score every kept clip's motion and drop static ones (see the module docstring).

    method: "mv" (codec motion vectors, default) or "flow" (Farneback at `flow_max_side` px).
    sample_fps: frames looked at per second of clip; min_samples: at least this many when the clip
    has them. min_mean, min_patch: drop thresholds (cosmos-curate's defaults). patch_size: pixels.
    """

    method: str = "mv"
    sample_fps: float = 2.0
    min_samples: int = 8
    min_mean: float = 0.00098
    min_patch: float = 1e-6
    patch_size: int = 256
    flow_max_side: int = 160

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("clips.path",)
    outputs: ClassVar[tuple[str, ...]] = ("clips.scores.motion", "clips.scores.motion_patch_min")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"motion: method must be one of {METHODS}, got {self.method!r}")
        if not self.sample_fps > 0:
            raise ConfigError(f"motion: sample_fps must be > 0, got {self.sample_fps}")
        if self.min_samples < 1:
            raise ConfigError(f"motion: min_samples must be >= 1, got {self.min_samples}")
        if self.min_mean < 0 or self.min_patch < 0:
            raise ConfigError(
                f"motion: thresholds must be >= 0, got min_mean={self.min_mean}, min_patch={self.min_patch}"
            )
        if self.patch_size < 8:
            raise ConfigError(f"motion: patch_size must be >= 8 pixels, got {self.patch_size}")
        if self.flow_max_side < 16:
            raise ConfigError(f"motion: flow_max_side must be >= 16 pixels, got {self.flow_max_side}")

    def score(self, path: Path) -> tuple[float, float, int]:
        """(motion, motion_patch_min, frames used) of one clip file."""
        if self.method == "mv":
            return motion_from_vectors(path, self.sample_fps, self.min_samples, self.patch_size)
        return motion_from_flow(path, self.sample_fps, self.min_samples, self.patch_size, self.flow_max_side)

    def process(self, task: VideoTask) -> VideoTask:
        for clip in task.kept_clips:
            mean, pmin, used = self.score(clip_file(clip, self.name))
            if used == 0:
                clip.drop(self.name, "clip has fewer than 2 frames, cannot measure motion")
                continue
            clip.scores["motion"] = mean
            clip.scores["motion_patch_min"] = pmin
            if mean < self.min_mean:
                clip.drop(self.name, f"motion {mean:.6f} < min_mean {self.min_mean} (px per frame / (w+h))")
            elif pmin < self.min_patch:
                clip.drop(self.name, f"motion_patch_min {pmin:.3g} < min_patch {self.min_patch}")
        return task
