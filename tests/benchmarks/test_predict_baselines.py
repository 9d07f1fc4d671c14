"""The IoU judge of bench_predict (benchmarks/predict_baselines.py): colour segmentation and its noise check."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_predict import jitter
from predict_baselines import ColourSegmenter, copy_last, linear_extrapolate
from worldfm.errors import ConfigError

BACKGROUND = (86, 80, 76)
SHADED_GREY = (80, 78, 74)  # an object's shaded colour a few levels from the background
RED = (200, 30, 30)


def scene() -> tuple[np.ndarray, np.ndarray]:
    """Two 8x8 frames: background with a grey object (label 1) and a red one (label 2)."""
    frames = np.empty((2, 8, 8, 3), np.uint8)
    frames[:] = BACKGROUND
    labels = np.zeros((2, 8, 8), np.int64)
    frames[:, 1:3, 1:3] = SHADED_GREY
    labels[:, 1:3, 1:3] = 1
    frames[:, 5:7, 5:7] = RED
    labels[:, 5:7, 5:7] = 2
    return frames, labels


def test_segmenter_gives_the_fitted_frames_their_labels() -> None:
    frames, labels = scene()
    seg = ColourSegmenter(frames, labels)
    np.testing.assert_array_equal(seg(frames), labels)
    assert seg.num_labels == 3


def test_a_pixel_one_level_off_the_background_stays_background() -> None:
    # With 8-level colour bins, (85, 79, 76) fell into the bin of (80, 78, 74), an object's colour.
    frames, labels = scene()
    seg = ColourSegmenter(frames, labels)
    off = np.array([[[85, 79, 76]]], np.uint8)
    assert seg(off)[0, 0] == 0


def test_unseen_colours_take_the_nearest_seen_colour_label() -> None:
    frames, labels = scene()
    seg = ColourSegmenter(frames, labels)
    probe = np.array([[[190, 40, 35], [81, 78, 73], [250, 250, 250]]], np.uint8)
    # white: 294 levels from the background, 298 from the grey, 315 from the red
    assert seg(probe)[0].tolist() == [2, 1, 0]


def test_a_colour_takes_the_label_most_of_its_pixels_carry() -> None:
    frames, labels = scene()
    labels[0, 0, :3] = 2  # three background-coloured pixels mislabelled: still a minority
    seg = ColourSegmenter(frames, labels)
    assert seg(np.array([[BACKGROUND]], np.uint8))[0, 0] == 0


def test_segmenter_keeps_the_shape_of_any_batch() -> None:
    frames, labels = scene()
    seg = ColourSegmenter(frames, labels)
    batch = np.stack([frames, frames])  # (2, 2, 8, 8, 3)
    assert seg(batch).shape == (2, 2, 8, 8)


@pytest.mark.parametrize(
    "frames, labels, match",
    [
        (np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8), np.int64), "uint8"),
        (np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 7), np.int64), r"\(2, 8, 7\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), -np.ones((2, 8, 8), np.int64), ">= 0"),
    ],
)
def test_segmenter_refuses_bad_fits(frames: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ColourSegmenter(frames, labels)


def test_segmenter_refuses_frames_that_are_not_rgb_uint8() -> None:
    seg = ColourSegmenter(*scene())
    with pytest.raises(ConfigError, match="uint8"):
        seg(np.zeros((8, 8, 4), np.uint8))


def test_jitter_is_seeded_bounded_and_clipped() -> None:
    frames = np.array([[[0, 128, 255]] * 64], np.uint8)  # (1, 64, 3)
    a, b = jitter(frames, 7), jitter(frames, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, jitter(frames, 8))
    diff = a.astype(int) - frames.astype(int)
    assert diff.min() >= -2 and diff.max() <= 2 and a.dtype == np.uint8
    assert a[..., 0].min() == 0 and a[..., 2].max() == 255  # clipped at the ends, not wrapped


def test_copy_last_and_linear_extrapolation() -> None:
    cond = np.stack([np.full((4, 4, 3), 10, np.uint8), np.full((4, 4, 3), 20, np.uint8)])
    np.testing.assert_array_equal(copy_last(cond, 3), np.repeat(cond[-1:], 3, axis=0))
    lin = linear_extrapolate(cond, 30)
    assert lin[0].max() == 30 and lin[1].max() == 40 and lin[-1].max() == 255  # 20 + 30 * 10, clipped
