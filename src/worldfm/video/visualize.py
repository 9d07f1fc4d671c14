"""Pictures of videos: contact sheets, depth and segmentation colouring, atomic PNG writes.

Everything here takes and returns uint8 RGB numpy arrays: videos `(T, H, W, 3)`, images `(H, W, 3)`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from worldfm.errors import ConfigError, VideoError
from worldfm.video.io import atomic_output
from worldfm.video.transforms import even_indices

BACKGROUND = 0  # sheet padding and label bands are black, labels white
TEXT_COLOR = (255, 255, 255)

# Viridis sampled at 0, 1/8, ..., 1; depth colours interpolate linearly between these anchors.
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ],
    dtype=np.float64,
)


def _segmentation_palette(size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours: 0 is black, others step the hue by the golden ratio so neighbours differ."""
    i = np.arange(size)
    hue = (i * 0.618033988749895) % 1.0
    sat = np.where(i % 2 == 0, 0.65, 0.9)
    val = np.where(i % 3 == 0, 0.8, 1.0)
    # HSV -> RGB, vectorised.
    h6 = hue * 6.0
    c = val * sat
    x = c * (1 - np.abs(h6 % 2 - 1))
    zero = np.zeros_like(c)
    sector = h6.astype(int) % 6
    table = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
    rgb = np.zeros((size, 3))
    for s, (r, g, b) in enumerate(table):
        rgb[sector == s] = np.stack([r, g, b], axis=-1)[sector == s]
    rgb += (val - c)[:, None]
    palette = np.round(rgb * 255).astype(np.uint8)
    palette[0] = 0
    return palette


SEGMENTATION_PALETTE = _segmentation_palette()


def colorize_segmentation(seg: np.ndarray) -> np.ndarray:
    """Integer instance ids (T, H, W) (or (H, W)) -> RGB uint8 (..., 3) with a fixed palette.

    Id 0 (background) is black; id k > 0 gets palette entry `1 + (k - 1) % 255`, so ids above 255
    reuse colours. The same id always gets the same colour.
    """
    seg = np.asarray(seg)
    if not np.issubdtype(seg.dtype, np.integer):
        raise ConfigError(f"segmentation must hold integer ids, got dtype {seg.dtype}")
    if seg.size and seg.min() < 0:
        raise ConfigError(f"segmentation ids must be >= 0, got min {seg.min()}")
    index = np.where(seg > 0, 1 + (seg.astype(np.int64) - 1) % 255, 0)
    return SEGMENTATION_PALETTE[index]


def colorize_depth(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """Metric depth (T, H, W) (or (H, W)) float, > 0 -> RGB uint8 (..., 3) with the viridis colour map.

    Colour is linear in inverse depth (like a disparity map): near structure gets most of the colour
    range and a distant far plane (sky, empty background) does not squash it. Near is bright yellow,
    far dark purple. The scale is `[near, far]`, by default the min and max valid depth over the
    whole video (one scale for all frames, so colours are comparable across time). Non-finite or
    non-positive depth (no hit) is black.
    """
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    if near is None or far is None:
        values = depth[valid]
        lo, hi = (float(values.min()), float(values.max())) if values.size else (1.0, 1.0)
        near = lo if near is None else near
        far = hi if far is None else far
    if not 0 < near <= far:
        raise ConfigError(f"need 0 < near <= far, got near={near}, far={far}")
    inv = 1.0 / np.where(valid, depth, far)
    span = 1.0 / near - 1.0 / far
    # 1 = near, 0 = far; flat depth (span 0) gets the near colour everywhere.
    t = np.clip((inv - 1.0 / far) / span, 0.0, 1.0) if span > 0 else np.ones_like(inv)
    pos = t * (len(_VIRIDIS) - 1)
    low = np.minimum(pos.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (pos - low)[..., None]
    rgb = _VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac
    rgb[~valid] = 0
    return np.round(rgb).astype(np.uint8)


def _as_rgb_video(video: np.ndarray, index: int) -> np.ndarray:
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim not in (3, 4) or (video.ndim == 4 and video.shape[-1] != 3):
        raise ConfigError(
            f"video {index} must be (T, H, W, 3) or (T, H, W) uint8, got {video.shape} {video.dtype}"
        )
    if len(video) == 0:
        raise ConfigError(f"video {index} has no frames")
    return np.repeat(video[..., None], 3, axis=-1) if video.ndim == 3 else video


def contact_sheet(
    videos: Sequence[np.ndarray],
    columns: int = 8,
    labels: Sequence[str] | None = None,
    pad: int = 2,
) -> np.ndarray:
    """One row per video of `columns` frames sampled evenly over time (first and last included).

    Videos are (T, H, W, 3) uint8 (grey (T, H, W) is accepted) and may differ in size and length;
    a video shorter than `columns` shows each frame once and leaves the rest of its row empty. With
    `labels` (one per video), each row gets a caption line above it in Pillow's default font; text
    wider than the sheet is cut off. Cells are separated by `pad` black pixels. Returns (H, W, 3) uint8.
    """
    if not videos:
        raise ConfigError("contact_sheet needs at least one video")
    if columns < 1 or pad < 0:
        raise ConfigError(f"need columns >= 1 and pad >= 0, got columns={columns}, pad={pad}")
    if labels is not None and len(labels) != len(videos):
        raise ConfigError(f"got {len(labels)} labels for {len(videos)} videos")
    rows = [_as_rgb_video(v, i) for i, v in enumerate(videos)]
    font = ImageFont.load_default()
    text_h = 0
    if labels is not None:
        text_h = font.getbbox("Ag")[3] + 2  # bottom of the glyph box drawn at y=0, plus a small gap
    width = pad + max(columns * (v.shape[2] + pad) for v in rows)
    height = pad + sum(text_h + v.shape[1] + pad for v in rows)
    sheet = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    y = pad
    label_rows: list[tuple[int, str]] = []
    for i, video in enumerate(rows):
        if labels is not None:
            label_rows.append((y, str(labels[i])))
            y += text_h
        h, w = video.shape[1:3]
        for col, t in enumerate(even_indices(len(video), columns)):
            x = pad + col * (w + pad)
            sheet[y : y + h, x : x + w] = video[t]
        y += h + pad
    if label_rows:
        image = Image.fromarray(sheet)
        draw = ImageDraw.Draw(image)
        for y_text, text in label_rows:
            draw.text((pad, y_text), text, fill=TEXT_COLOR, font=font)
        sheet = np.asarray(image).copy()
    return sheet


def save_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an (H, W, 3) or (H, W) uint8 image as PNG, atomically (temp file, then rename). Returns the path."""
    path = Path(path)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ConfigError(f"image must be (H, W, 3) or (H, W) uint8, got {image.shape} {image.dtype}")
    if path.suffix.lower() != ".png":
        raise VideoError(path, f"save_image writes PNG; expected a .png path, got {path.suffix!r}")
    try:
        with atomic_output(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    except OSError as exc:
        raise VideoError(path, f"cannot write image ({exc.__class__.__name__}: {exc})") from exc
    return path
