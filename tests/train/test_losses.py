"""Reconstruction losses: zero on identical inputs, SSIM equal to the metric's, sensible orderings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError
from worldfm.train.losses import (
    PSNR_EPS,
    LossWeights,
    frequency_loss,
    gradient_loss,
    l1_loss,
    mse_loss,
    psnr_loss,
    reconstruction_loss,
    sobel,
    ssim,
    ssim_loss,
)
from worldfm.video.metrics import psnr as psnr_metric
from worldfm.video.metrics import ssim as ssim_metric

LOSSES = [l1_loss, mse_loss, psnr_loss, ssim_loss, gradient_loss, frequency_loss]


def video(seed: int = 0, shape: tuple[int, ...] = (2, 3, 5, 16, 16)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("fn", LOSSES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 16, 16), (2, 3, 1, 12, 20), (3, 3, 16, 16)])
def test_zero_for_identical_inputs_and_positive_otherwise(fn, shape) -> None:
    x = video(0, shape)
    assert fn(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    y = video(1, shape).requires_grad_(True)
    loss = fn(y, x)
    assert loss.dtype == torch.float32 and loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_ssim_equals_the_video_metric() -> None:
    a, b = video(0), (video(0) + 0.3 * video(1)).clamp(-1, 1)
    want = float(ssim_metric(a, b).per_video.mean())
    assert ssim(a, b).item() == pytest.approx(want, abs=1e-5)
    assert ssim_loss(a, a).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_loss_orders_distortions_and_is_bounded() -> None:
    x = video(0)
    light = x + 0.05 * video(1)
    heavy = x + 0.5 * video(2)
    assert 0 < ssim_loss(light, x) < ssim_loss(heavy, x) <= 2
    assert ssim_loss(-x, x).item() > 1.0  # anti-correlated structure


def test_gradient_loss_sees_blur_that_l1_barely_sees() -> None:
    x = torch.zeros(1, 3, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0  # a square with sharp edges
    blurred = F.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
    assert gradient_loss(blurred, x) > 0.5 * l1_loss(blurred, x)
    # temporal term: a frame-to-frame change that is missing costs even when edges match
    still = torch.cat([x, x], dim=2)
    moving = torch.cat([x, x.roll(2, dims=-1)], dim=2)
    assert gradient_loss(still, moving) > 0


def test_sobel_of_a_ramp() -> None:
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # increases by 1 per column
    g = sobel(ramp)
    assert torch.allclose(g[0, 0, :, 1:-1], torch.full((8, 6), 1.0))  # d/dx interior = 1 (kernel / 8 * 2)
    assert torch.allclose(g[0, 1], torch.zeros(8, 8))


def test_frequency_loss_is_parseval_consistent() -> None:
    a, b = video(0), video(1)
    d = (a - b).transpose(1, 2).flatten(0, 1)
    spectrum = torch.fft.fft2(d, norm="ortho")
    assert spectrum.abs().square().sum().item() == pytest.approx(d.square().sum().item(), rel=1e-4)
    assert frequency_loss(a, b).item() > 0


def test_psnr_loss_is_the_frame_averaged_psnr_up_to_a_constant() -> None:
    # Frames far above the floor: loss = mean over frames of (10 log10(4 / eps) - PSNR_frame).
    x = video(0)
    y = (x + 0.1 * video(1)).clamp(-1, 1)
    frame_psnr = psnr_metric(y, x).per_frame  # (B, T); the metric shifts [-1, 1] to [0, 2] itself
    want = float((10 * np.log10(4.0 / PSNR_EPS) - frame_psnr).mean())
    assert psnr_loss(y, x).item() == pytest.approx(want, abs=0.02)


def test_psnr_loss_weighs_clean_frames_up_where_pooled_mse_does_not() -> None:
    # Frame 0 has a tiny error, frame 1 a large one: pooled MSE gives frame 0 a small share of the
    # gradient (its error is small); per-frame log MSE gives both frames an equal share per unit of
    # relative error, so frame 0's gradient is far larger than under MSE.
    x = torch.zeros(1, 3, 2, 8, 8)
    y = x.clone()
    y[:, :, 0] += 0.01
    y[:, :, 1] += 0.3
    shares = {}
    for fn in (mse_loss, psnr_loss):
        p = y.clone().requires_grad_(True)
        fn(p, x).backward()
        g = p.grad.abs().sum(dim=(0, 1, 3, 4))  # per frame
        shares[fn.__name__] = (g[0] / g.sum()).item()
    assert shares["mse_loss"] < 0.05 < 0.9 < shares["psnr_loss"]


def test_reconstruction_loss_weights_and_terms() -> None:
    x, y = video(0), video(1)
    aux = torch.tensor(0.25, requires_grad=True)
    total, terms = reconstruction_loss(
        y,
        x,
        LossWeights(l1=1.0, ssim=0.5, gradient=0.0, frequency=2.0, aux=3.0, mse=4.0, psnr=0.01),
        aux,
    )
    assert set(terms) == {"l1", "mse", "psnr", "ssim", "frequency", "aux"}
    assert terms["mse"].item() == pytest.approx(((y - x) ** 2).mean().item(), rel=1e-6)
    assert terms["psnr"].item() == pytest.approx(psnr_loss(y, x).item(), rel=1e-6)
    want = (
        terms["l1"]
        + 4.0 * terms["mse"]
        + 0.01 * terms["psnr"]
        + 0.5 * terms["ssim"]
        + 2.0 * terms["frequency"]
        + 3.0 * 0.25
    )
    assert total.item() == pytest.approx(want.item(), rel=1e-6)
    total0, terms0 = reconstruction_loss(x, x, LossWeights(), torch.tensor(0.0))
    assert total0.item() == pytest.approx(0.0, abs=1e-6)
    assert "aux" not in terms0  # a constant auxiliary loss (no gradient) is left out


def test_errors() -> None:
    with pytest.raises(ConfigError, match="differ in shape"):
        l1_loss(video(0), video(0, (2, 3, 5, 16, 8)))
    with pytest.raises(ConfigError, match="at least 11x11"):
        ssim_loss(video(0, (1, 3, 1, 8, 8)), video(1, (1, 3, 1, 8, 8)))
    with pytest.raises(ConfigError, match="loss weight ssim"):
        LossWeights(ssim=-1.0)
    with pytest.raises(ConfigError, match="loss weight mse"):
        LossWeights(mse=-0.5)
    with pytest.raises(ConfigError, match="loss weight psnr"):
        LossWeights(psnr=-0.1)
    with pytest.raises(ConfigError, match=r"\(B, C, T, H, W\)"):
        l1_loss(torch.zeros(3, 4), torch.zeros(3, 4))


def test_losses_are_deterministic() -> None:
    x, y = video(0), video(1)
    values = [[fn(y, x).item() for fn in LOSSES] for _ in range(2)]
    assert np.array_equal(values[0], values[1])
