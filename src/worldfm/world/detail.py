"""Detail restore: give generated frames back the detail the tokenizer loses, where they did not change.

A world model's frames come out of the tokenizer's decoder, so even content the model keeps still (a
static background, an object at rest) carries the decoder's reconstruction error: at 64 px the nano
tokenizers blur edges and shift colours by a few dB. The pipelines know the true pixels of their last
conditioning frame, and the decoder's version of it (the same latents, decoded in the same window).
Their difference is the decoder's error on that frame; where a generated pixel matches the decoded
reference, the content there did not change, and adding that error back restores the given pixel.
Where the model moved something, the generated pixel differs from the decoded reference and is kept
as decoded. Video codecs do the same with skip blocks: an unchanged block copies the reference.

The weight of the correction falls smoothly with the change: `exp(-(change / tolerance) ** 2)`, the
change being the largest channel difference, averaged over 3 x 3 pixels so a moving object's rim is
not half restored. `tolerance` 0 turns the restore off (frames as decoded).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError

DEFAULT_DETAIL_RESTORE = 0.1  # tolerance in [0, 1] pixel units; chosen on held-out sim clips


def check_detail_restore(value: object) -> float:
    """`value` as a float tolerance in [0, 1] (0 = off), or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"detail_restore must be a number in [0, 1] (0 = off), got {value!r}")
    if not 0 <= value <= 1:
        raise ConfigError(f"detail_restore must be in [0, 1] (0 = off), got {value!r}")
    return float(value)


def check_detail_settings(settings: Any) -> None:
    """Check the detail fields every world-model settings dataclass has (`detail_restore`, normalised
    to a float in place, and `detail_refine`, a bool); ConfigError naming the field otherwise. Called
    from those frozen dataclasses' `__post_init__`."""
    object.__setattr__(settings, "detail_restore", check_detail_restore(settings.detail_restore))
    if not isinstance(settings.detail_refine, bool):
        raise ConfigError(f"detail_refine must be true or false, got {settings.detail_refine!r}")


def restore_detail(
    generated: np.ndarray,
    decoded_ref: np.ndarray,
    given_ref: np.ndarray,
    tolerance: float,
    chunk_frames: int = 32,
) -> np.ndarray:
    """Generated frames with the reference frame's lost detail added back where they did not change.

    generated: `(K, F, H, W, 3)` uint8, frames as the tokenizer decoded them.
    decoded_ref: `(K, H, W, 3)` uint8, the decoder's version of the reference (last conditioning) frame.
    given_ref: `(K, H, W, 3)` uint8, the reference frame as given.
    tolerance: change (in [0, 1] pixel units) at which the correction has fallen to 1/e; 0 = off.
    chunk_frames: frames processed at a time, so long videos need bounded float memory (frames are
        independent: the result does not depend on it).
    Returns `(K, F, H, W, 3)` uint8 (`generated` itself when tolerance is 0).
    """
    tolerance = check_detail_restore(tolerance)
    if generated.ndim != 5 or generated.shape[-1] != 3:
        raise ConfigError(f"generated must be (K, F, H, W, 3) frames, got shape {generated.shape}")
    want = (generated.shape[0], *generated.shape[2:])
    for name, ref in (("decoded_ref", decoded_ref), ("given_ref", given_ref)):
        if ref.shape != want:
            raise ConfigError(f"{name} must be {want} to match generated {generated.shape}, got {ref.shape}")
    for name, array in (("generated", generated), ("decoded_ref", decoded_ref), ("given_ref", given_ref)):
        if array.dtype != np.uint8:
            raise ConfigError(f"{name} must be uint8, got {array.dtype}")
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ConfigError(f"chunk_frames must be an integer >= 1, got {chunk_frames!r}")
    if tolerance == 0 or generated.shape[1] == 0:
        return generated
    # torch.tensor copies: inputs may be read-only views (a broadcast reference frame)
    decoded = torch.tensor(decoded_ref, dtype=torch.float32)[:, None]  # (K, 1, H, W, 3)
    lost = torch.tensor(given_ref, dtype=torch.float32)[:, None] - decoded
    out = np.empty_like(generated)
    for lo in range(0, generated.shape[1], chunk_frames):
        frames = torch.tensor(generated[:, lo : lo + chunk_frames], dtype=torch.float32)
        change = (frames - decoded).abs().amax(dim=-1) / 255.0  # (K, f, H, W)
        k, f, h, w = change.shape
        change = F.avg_pool2d(change.reshape(k * f, 1, h, w), 3, stride=1, padding=1, count_include_pad=False)
        weight = torch.exp(-((change.reshape(k, f, h, w, 1) / tolerance) ** 2))
        out[:, lo : lo + f] = (frames + weight * lost).round().clamp(0, 255).to(torch.uint8).numpy()
    return out
