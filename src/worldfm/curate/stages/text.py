"""Burnt-in text filter: OCR a few frames of each clip and drop clips covered by captions or titles.

RapidOCR (PP-OCRv4 detection + recognition ONNX models inside the `rapidocr-onnxruntime` wheel, so it
runs offline on CPU) finds text boxes in `num_frames` frames spread over the clip, downscaled so the
longer side is at most `max_side` px. Detection alone fires on textures (foliage, fabric), so a box
only counts when its recognised text has at least `min_chars` non-space characters with recognition
confidence >= `min_confidence`.

Scores: `text` is the mean over the sampled frames of the share of the frame covered by counted text
boxes (their union); `text_boxes` the mean number of counted boxes per frame. A clip is dropped when
`text > max_area` (default 0.01: a one-line subtitle across half of the width covers about 2-4%).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from worldfm.curate.stage import Resources, Stage, register_stage
from worldfm.curate.stages._frames import clip_file, read_frames
from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError


def text_boxes(ocr: Any, rgb: np.ndarray, min_confidence: float, min_chars: int) -> list[np.ndarray]:
    """Text boxes RapidOCR finds and reads in one (H, W, 3) uint8 RGB frame: each a (4, 2) float32
    polygon in pixels, kept when its text has `min_chars` characters read with `min_confidence`."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # RapidOCR takes OpenCV's BGR order
    result, _ = ocr(bgr, use_cls=False)
    boxes = []
    for box, text, confidence in result or []:
        if len("".join(str(text).split())) >= min_chars and float(confidence) >= min_confidence:
            boxes.append(np.asarray(box, np.float32).reshape(4, 2))
    return boxes


def text_area(boxes: list[np.ndarray], height: int, width: int) -> float:
    """Share of a `height` x `width` frame covered by the union of the polygons."""
    if not boxes:
        return 0.0
    mask = np.zeros((height, width), np.uint8)
    for box in boxes:  # one call per box: a single call with overlapping polygons fills even-odd
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
    return float(mask.mean())


@register_stage("text")
@dataclass
class TextFilter(Stage):
    """Score burnt-in text on every kept clip and drop clips with too much of it.

    num_frames: frames OCR'd per clip. max_side: their longer side in px. min_confidence, min_chars:
    what counts as text (see the module docstring). max_area: drop threshold on the `text` score.
    threads: ONNX Runtime threads per worker (1 keeps parallel workers from fighting over cores).
    """

    num_frames: int = 3
    max_side: int = 640
    min_confidence: float = 0.5
    min_chars: int = 2
    max_area: float = 0.01
    threads: int = 1

    resources: ClassVar[Resources] = Resources(cpus=1.0)
    inputs: ClassVar[tuple[str, ...]] = ("clips.path",)
    outputs: ClassVar[tuple[str, ...]] = ("clips.scores.text", "clips.scores.text_boxes")

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"text: num_frames must be >= 1, got {self.num_frames}")
        if self.max_side < 32:
            raise ConfigError(f"text: max_side must be >= 32 pixels, got {self.max_side}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"text: min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.min_chars < 1:
            raise ConfigError(f"text: min_chars must be >= 1, got {self.min_chars}")
        if not 0.0 <= self.max_area <= 1.0:
            raise ConfigError(f"text: max_area is a share and must be in [0, 1], got {self.max_area}")
        if self.threads < 1:
            raise ConfigError(f"text: threads must be >= 1, got {self.threads}")

    def setup(self) -> None:
        from rapidocr_onnxruntime import RapidOCR  # heavy import: only in workers that run this stage

        self._ocr = RapidOCR(
            det_limit_side_len=self.max_side,
            det_limit_type="max",
            intra_op_num_threads=self.threads,
            inter_op_num_threads=1,
        )

    def scores(self, path: Path) -> dict[str, float]:
        """{"text": mean covered share, "text_boxes": mean box count} over the sampled frames."""
        if getattr(self, "_ocr", None) is None:
            self.setup()
        frames, _, _ = read_frames(path, self.num_frames, self.max_side)
        areas, counts = [], []
        for frame in frames:
            boxes = text_boxes(self._ocr, frame, self.min_confidence, self.min_chars)
            areas.append(text_area(boxes, frame.shape[0], frame.shape[1]))
            counts.append(len(boxes))
        return {"text": float(np.mean(areas)), "text_boxes": float(np.mean(counts))}

    def process(self, task: VideoTask) -> VideoTask:
        for clip in task.kept_clips:
            s = self.scores(clip_file(clip, self.name))
            clip.scores.update(s)
            if s["text"] > self.max_area:
                clip.drop(self.name, f"text {s['text']:.4f} > max_area {self.max_area} (share of frame)")
        return task
