"""Tiny tokenizer configs (widths 8-16, a few thousand parameters) so each test runs in well under a second."""

import torch

from worldfm.tokenizers import TokenizerConfig, VideoTokenizer

TINY = dict(widths=(8, 16), depth=1, norm_groups=4, patch_spatial=4, patch_temporal=4)


def tiny_config(kind: str = "continuous", **overrides: object) -> TokenizerConfig:
    if kind == "discrete":
        base = dict(kind="discrete", latent_channels=None, fsq_levels=(8, 5, 5), **TINY)
    else:
        base = dict(kind="continuous", latent_channels=4, **TINY)
    return TokenizerConfig(**{**base, "name": f"tiny-{kind}", **overrides})


def tiny_model(kind: str = "continuous", seed: int = 0, **overrides: object) -> VideoTokenizer:
    torch.manual_seed(seed)
    return VideoTokenizer(tiny_config(kind, **overrides)).eval()


def smooth_video(b: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth moving pattern in [-0.9, 0.9], (B, 3, T, H, W)."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(b, 3, 1, 1, 1, generator=g) * 6
    tt = torch.linspace(0, 1, t).view(1, 1, t, 1, 1)
    yy = torch.linspace(0, 1, h).view(1, 1, 1, h, 1)
    xx = torch.linspace(0, 1, w).view(1, 1, 1, 1, w)
    return 0.9 * torch.sin(2.0 * xx + 1.5 * yy + tt + phase)
