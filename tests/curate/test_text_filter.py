"""Burnt-in text filter: RapidOCR (models inside its wheel) finds a caption drawn with cv2.putText on
real H.264 frames and drops that clip; the same footage without text is kept with score 0."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from worldfm.curate.stages.text import TextFilter, text_area
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError
from worldfm.video.io import write_video

H, W, T = 144, 256, 8


@pytest.fixture(scope="module")
def stage() -> TextFilter:
    s = TextFilter(num_frames=2)
    s.setup()  # loads the ONNX models once for the module
    return s


def _clips(tmp_path: Path) -> VideoTask:
    img = cv2.resize(data.astronaut(), (400, 400))
    clean = np.stack([img[100 : 100 + H, 4 * t : 4 * t + W] for t in range(T)])
    captioned = clean.copy()
    for frame in captioned:
        cv2.putText(
            frame, "Hello world caption", (20, 128), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2
        )
    task = VideoTask("v", str(tmp_path / "src.mp4"), str(tmp_path))
    for i, (name, frames) in enumerate({"clean": clean, "captioned": captioned}.items()):
        path = write_video(tmp_path / f"{name}.mp4", frames, fps=10)
        task.clips.append(Clip(f"v-{i:04d}", 0, T, 0.0, T / 10, path=str(path)))
    return task


def test_captioned_clip_dropped_clean_clip_kept(tmp_path: Path, stage: TextFilter) -> None:
    task = stage.process(_clips(tmp_path))
    clean, captioned = task.clips
    assert clean.kept and clean.scores == {"text": 0.0, "text_boxes": 0.0}
    assert not captioned.kept and captioned.scores["text_boxes"] == 1.0
    assert 0.02 < captioned.scores["text"] < 0.3  # one line across most of a small frame
    assert captioned.filtered.startswith("text: text ") and "> max_area 0.01" in captioned.filtered
    again = stage.process(_clips(tmp_path))  # deterministic
    assert [c.scores for c in again.clips] == [c.scores for c in task.clips]


def test_threshold_and_box_union(tmp_path: Path, stage: TextFilter) -> None:
    lenient = TextFilter(num_frames=2, max_area=0.5)
    lenient._ocr = stage._ocr  # same models, other threshold
    task = lenient.process(_clips(tmp_path))
    assert all(c.kept for c in task.clips) and task.clips[1].scores["text"] > 0.02
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    assert text_area([square, square], 20, 20) == pytest.approx(121 / 400)  # overlap counted once
    assert text_area([], 20, 20) == 0.0
    with pytest.raises(ConfigError, match="max_area is a share"):
        TextFilter(max_area=5)
