"""Video I/O (PyAV), transforms between file and model layouts, quality metrics and pictures.

Frames are `(T, H, W, C)` uint8 numpy at the edges (files, images) and `(B, C, T, H, W)` float32
torch in [-1, 1] inside models; `frames_to_tensor` / `tensor_to_frames` convert between them.

Names are imported lazily (PEP 562) so that video I/O alone, e.g. `worldfm video info`, does not
pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Searched in this order, so names from io never import torch.
_SUBMODULES = ("io", "transforms", "metrics", "visualize")

__all__ = [
    "MaskIoU",
    "VideoInfo",
    "VideoScores",
    "atomic_output",
    "center_crop",
    "colorize_depth",
    "colorize_segmentation",
    "contact_sheet",
    "decode_video_bytes",
    "encode_video_bytes",
    "even_indices",
    "frames_to_tensor",
    "iter_frames",
    "mask_iou",
    "probe_video",
    "probe_video_bytes",
    "psnr",
    "random_crop",
    "read_video",
    "resize_frames",
    "save_image",
    "ssim",
    "temporal_subsample",
    "tensor_to_frames",
    "write_video",
]

if TYPE_CHECKING:
    from worldfm.video.io import (
        VideoInfo,
        atomic_output,
        decode_video_bytes,
        encode_video_bytes,
        iter_frames,
        probe_video,
        probe_video_bytes,
        read_video,
        write_video,
    )
    from worldfm.video.metrics import MaskIoU, VideoScores, mask_iou, psnr, ssim
    from worldfm.video.transforms import (
        center_crop,
        even_indices,
        frames_to_tensor,
        random_crop,
        resize_frames,
        temporal_subsample,
        tensor_to_frames,
    )
    from worldfm.video.visualize import colorize_depth, colorize_segmentation, contact_sheet, save_image


def __getattr__(name: str) -> Any:
    if name in __all__:
        for sub in _SUBMODULES:
            module = importlib.import_module(f"worldfm.video.{sub}")
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value  # cache: later lookups skip __getattr__
                return value
    raise AttributeError(f"module 'worldfm.video' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
