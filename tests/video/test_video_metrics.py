"""worldfm.video.metrics: PSNR and SSIM against scikit-image and golden values, and mask IoU."""

import math

import numpy as np
import pytest
import torch

from worldfm.errors import ConfigError
from worldfm.video.metrics import mask_iou, psnr, ssim
from worldfm.video.transforms import frames_to_tensor


def pair(
    t: int = 3, h: int = 24, w: int = 20, noise: int = 20, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A random (t, h, w, 3) uint8 video and a noisy copy of it."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_matches_formula_and_skimage() -> None:
    a, b = pair()
    scores = psnr(a, b)
    assert scores.per_frame.shape == (3,)
    for k in range(3):
        mse = np.mean((a[k].astype(float) - b[k]) ** 2)
        assert scores.per_frame[k] == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)
    assert scores.per_video == pytest.approx(scores.per_frame.mean())
    skimage_metrics = pytest.importorskip("skimage.metrics")
    ref = [skimage_metrics.peak_signal_noise_ratio(a[k], b[k], data_range=255) for k in range(3)]
    np.testing.assert_allclose(scores.per_frame, ref, rtol=1e-12)


def test_psnr_golden_value() -> None:
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = np.full((1, 4, 4, 3), 16, np.uint8)  # mse 256
    assert psnr(a, b).per_video == pytest.approx(10 * math.log10(255**2 / 256))


def test_ssim_matches_skimage() -> None:
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a, b = pair()
    ref = [
        skimage_metrics.structural_similarity(
            a[k],
            b[k],
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
        )
        for k in range(3)
    ]
    np.testing.assert_allclose(ssim(a, b).per_frame, ref, rtol=1e-10)


def test_ssim_golden_values() -> None:
    # Flat frames: variances and covariance vanish, leaving only the luminance term.
    a = np.full((1, 16, 16, 3), 100, np.uint8)
    b = np.full((1, 16, 16, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b).per_video == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rel=1e-12)
    # Regression values on noise (these equal scikit-image's, see the test above).
    a, b = pair(t=2, h=16, w=16, noise=30, seed=3)
    np.testing.assert_allclose(ssim(a, b).per_frame, [0.97288678, 0.97090359], atol=1e-7)


def test_identity_gives_inf_psnr_and_unit_ssim() -> None:
    a, _ = pair()
    assert psnr(a, a).per_video == math.inf
    assert np.isinf(psnr(a, a).per_frame).all()
    np.testing.assert_allclose(ssim(a, a).per_frame, 1.0, rtol=1e-12)


def test_ssim_drops_with_more_noise() -> None:
    values = [ssim(*pair(noise=n)).per_video for n in (5, 20, 60)]
    assert values[0] > values[1] > values[2]


def test_tensor_input_gives_same_scores_per_batch() -> None:
    a, b = pair()
    a2, b2 = pair(seed=1)
    x = torch.cat([frames_to_tensor(a), frames_to_tensor(a2)])  # (2, 3, T, H, W)
    y = torch.cat([frames_to_tensor(b), frames_to_tensor(b2)])
    p, s = psnr(x, y), ssim(x, y)
    assert p.per_frame.shape == (2, 3) and s.per_frame.shape == (2, 3)
    assert p.per_video.shape == (2,)
    np.testing.assert_allclose(p.per_frame[0], psnr(a, b).per_frame, rtol=1e-5)
    np.testing.assert_allclose(s.per_frame[1], ssim(a2, b2).per_frame, rtol=1e-5)


def test_float_numpy_needs_data_range() -> None:
    a, b = pair()
    with pytest.raises(ConfigError, match="pass data_range"):
        psnr(a / 255.0, b / 255.0)
    np.testing.assert_allclose(ssim(a / 255.0, b / 255.0, data_range=1.0).per_frame, ssim(a, b).per_frame)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((2, 16, 16, 3), np.uint8), np.zeros((2, 16, 8, 3), np.uint8), "differ in shape"),
        (np.zeros((2, 16, 16, 3), np.uint8), torch.zeros(1, 3, 2, 16, 16), "two numpy arrays or two torch"),
        (np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), "(T, H, W, C)"),
        (torch.zeros(3, 2, 16, 16), torch.zeros(3, 2, 16, 16), "(B, C, T, H, W)"),
        (np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8), "at least 11x11"),
    ],
)
def test_ssim_rejects_bad_input(a: object, b: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        ssim(a, b)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_tensor_data_range_is_fixed() -> None:
    with pytest.raises(ConfigError, match="always in"):
        psnr(torch.zeros(1, 3, 1, 4, 4), torch.zeros(1, 3, 1, 4, 4), data_range=1.0)


def test_mask_iou_per_instance_and_mean() -> None:
    pred = np.array([[1, 1, 0, 0], [2, 2, 2, 0], [0, 0, 0, 0]])
    target = np.array([[1, 0, 0, 0], [2, 2, 0, 0], [0, 0, 3, 3]])
    result = mask_iou(pred, target)
    # 1: inter 1 / union 2; 2: inter 2 / union 3; 3: only in target -> 0.
    assert result.per_instance == pytest.approx({1: 0.5, 2: 2 / 3, 3: 0.0})
    assert result.mean == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)


def test_mask_iou_video_counts_the_whole_volume_and_ignores_background() -> None:
    target = np.zeros((2, 4, 4), np.int32)
    target[0, :2, :2] = 5  # 4 px in frame 0
    target[1, :2, :2] = 5  # 4 px in frame 1
    pred = target.copy()
    pred[1] = 0  # missed in frame 1
    result = mask_iou(pred, target)
    assert result.per_instance == {5: 0.5}
    assert mask_iou(target, target).mean == 1.0
    assert mask_iou(torch.from_numpy(target), torch.from_numpy(target)).per_instance == {5: 1.0}


def test_mask_iou_all_background_is_nan() -> None:
    empty = np.zeros((3, 3), np.int64)
    result = mask_iou(empty, empty)
    assert result.per_instance == {} and math.isnan(result.mean)


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (np.zeros((3, 3), int), np.zeros((3, 4), int), "share a (H, W) or (T, H, W) shape"),
        (np.zeros((3, 3), float), np.zeros((3, 3), int), "integer instance ids"),
        (np.full((3, 3), -1), np.zeros((3, 3), int), "negative ids"),
        (np.zeros(3, int), np.zeros(3, int), "share a (H, W) or (T, H, W) shape"),
    ],
)
def test_mask_iou_rejects_bad_maps(pred: np.ndarray, target: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        mask_iou(pred, target)
    assert message in str(err.value)
