"""Reconstruction losses that need no downloaded weights: L1, SSIM, image gradients, frequency.

Every function takes a prediction and a target of the same shape, either videos `(B, C, T, H, W)` or
images `(B, C, H, W)`, float, nominally in [-1, 1], and returns a scalar float32 tensor that is 0 for
identical inputs (up to float rounding) and differentiable in the prediction. Videos are scored
frame by frame, except the temporal term of `gradient_loss`.

- `l1_loss`: mean absolute error.
- `mse_loss`: mean squared error, the term PSNR measures (L1 pulls towards the median and tolerates
  rare large errors that cost PSNR most).
- `psnr_loss`: mean over frames of 10 log10(1 + MSE_frame / eps), i.e. minus each frame's PSNR up to a
  constant once the error is well above eps. Pooled MSE is dominated by the hardest frames; benchmarks
  average PSNR over frames, where a clean frame gaining 1 dB counts as much as a hard one gaining 1 dB.
  This term weighs each frame's squared error by 1 / (its MSE + eps), so it trains for that average.
- `ssim_loss`: 1 - SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, per RGB
  channel, valid region), the structural term; matches `worldfm.video.metrics.ssim` exactly.
- `gradient_loss`: L1 between Sobel edge maps (x and y), plus L1 between frame differences for
  videos, so blurred edges and smeared motion cost more than under plain L1.
- `frequency_loss`: mean magnitude of the difference of the orthonormal 2D FFTs, which weighs every
  spatial frequency equally (plain L1 lets high frequencies go first).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
DATA_RANGE = 2.0  # [-1, 1]
# psnr_loss's floor: an MSE of 1e-5 on [-1, 1] is 56 dB, past what 8-bit output can show (~59 dB with
# rounding noise), so frames that good stop pulling.
PSNR_EPS = 1e-5


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ConfigError(
            f"prediction and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    if pred.ndim not in (4, 5):
        raise ConfigError(
            f"expected (B, C, T, H, W) videos or (B, C, H, W) images, got shape {tuple(pred.shape)}"
        )


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W) float32; images pass through (as float32)."""
    x = x.float()
    return x.transpose(1, 2).flatten(0, 1) if x.ndim == 5 else x


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    _check(pred, target)
    return (pred.float() - target.float()).abs().mean()


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    _check(pred, target)
    return (pred.float() - target.float()).square().mean()


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over frames of 10 log10(1 + MSE_frame / PSNR_EPS): 0 for identical inputs; about
    (56 dB - the frame's PSNR) when the frame's MSE is well above PSNR_EPS."""
    _check(pred, target)
    per_frame = (_frames(pred) - _frames(target)).square().flatten(1).mean(dim=1)  # (N,)
    return (10.0 * torch.log10(1.0 + per_frame / PSNR_EPS)).mean()


def _gaussian(device: torch.device) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, valid region: (N, C, H, W) -> (N, C, H - 10, W - 10)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM over frames, channels and positions (scalar float32, 1 for identical inputs)."""
    _check(pred, target)
    # Shift [-1, 1] to [0, 2] as worldfm.video.metrics does: SSIM's luminance term is not shift-invariant.
    x, y = _frames(pred) + 1.0, _frames(target) + 1.0
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ConfigError(
            f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}"
        )
    g = _gaussian(x.device)
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    var_x = _blur(x * x, g) - mu_x**2
    var_y = _blur(y * y, g) - mu_y**2
    cov = _blur(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - SSIM: 0 for identical inputs, up to 2 for anti-correlated ones."""
    return 1.0 - ssim(pred, target)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradients of images (N, C, H, W) -> (N, 2C, H, W): x then y per channel (edges replicated)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device) / 8.0
    k = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    n, c, h, w = x.shape
    out = F.conv2d(F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate"), k)
    return out.reshape(n, 2 * c, h, w)


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between Sobel edge maps, plus (videos with T > 1) L1 between consecutive-frame differences."""
    _check(pred, target)
    loss = (sobel(_frames(pred)) - sobel(_frames(target))).abs().mean()
    if pred.ndim == 5 and pred.shape[2] > 1:
        dp = pred.float().diff(dim=2)
        dt = target.float().diff(dim=2)
        loss = loss + (dp - dt).abs().mean()
    return loss


def frequency_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |FFT2(pred) - FFT2(target)| (orthonormal, per frame and channel)."""
    _check(pred, target)
    diff = torch.fft.rfft2(_frames(pred) - _frames(target), norm="ortho")  # linear, so FFT of the difference
    return diff.abs().mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the reconstruction terms; a weight of 0 skips computing that term."""

    l1: float = 1.0
    ssim: float = 0.2
    gradient: float = 0.5
    frequency: float = 0.0
    aux: float = 1.0
    mse: float = 0.0
    psnr: float = 0.0

    def __post_init__(self) -> None:
        for name in ("l1", "ssim", "gradient", "frequency", "aux", "mse", "psnr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"loss weight {name} must be a number >= 0, got {value!r}")


def reconstruction_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: LossWeights,
    aux_loss: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the terms with non-zero weight; returns (total, {term name: unweighted value})."""
    terms: dict[str, torch.Tensor] = {}
    total = pred.new_zeros((), dtype=torch.float32)
    for name, fn in (
        ("l1", l1_loss),
        ("mse", mse_loss),
        ("psnr", psnr_loss),
        ("ssim", ssim_loss),
        ("gradient", gradient_loss),
        ("frequency", frequency_loss),
    ):
        w = getattr(weights, name)
        if w > 0:
            terms[name] = fn(pred, target)
            total = total + w * terms[name]
    # An auxiliary loss that carries no gradient (a model without one returns a constant 0) adds nothing.
    if aux_loss is not None and weights.aux > 0 and aux_loss.requires_grad:
        terms["aux"] = aux_loss.float()
        total = total + weights.aux * terms["aux"]
    return total, terms
