"""Motion filter on real H.264 clips: a still clip is dropped, a panning one kept, with cosmos-curate's
units (pixels per frame / (width + height)), by codec motion vectors and by Farneback flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.motion import MotionFilter, mv_magnitude_map, patch_min
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, VideoError
from worldfm.video.io import write_video

H, W, T, STEP = 96, 128, 20, 3  # a 3 px/frame pan


def _pan(step: int = STEP) -> np.ndarray:
    img = data.astronaut()[100 : 100 + H, 60:]
    return np.stack([img[:, step * t : step * t + W] for t in range(T)])


def _task(tmp_path: Path, videos: dict[str, np.ndarray], suffix: str = ".mp4") -> VideoTask:
    task = VideoTask("v", str(tmp_path / "src.mp4"), str(tmp_path))
    for i, (name, frames) in enumerate(videos.items()):
        path = write_video(tmp_path / f"{name}{suffix}", frames, fps=10)
        clip = Clip(
            f"v-{i:04d}", 0, len(frames), 0.0, len(frames) / 10, path=str(path), width=W, height=H, fps=10
        )
        task.clips.append(clip)
    return task


@pytest.mark.parametrize("method", ["mv", "flow"])
def test_still_clip_dropped_panning_clip_kept(tmp_path: Path, method: str) -> None:
    pan = _pan()
    task = _task(tmp_path, {"pan": pan, "still": np.repeat(pan[:1], T, axis=0)})
    MotionFilter(method=method).process(task)
    moving, still = task.clips
    assert moving.kept and moving.scores["motion"] > 0.00098
    assert not still.kept and still.scores["motion"] < 0.00098
    assert still.filtered.startswith("motion: motion ") and "< min_mean 0.00098" in still.filtered
    assert {"motion", "motion_patch_min"} <= set(still.scores) and "motion_patch_min" in moving.scores
    expected = STEP / (W + H)  # true displacement per frame in cosmos-curate's units
    # Flow measures frame-to-frame motion; motion vectors point to a reference up to a few frames back.
    low, high = (0.5, 1.3) if method == "flow" else (0.8, 3.0)
    assert low * expected < moving.scores["motion"] < high * expected


def test_scores_are_deterministic_and_dropped_clips_skipped(tmp_path: Path) -> None:
    task = _task(tmp_path, {"a": _pan(), "b": _pan(2)})
    task.clips[1].drop("split", "too short")
    MotionFilter().process(task)
    first = dict(task.clips[0].scores)
    assert task.clips[1].scores == {} and task.clips[1].filtered == "split: too short"
    MotionFilter().process(task)
    assert task.clips[0].scores == first


def test_mv_rasterisation_and_patches() -> None:
    dtype = [
        ("source", "<i4"),
        ("w", "u1"),
        ("h", "u1"),
        ("src_x", "<i2"),
        ("src_y", "<i2"),
        ("dst_x", "<i2"),
        ("dst_y", "<i2"),
        ("flags", "<u8"),
        ("motion_x", "<i4"),
        ("motion_y", "<i4"),
        ("motion_scale", "<u2"),
    ]
    mvs = np.array(
        [(-1, 16, 16, 0, 0, 8, 8, 0, 12, 16, 4), (-1, 8, 8, 0, 0, 20, 4, 0, -4, 0, 4)], dtype=dtype
    )
    grid = mv_magnitude_map(mvs, 32, 16)
    assert grid.shape == (4, 8)
    assert np.allclose(grid[:, :4], 5.0)  # the 16x16 block at (0, 0): |(3, 4)| = 5 px
    assert np.allclose(grid[:2, 4:6], 1.0) and grid[2:, 4:].max() == 0 and grid[:, 6:].max() == 0
    assert patch_min(np.arange(16.0).reshape(4, 4), 512, 512, 256) == pytest.approx(2.5)  # 2x2 patches
    assert patch_min(np.ones((2, 2)), 64, 64, 256) == 1.0  # smaller than a patch: the whole frame


def test_codec_without_motion_vectors_points_to_flow(tmp_path: Path) -> None:
    task = _task(tmp_path, {"pan": _pan()}, suffix=".webm")
    with pytest.raises(VideoError, match=r"no motion vectors.*'vp9'.*method 'flow'"):
        MotionFilter(method="mv").process(task)
    MotionFilter(method="flow").process(task)
    assert task.clips[0].kept


def test_missing_clip_file_and_bad_config(tmp_path: Path) -> None:
    task = VideoTask("v", "src.mp4", str(tmp_path), clips=[Clip("v-0000", 0, 10, 0.0, 1.0)])
    with pytest.raises(VideoError, match="run 'transcode' before 'motion'"):
        MotionFilter().process(task)
    with pytest.raises(ConfigError, match="method must be one of"):
        MotionFilter(method="optical")
    with pytest.raises(ConfigError, match="sample_fps"):
        build_stage({"stage": "motion", "sample_fps": 0})
    assert isinstance(build_stage({"stage": "motion", "method": "flow"}), MotionFilter)
