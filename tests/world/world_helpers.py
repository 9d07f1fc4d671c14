"""Test helpers both world-model families use (`predict_helpers`, `ar_helpers` import them from here):
random parameters for tiny networks and a tiny synthetic video."""

from __future__ import annotations

import numpy as np
import torch


def randomize(net: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> torch.nn.Module:
    """Give every parameter (zero-initialised ones included) random values, so outputs are non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return net


def moving_square(frames: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """(frames, size, size, 3) uint8: a coloured square sliding right over a grey background."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(60, 255, 3)
    video = np.full((frames, size, size, 3), 90, np.uint8)
    for i in range(frames):
        x = (i * 2) % (size - 4)
        video[i, 4:10, x : x + 4] = colour
    return video
