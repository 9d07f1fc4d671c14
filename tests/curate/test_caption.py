"""Caption stage: metadata captions (task meta, sidecar .txt/.json), the honest "describe" template,
fallback chains, pluggable captioners, and clips without a caption kept, not dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.caption import CaptionStage, register_captioner, sidecar_caption
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, DatasetError, UnknownNameError
from worldfm.video.io import write_video

H, W, T = 64, 96, 20


def _task(tmp_path: Path, frames: np.ndarray | None = None, **meta: object) -> VideoTask:
    if frames is None:
        img = data.astronaut()[100 : 100 + H, 100:]
        frames = np.stack([img[:, 2 * t : 2 * t + W] for t in range(T)])
    source = tmp_path / "episode.mp4"
    write_video(source, frames, fps=10)
    clip = write_video(tmp_path / "clip.mp4", frames, fps=10)
    task = VideoTask("v", str(source), str(tmp_path), meta=dict(meta))
    task.clips = [Clip("v-0000", 0, T, 1.0, 3.0, path=str(clip), width=W, height=H, fps=10.0)]
    return task


def test_metadata_caption_from_task_meta(tmp_path: Path) -> None:
    task = CaptionStage(captioner="metadata").process(_task(tmp_path, caption="  a red cube slides left "))
    assert task.clips[0].caption == "a red cube slides left"
    assert task.clips[0].meta["caption_by"] == "metadata" and task.clips[0].kept
    task = CaptionStage(captioner="metadata").process(_task(tmp_path, tasks=["pick the cup", "place it"]))
    assert task.clips[0].caption == "pick the cup; place it"  # LeRobot task texts


def test_metadata_caption_from_sidecars(tmp_path: Path) -> None:
    (tmp_path / "episode.txt").write_text("the robot pushes a block\n")
    task = CaptionStage(captioner="metadata").process(_task(tmp_path))
    assert task.clips[0].caption == "the robot pushes a block"
    (tmp_path / "episode.txt").unlink()
    (tmp_path / "episode.json").write_text(json.dumps({"caption": "a car turns right", "fps": 10}))
    assert sidecar_caption(tmp_path / "episode.mp4") == "a car turns right"
    (tmp_path / "episode.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"caption sidecar of .*episode\.mp4 is unreadable"):
        CaptionStage(captioner="metadata").process(_task(tmp_path))
    (tmp_path / "episode.json").write_text(json.dumps({"fps": 10}))
    with pytest.raises(DatasetError, match="none of the keys"):
        sidecar_caption(tmp_path / "episode.mp4")


def test_clip_without_metadata_keeps_no_caption_and_is_not_dropped(tmp_path: Path) -> None:
    task = CaptionStage(captioner="metadata").process(_task(tmp_path))
    assert task.clips[0].caption is None and task.clips[0].kept and "caption_by" not in task.clips[0].meta


def test_describe_fallback_reports_measured_properties(tmp_path: Path) -> None:
    task = _task(tmp_path)
    task.clips[0].scores["motion"] = 0.02
    CaptionStage().process(task)  # default "metadata+describe": no metadata here, so the template
    clip = task.clips[0]
    assert clip.meta["caption_by"] == "describe"
    assert clip.caption.startswith("A 2.0 s video clip, 96x64 at 10 fps, with fast motion, ")
    dark = _task(tmp_path, frames=np.full((T, H, W, 3), 20, np.uint8))
    CaptionStage(captioner="describe").process(dark)
    assert "almost no motion" in dark.clips[0].caption and "dark" in dark.clips[0].caption
    assert "grey tones" in dark.clips[0].caption
    green = np.zeros((T, H, W, 3), np.uint8)
    green[..., 1] = 200
    task = CaptionStage(captioner="describe").process(_task(tmp_path, frames=green))
    assert "mostly green tones" in task.clips[0].caption
    # With metadata present the chain stops at it.
    task = CaptionStage().process(_task(tmp_path, caption="sim caption"))
    assert task.clips[0].caption == "sim caption"


def test_pluggable_captioner_and_config_errors(tmp_path: Path) -> None:
    @register_captioner("test-frame-count")
    class FrameCount:
        name = "test-frame-count"
        needs_frames = True

        def caption(self, clip_frames: np.ndarray | None, task: VideoTask, clip: Clip) -> str | None:
            return f"{len(clip_frames)} frames of {clip.clip_id}"

    task = build_stage({"stage": "caption", "captioner": "test-frame-count", "num_frames": 3}).process(
        _task(tmp_path)
    )
    assert task.clips[0].caption == "3 frames of v-0000"
    with pytest.raises(UnknownNameError, match="unknown captioner 'vlm'"):
        CaptionStage(captioner="metadata+vlm")
    with pytest.raises(ConfigError, match="names joined by"):
        CaptionStage(captioner="metadata+")
