"""worldfm.video.transforms: layout conversion round trips, resizes, crops, temporal sampling."""

import numpy as np
import pytest
import torch

from worldfm.errors import ConfigError
from worldfm.video.transforms import (
    center_crop,
    even_indices,
    frames_to_tensor,
    random_crop,
    resize_frames,
    temporal_subsample,
    tensor_to_frames,
)


def every_value_frames() -> np.ndarray:
    """(4, 8, 8, 3) uint8 holding all 256 values, with distinct content per frame and channel."""
    return (np.arange(4 * 8 * 8 * 3) % 256).astype(np.uint8).reshape(4, 8, 8, 3)


def test_frames_to_tensor_layout_and_range() -> None:
    frames = every_value_frames()
    x = frames_to_tensor(frames)
    assert x.shape == (1, 3, 4, 8, 8) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    # (b, c, t, h, w) reads pixel (t, h, w, c) of the frames.
    assert x[0, 2, 3, 5, 1] == pytest.approx(frames[3, 5, 1, 2] / 127.5 - 1)


def test_uint8_round_trip_is_exact_numpy_and_torch() -> None:
    frames = every_value_frames()
    np.testing.assert_array_equal(tensor_to_frames(frames_to_tensor(frames))[0], frames)
    batch = np.stack([frames, frames[::-1]])
    np.testing.assert_array_equal(tensor_to_frames(frames_to_tensor(torch.from_numpy(batch))), batch)


def test_tensor_to_frames_drops_batch_only_if_input_has_none() -> None:
    x = torch.zeros(3, 2, 4, 6)  # (C, T, H, W)
    assert tensor_to_frames(x).shape == (2, 4, 6, 3)
    assert tensor_to_frames(x[None]).shape == (1, 2, 4, 6, 3)


def test_tensor_to_frames_clamps_and_rounds() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 0.999, 1.0, 7.0]).view(1, 1, 1, 6).expand(3, 1, 1, 6)
    assert tensor_to_frames(x)[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255, 255]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((2, 4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 3), np.uint8), "(T, H, W, C)"),
        ([1, 2, 3], "numpy array or torch tensor"),
    ],
)
def test_frames_to_tensor_rejects_bad_input(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        frames_to_tensor(value)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_tensor_to_frames_rejects_nan_and_bad_shapes() -> None:
    with pytest.raises(ConfigError, match="NaN or inf"):
        tensor_to_frames(torch.full((1, 3, 1, 2, 2), float("nan")))
    with pytest.raises(ConfigError, match="got shape"):
        tensor_to_frames(torch.zeros(3, 4, 4))
    with pytest.raises(ConfigError, match="float torch tensor"):
        tensor_to_frames(torch.zeros(1, 3, 1, 2, 2, dtype=torch.uint8))


def test_resize_shorter_side_keeps_aspect() -> None:
    frames = np.zeros((2, 32, 48, 3), np.uint8)
    assert resize_frames(frames, 16).shape == (2, 16, 24, 3)
    assert resize_frames(frames, (10, 12)).shape == (2, 10, 12, 3)
    assert resize_frames(frames, 64).shape == (2, 64, 96, 3)


def test_resize_keeps_flat_colour_and_antialiases() -> None:
    flat = np.full((1, 16, 16, 3), 77, np.uint8)
    assert (resize_frames(flat, 5) == 77).all()
    # A 1-px checkerboard averages to mid grey when shrunk 4x (no aliasing to black or white).
    checker = ((np.indices((16, 16)).sum(0) % 2) * 255).astype(np.uint8)
    frames = np.repeat(checker[None, :, :, None], 3, axis=-1)
    small = resize_frames(frames, 4)
    assert np.abs(small.astype(int) - 128).max() <= 2


def test_resize_same_size_is_a_copy() -> None:
    frames = every_value_frames()
    out = resize_frames(frames, (8, 8))
    np.testing.assert_array_equal(out, frames)
    assert out is not frames


@pytest.mark.parametrize("size", [0, -4, (8,), (8, 0), 2.5])
def test_resize_rejects_bad_size(size: object) -> None:
    with pytest.raises(ConfigError):
        resize_frames(np.zeros((1, 8, 8, 3), np.uint8), size)  # type: ignore[arg-type]


def test_center_crop_takes_the_middle() -> None:
    frames = np.arange(1 * 6 * 8 * 1, dtype=np.uint8).reshape(1, 6, 8, 1)
    out = center_crop(frames, (2, 4))
    np.testing.assert_array_equal(out, frames[:, 2:4, 2:6])
    assert center_crop(frames, 6).shape == (1, 6, 6, 1)
    with pytest.raises(ConfigError, match="larger than the frames"):
        center_crop(frames, 7)


def test_random_crop_is_seeded_and_covers_all_offsets() -> None:
    frames = np.arange(2 * 5 * 5 * 1, dtype=np.uint8).reshape(2, 5, 5, 1)
    a = random_crop(frames, 3, np.random.default_rng(7))
    b = random_crop(frames, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    # Same window in every frame.
    assert (a[1].astype(int) - a[0] == 25).all()
    rng = np.random.default_rng(0)
    corners = {int(random_crop(frames, 3, rng)[0, 0, 0, 0]) for _ in range(200)}
    assert corners == {r * 5 + c for r in range(3) for c in range(3)}


def test_temporal_subsample() -> None:
    frames = np.arange(10)
    assert temporal_subsample(frames, stride=3).tolist() == [0, 3, 6, 9]
    assert temporal_subsample(frames, stride=2, num_frames=3, start=1).tolist() == [1, 3, 5]
    assert temporal_subsample(frames, stride=3, num_frames=4).tolist() == [0, 3, 6, 9]
    with pytest.raises(ConfigError, match="but the clip has 10"):
        temporal_subsample(frames, stride=3, num_frames=4, start=1)
    with pytest.raises(ConfigError, match="stride >= 1"):
        temporal_subsample(frames, stride=0)


def test_even_indices() -> None:
    assert even_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert even_indices(3, 8).tolist() == [0, 1, 2]
    assert even_indices(1, 5).tolist() == [0]
    for total in range(1, 40):
        for count in range(1, 12):
            idx = even_indices(total, count)
            assert len(idx) == min(total, count) and idx[0] == 0
            assert (np.diff(idx) > 0).all()
            if count > 1:
                assert idx[-1] == total - 1
