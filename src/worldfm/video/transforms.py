"""Conversions between the file layout and the model layout, and spatial/temporal crops and resizes.

Two layouts only:

- frames: `(T, H, W, C)` uint8 numpy, values 0..255 (what `worldfm.video.io` reads and writes);
- tensors: `(B, C, T, H, W)` float32 torch, values in [-1, 1] (what models take and return).

`frames_to_tensor` maps 0 -> -1 and 255 -> 1 linearly; `tensor_to_frames` clamps, rescales and rounds,
so uint8 -> tensor -> uint8 is the identity. Bad shapes, dtypes and sizes raise `ConfigError` (a
`ValueError`) naming the value.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError

Size = int | tuple[int, int]


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (T, H, W, C) or (B, T, H, W, C), numpy or torch -> float32 (B, C, T, H, W) in [-1, 1].

    A 4-d input gets a batch axis of 1, so the result is always 5-d. The tensor is on the CPU
    (move it with `.to(device)`); 0 maps to -1.0 and 255 to 1.0.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"frames must be a numpy array or torch tensor, got {type(frames).__name__}")
    if x.dtype != torch.uint8:
        raise ConfigError(f"frames must be uint8 (0..255), got dtype {x.dtype}")
    if x.ndim == 4:
        x = x.unsqueeze(0)
    if x.ndim != 5:
        raise ConfigError(f"frames must be (T, H, W, C) or (B, T, H, W, C), got shape {tuple(x.shape)}")
    x = x.permute(0, 4, 1, 2, 3)  # (B, T, H, W, C) -> (B, C, T, H, W)
    return x.to(torch.float32).div_(127.5).sub_(1.0).contiguous()


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float (B, C, T, H, W) or (C, T, H, W) in [-1, 1] -> uint8 numpy (B, T, H, W, C) or (T, H, W, C).

    The output has a batch axis exactly when the input has one. Values outside [-1, 1] are clamped
    (model outputs overshoot); NaN or inf raise `ConfigError` instead of turning into pixels.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ConfigError(f"expected a float torch tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.ndim not in (4, 5):
        raise ConfigError(f"expected (B, C, T, H, W) or (C, T, H, W), got shape {tuple(x.shape)}")
    x = x.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise ConfigError("tensor holds NaN or inf values; cannot convert to frames")
    pixels = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round_().to(torch.uint8)
    order = (0, 2, 3, 4, 1) if x.ndim == 5 else (1, 2, 3, 0)  # channels last
    return pixels.permute(*order).contiguous().numpy()


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise ConfigError(f"frames must be a (T, H, W, C) uint8 array, got {frames.shape} {frames.dtype}")
    return frames


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _pair(size: Size, name: str) -> tuple[int, int]:
    if _is_int(size):
        pair: tuple = (size, size)
    elif isinstance(size, (tuple, list)):
        pair = tuple(size)
    else:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) and v > 0 for v in pair):
        raise ConfigError(f"{name} must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def resize_frames(frames: np.ndarray, size: Size) -> np.ndarray:
    """Resize (T, H, W, C) uint8 frames to a new size; returns (T, h, w, C) uint8.

    `size` is an int (the shorter side becomes `size`, aspect ratio kept, the other side rounded)
    or `(h, w)`. Bilinear with antialiasing, so downscaling averages over the covered area instead
    of aliasing; upscaling is plain bilinear.
    """
    frames = _check_frames(frames)
    _, height, width, _ = frames.shape
    if _is_int(size):
        if size <= 0:
            raise ConfigError(f"size must be positive, got {size}")
        scale = size / min(height, width)
        out_h, out_w = max(1, round(height * scale)), max(1, round(width * scale))
    else:
        out_h, out_w = _pair(size, "size")
    if (out_h, out_w) == (height, width):
        return frames.copy()
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T, C, H, W)
    y = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _crop_size(frames: np.ndarray, size: Size) -> tuple[int, int]:
    out_h, out_w = _pair(size, "crop size")
    _, height, width, _ = frames.shape
    if out_h > height or out_w > width:
        raise ConfigError(f"crop size {(out_h, out_w)} is larger than the frames {(height, width)}")
    return out_h, out_w


def center_crop(frames: np.ndarray, size: Size) -> np.ndarray:
    """Crop the centre (h, w) window (int: square) of (T, H, W, C) frames; odd margins leave the extra pixel at the bottom/right."""
    frames = _check_frames(frames)
    out_h, out_w = _crop_size(frames, size)
    top = (frames.shape[1] - out_h) // 2
    left = (frames.shape[2] - out_w) // 2
    return frames[:, top : top + out_h, left : left + out_w].copy()


def random_crop(frames: np.ndarray, size: Size, rng: np.random.Generator) -> np.ndarray:
    """Crop the same random (h, w) window (int: square) from every frame of (T, H, W, C) frames.

    The offset is drawn uniformly from every valid position with `rng`, so a seeded generator gives
    a reproducible crop.
    """
    frames = _check_frames(frames)
    out_h, out_w = _crop_size(frames, size)
    top = int(rng.integers(0, frames.shape[1] - out_h + 1))
    left = int(rng.integers(0, frames.shape[2] - out_w + 1))
    return frames[:, top : top + out_h, left : left + out_w].copy()


def temporal_subsample(
    frames: np.ndarray, stride: int = 1, num_frames: int | None = None, start: int = 0
) -> np.ndarray:
    """Take frames `start, start + stride, ...` along the first (time) axis of any array.

    With `num_frames` set exactly that many are returned, and `ConfigError` is raised if the clip is
    too short; without it, every stride-th frame to the end.
    """
    if stride < 1 or start < 0:
        raise ConfigError(f"need stride >= 1 and start >= 0, got stride={stride}, start={start}")
    total = len(frames)
    if num_frames is None:
        if start >= total:
            raise ConfigError(f"start {start} is past the last frame of a {total}-frame clip")
        return frames[start::stride].copy()
    if num_frames < 1:
        raise ConfigError(f"num_frames must be >= 1, got {num_frames}")
    last = start + (num_frames - 1) * stride
    if last >= total:
        raise ConfigError(
            f"need {num_frames} frames at stride {stride} from {start} (up to index {last}), "
            f"but the clip has {total}"
        )
    return frames[start : last + 1 : stride].copy()


def even_indices(total: int, count: int) -> np.ndarray:
    """`min(count, total)` distinct frame indices spread evenly over `[0, total)`, first and last included."""
    if total < 1 or count < 1:
        raise ConfigError(f"need total >= 1 and count >= 1, got total={total}, count={count}")
    count = min(count, total)
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(np.int64))
