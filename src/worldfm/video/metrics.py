"""Video quality metrics: PSNR and SSIM per frame and per video, and object-mask IoU.

`psnr` and `ssim` take two videos of the same shape, either

- `(T, H, W, C)` numpy arrays: uint8 (data range 255) or float with an explicit `data_range`, or
- `(B, C, T, H, W)` float torch tensors in [-1, 1] (data range 2; `data_range` must be left None),

and return a `VideoScores`: `per_frame` is `(T,)` (numpy input) or `(B, T)` (tensor input) float64
numpy, `per_video` the mean over frames, a float or `(B,)`. Everything is computed in float64 on the
CPU. Tensors are shifted to [0, 2] first, so a uint8 video and `frames_to_tensor` of it score the
same (up to float rounding).

PSNR of a frame is `10 log10(R^2 / MSE)` over all its pixels and channels; identical frames give
`inf` (no cap), and so does the per-video mean if any frame is identical.

SSIM follows Wang et al. 2004: Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, computed
on each channel separately (RGB, not luma) over the valid region (no padding) and averaged over
channels and positions. This equals scikit-image's `structural_similarity(..., channel_axis=-1,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=R)`. Frames must be at
least 11 pixels on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


@dataclass(frozen=True)
class VideoScores:
    """Per-frame scores, `(T,)` for one video or `(B, T)` for a batch, float64; higher is better."""

    per_frame: np.ndarray

    @property
    def per_video(self) -> float | np.ndarray:
        """Mean over frames: a float for one video, `(B,)` for a batch."""
        mean = self.per_frame.mean(axis=-1)
        return float(mean) if self.per_frame.ndim == 1 else mean


def _numpy_frames(v: np.ndarray) -> torch.Tensor:
    # (T, H, W, C) -> (T, C, H, W)
    return torch.from_numpy(np.asarray(v, dtype=np.float64)).permute(0, 3, 1, 2)


def _tensor_frames(v: torch.Tensor) -> torch.Tensor:
    # [-1, 1] -> [0, 2]: SSIM's luminance term is not shift-invariant, and this shift makes tensor and
    # uint8 inputs of the same pixels score the same.
    v = v.detach().to("cpu", torch.float64) + 1.0
    return v.transpose(1, 2).flatten(0, 1)  # (B, C, T, H, W) -> (B*T, C, H, W)


def _as_frames(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None
) -> tuple[torch.Tensor, torch.Tensor, float, int | None]:
    """Return both videos as float64 (N, C, H, W) frames, the data range, and the batch size (None for numpy)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim != 4:
            raise ConfigError(f"numpy videos must be (T, H, W, C), got shape {a.shape}")
        if data_range is None and (a.dtype != np.uint8 or b.dtype != np.uint8):
            raise ConfigError(f"pass data_range for non-uint8 numpy videos (got {a.dtype} and {b.dtype})")
        data_range, convert, batch = (255.0 if data_range is None else data_range), _numpy_frames, None
    elif isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.ndim != 5 or not a.is_floating_point() or not b.is_floating_point():
            raise ConfigError(
                f"tensor videos must be float (B, C, T, H, W), got {tuple(a.shape)} {a.dtype} and {b.dtype}"
            )
        if data_range is not None:
            raise ConfigError(
                f"tensor videos are always in [-1, 1] (data range 2); got data_range={data_range}"
            )
        data_range, convert, batch = 2.0, _tensor_frames, a.shape[0]
    else:
        raise ConfigError(
            f"compare two numpy arrays or two torch tensors, got {type(a).__name__} and {type(b).__name__}"
        )
    if tuple(a.shape) != tuple(b.shape):
        raise ConfigError(f"videos differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if not data_range > 0:
        raise ConfigError(f"data_range must be positive, got {data_range}")
    return convert(a), convert(b), float(data_range), batch


def _unflatten(values: torch.Tensor, batch: int | None) -> np.ndarray:
    out = values.numpy()
    return out if batch is None else out.reshape(batch, -1)


def psnr(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None = None
) -> VideoScores:
    """Peak signal-to-noise ratio in dB per frame (see the module docstring for layouts and ranges)."""
    x, y, peak, batch = _as_frames(a, b, data_range)
    mse = (x - y).square().flatten(1).mean(dim=1)  # (N,)
    values = 10.0 * torch.log10(peak**2 / mse)  # mse == 0 gives inf
    return VideoScores(_unflatten(values, batch))


def _gaussian_window() -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, valid region only: (N, C, H, W) -> (N, C, H - 10, W - 10)."""
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w)
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    return x.reshape(n, c, x.shape[-2], x.shape[-1])


def ssim(
    a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None = None
) -> VideoScores:
    """Structural similarity per frame, averaged over RGB channels (see the module docstring)."""
    x, y, peak, batch = _as_frames(a, b, data_range)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ConfigError(
            f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}"
        )
    g = _gaussian_window()
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    mu_x, mu_y = _filter(x, g), _filter(y, g)
    var_x = _filter(x * x, g) - mu_x**2
    var_y = _filter(y * y, g) - mu_y**2
    cov = _filter(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return VideoScores(_unflatten((num / den).flatten(1).mean(dim=1), batch))


@dataclass(frozen=True)
class MaskIoU:
    """IoU of each instance id present in either label map, and their mean (NaN when there are none)."""

    per_instance: dict[int, float]
    mean: float


def mask_iou(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> MaskIoU:
    """Intersection over union per instance between two integer label maps of shape (H, W) or (T, H, W).

    Pixels with the same id belong to the same instance (across all frames: a video is scored as one
    volume); 0 is background and ignored. Every id present in either map counts, so an instance
    missing from one map scores 0. `mean` averages over those ids; it is NaN when both maps are
    all background, as there is nothing to score.
    """
    p = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
    t = target.detach().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target)
    if p.shape != t.shape or p.ndim not in (2, 3):
        raise ConfigError(f"label maps must share a (H, W) or (T, H, W) shape, got {p.shape} and {t.shape}")
    for name, m in (("pred", p), ("target", t)):
        if not (np.issubdtype(m.dtype, np.integer) or m.dtype == np.bool_):
            raise ConfigError(f"{name} must hold integer instance ids, got dtype {m.dtype}")
        if m.size and m.min() < 0:
            raise ConfigError(f"{name} holds negative ids (min {m.min()}); ids must be >= 0")
    p, t = p.astype(np.int64).ravel(), t.astype(np.int64).ravel()
    ids_p, area_p = np.unique(p[p > 0], return_counts=True)
    ids_t, area_t = np.unique(t[t > 0], return_counts=True)
    ids_i, inter = np.unique(p[(p == t) & (p > 0)], return_counts=True)
    areas_p, areas_t, inters = (
        dict(zip(ids_p, area_p, strict=True)),
        dict(zip(ids_t, area_t, strict=True)),
        dict(zip(ids_i, inter, strict=True)),
    )
    per_instance: dict[int, float] = {}
    for i in np.union1d(ids_p, ids_t):
        n = int(inters.get(i, 0))
        per_instance[int(i)] = n / (int(areas_p.get(i, 0)) + int(areas_t.get(i, 0)) - n)
    mean = float(np.mean(list(per_instance.values()))) if per_instance else float("nan")
    return MaskIoU(per_instance, mean)
