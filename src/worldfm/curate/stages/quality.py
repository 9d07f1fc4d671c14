"""Quality filter: blur, exposure, black frames and frozen frames, each a score with a threshold.

All scores are on the clip's luma (full range 0-255) and are cheap heuristics, not a learned
aesthetic model:

- `blur`: median over `num_frames` sampled frames of the variance of the 3x3 Laplacian, measured
  after downscaling so the longer side is at most `analysis_max_side` px (so clips of different
  resolutions are comparable; low = few edges = blurry or flat); dropped when `< min_blur`. Sharp sim
  renders and real footage score about 50-3000 there, a Gaussian blur of sigma 3 px about 5-10.
- `dark` / `bright`: mean share of pixels darker than `dark_level` / brighter than `bright_level` in
  the sampled frames (under- and over-exposure); dropped when `> max_dark` / `> max_bright`.
- `black`: share of sampled frames that are black (at least 98% of pixels darker than
  `black_level`); dropped when `> max_black`.
- `frozen`: share of consecutive frame pairs, over every frame of the clip at `frozen_max_side` px,
  whose mean absolute difference is below `frozen_tol` grey levels (a repeated or stalled picture);
  dropped when `> max_frozen`.

The first threshold broken (in the order black, dark, bright, frozen, blur) gives the drop reason; every score is recorded either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages._frames import clip_file, open_clip, scaled_size, spread_indices
from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError

_BLACK_SHARE = 0.98  # a frame is black when this share of its pixels is dark


def blur_score(luma: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian of one (H, W) uint8 luma frame (higher = sharper)."""
    return float(cv2.Laplacian(luma, cv2.CV_32F, ksize=1).var())


def quality_scores(
    path: Path,
    num_frames: int = 8,
    black_level: int = 16,
    dark_level: int = 32,
    bright_level: int = 235,
    analysis_max_side: int = 320,
    frozen_max_side: int = 64,
    frozen_tol: float = 0.5,
) -> dict[str, float]:
    """The five scores of one clip file in a single decoding pass; see the module docstring."""
    with open_clip(path) as reader:
        wanted = set(spread_indices(reader.num_frames, num_frames))
        small = scaled_size(reader.width, reader.height, frozen_max_side)
        analysis = scaled_size(reader.width, reader.height, analysis_max_side)
        blurs: list[float] = []
        dark: list[float] = []
        bright: list[float] = []
        black = 0
        pairs = frozen = 0
        previous: np.ndarray | None = None
        for index, frame in reader.frames():
            tiny = frame.reformat(width=small[0], height=small[1], format="gray", interpolation="AREA")
            tiny_luma = tiny.to_ndarray().astype(np.float32)
            if previous is not None:
                pairs += 1
                frozen += float(np.abs(tiny_luma - previous).mean()) < frozen_tol
            previous = tiny_luma
            if index in wanted:
                luma = frame.reformat(
                    width=analysis[0], height=analysis[1], format="gray", interpolation="AREA"
                ).to_ndarray()
                blurs.append(blur_score(luma))
                dark.append(float((luma < dark_level).mean()))
                bright.append(float((luma > bright_level).mean()))
                black += float((luma < black_level).mean()) >= _BLACK_SHARE
    return {
        "blur": float(np.median(blurs)) if blurs else 0.0,
        "dark": float(np.mean(dark)) if dark else 0.0,
        "bright": float(np.mean(bright)) if bright else 0.0,
        "black": black / len(blurs) if blurs else 0.0,
        "frozen": frozen / pairs if pairs else 0.0,
    }


@register_stage("quality")
@dataclass
class QualityFilter(Stage):
    """Score blur, exposure, black and frozen frames of every kept clip; drop the bad ones.

    num_frames: sampled frames for blur/exposure/black. black_level, dark_level, bright_level: luma
    limits (0-255).
    analysis_max_side: longer side (px) the sampled frames are scored at.
    frozen_max_side, frozen_tol: size (px) and grey-level tolerance of the frozen-frame test.
    min_blur, max_dark, max_bright, max_black, max_frozen: drop thresholds (see the module docstring).
    """

    num_frames: int = 8
    black_level: int = 16
    dark_level: int = 32
    bright_level: int = 235
    analysis_max_side: int = 320
    frozen_max_side: int = 64
    frozen_tol: float = 0.5
    min_blur: float = 20.0
    max_dark: float = 0.85
    max_bright: float = 0.85
    max_black: float = 0.25
    max_frozen: float = 0.5

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("clips.path",)
    outputs: ClassVar[tuple[str, ...]] = (
        "clips.scores.blur",
        "clips.scores.dark",
        "clips.scores.bright",
        "clips.scores.black",
        "clips.scores.frozen",
    )

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"quality: num_frames must be >= 1, got {self.num_frames}")
        if not 0 <= self.black_level <= self.dark_level < self.bright_level <= 255:
            raise ConfigError(
                "quality: need 0 <= black_level <= dark_level < bright_level <= 255, got "
                f"{self.black_level}, {self.dark_level}, {self.bright_level}"
            )
        if self.frozen_max_side < 8 or self.analysis_max_side < 8:
            raise ConfigError(
                f"quality: frozen_max_side and analysis_max_side must be >= 8 pixels, got "
                f"{self.frozen_max_side}, {self.analysis_max_side}"
            )
        if self.frozen_tol < 0 or self.min_blur < 0:
            raise ConfigError(
                f"quality: frozen_tol and min_blur must be >= 0, got {self.frozen_tol}, {self.min_blur}"
            )
        for name in ("max_dark", "max_bright", "max_black", "max_frozen"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"quality: {name} is a share and must be in [0, 1], got {value}")

    def scores(self, path: Path) -> dict[str, float]:
        return quality_scores(
            path,
            self.num_frames,
            self.black_level,
            self.dark_level,
            self.bright_level,
            self.analysis_max_side,
            self.frozen_max_side,
            self.frozen_tol,
        )

    def process(self, task: VideoTask) -> VideoTask:
        for clip in task.kept_clips:
            s = self.scores(clip_file(clip, self.name))
            clip.scores.update(s)
            checks = (
                (s["black"] > self.max_black, f"black {s['black']:.2f} > max_black {self.max_black}"),
                (s["dark"] > self.max_dark, f"dark {s['dark']:.2f} > max_dark {self.max_dark}"),
                (s["bright"] > self.max_bright, f"bright {s['bright']:.2f} > max_bright {self.max_bright}"),
                (s["frozen"] > self.max_frozen, f"frozen {s['frozen']:.2f} > max_frozen {self.max_frozen}"),
                (s["blur"] < self.min_blur, f"blur {s['blur']:.1f} < min_blur {self.min_blur}"),
            )
            for failed, reason in checks:
                if failed:
                    clip.drop(self.name, reason)
                    break
        return task
