"""Quality filter on real H.264 clips: sharp footage is kept; blurred, black, dark, over-exposed and
frozen clips are dropped with a reason naming the score and the threshold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from worldfm.curate.stages.quality import QualityFilter, blur_score
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError
from worldfm.video.io import write_video

H, W, T = 96, 128, 12


def _pan() -> np.ndarray:
    img = data.astronaut()[80 : 80 + H, 100:]
    return np.stack([img[:, 3 * t : 3 * t + W] for t in range(T)])


def _task(tmp_path: Path, videos: dict[str, np.ndarray]) -> VideoTask:
    task = VideoTask("v", str(tmp_path / "src.mp4"), str(tmp_path))
    for i, (name, frames) in enumerate(videos.items()):
        path = write_video(tmp_path / f"{name}.mp4", frames, fps=10)
        task.clips.append(Clip(f"v-{i:04d}", 0, T, 0.0, T / 10, path=str(path)))
    return task


def test_each_defect_is_scored_and_dropped(tmp_path: Path) -> None:
    pan = _pan()
    frozen = pan.copy()
    frozen[2:] = pan[2]  # the picture stalls after two frames
    videos = {
        "good": pan,
        "blurred": np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in pan]),
        "black": np.zeros_like(pan),
        "dark": (pan * 0.1).astype(np.uint8),
        "bright": np.clip(pan.astype(int) * 4 + 80, 0, 255).astype(np.uint8),
        "frozen": frozen,
    }
    task = _task(tmp_path, videos)
    QualityFilter().process(task)
    by = dict(zip(videos, task.clips, strict=True))
    for clip in task.clips:  # every clip gets every score
        assert set(clip.scores) == {"blur", "dark", "bright", "black", "frozen"}
    assert by["good"].kept, by["good"].filtered
    assert by["good"].scores["blur"] > 100 and by["good"].scores["frozen"] == 0.0
    assert by["blurred"].filtered.startswith("quality: blur ") and "< min_blur 20.0" in by["blurred"].filtered
    assert by["black"].filtered.startswith("quality: black 1.00 > max_black 0.25")
    assert by["dark"].filtered.startswith("quality: dark ") and "> max_dark 0.85" in by["dark"].filtered
    assert (
        by["bright"].filtered.startswith("quality: bright ") and "> max_bright 0.85" in by["bright"].filtered
    )
    assert by["frozen"].filtered.startswith("quality: frozen ") and by["frozen"].scores["frozen"] > 0.8


def test_thresholds_are_parameters_and_deterministic(tmp_path: Path) -> None:
    pan = _pan()
    task = _task(tmp_path, {"good": pan})
    QualityFilter(min_blur=1e9).process(task)
    assert task.clips[0].filtered.startswith("quality: blur")
    again = _task(tmp_path, {"good": pan})
    QualityFilter(min_blur=1e9).process(again)
    assert again.clips[0].scores == task.clips[0].scores


def test_blur_score_and_config_errors() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    assert blur_score(sharp) > 10 * blur_score(cv2.GaussianBlur(sharp, (0, 0), 2))
    assert blur_score(np.full((64, 64), 128, np.uint8)) == 0.0
    with pytest.raises(ConfigError, match="max_dark is a share"):
        QualityFilter(max_dark=2.0)
    with pytest.raises(ConfigError, match="black_level <= dark_level < bright_level"):
        QualityFilter(dark_level=200, bright_level=100)
