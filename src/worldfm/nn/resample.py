"""Causal space/time <-> channel rearrangements and the down/up-sampling blocks built on them.

`space_to_depth` folds `fs x fs` pixels and `ft` frames into channels; in time it first pads on the
left with `ft - 1` copies of frame 0, so a `1 + k * ft` frame input gives `1 + k` output frames:
output frame 0 holds input frame 0 alone and output frame j >= 1 holds input frames
`(j - 1) * ft + 1 .. j * ft`. `depth_to_space` is its exact inverse (it drops the padding frames).

The blocks follow DC-AE (Chen et al. 2024): a conv changes the channel count and a rearrangement
changes the resolution, with a parameter-free shortcut (channel averaging down, channel repetition
up) that makes the block start close to plain pooling / nearest-neighbour upsampling; this makes
high-compression autoencoders train much faster.

Layout everywhere: frames `(B, T, C, H, W)`; channel order after folding is (c, dt, dy, dx).
"""

from __future__ import annotations

import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.nn.conv import SpatialConv, causal_pad


def space_to_depth(x: torch.Tensor, fs: int, ft: int) -> torch.Tensor:
    """`(B, 1 + k*ft, C, H, W)` -> `(B, 1 + k, C*ft*fs*fs, H/fs, W/fs)`, causal in time (see module doc)."""
    b, t, c, h, w = x.shape
    if (t - 1) % ft or h % fs or w % fs:
        raise ConfigError(
            f"space_to_depth needs T = 1 + k*{ft} and H, W multiples of {fs}, got T={t}, H={h}, W={w}"
        )
    x = causal_pad(x, ft - 1)
    n = x.shape[1] // ft
    x = x.reshape(b, n, ft, c, h // fs, fs, w // fs, fs)
    x = x.permute(0, 1, 3, 2, 5, 7, 4, 6)  # (B, n, C, ft, fs, fs, H', W')
    return x.reshape(b, n, c * ft * fs * fs, h // fs, w // fs)


def depth_to_space(x: torch.Tensor, fs: int, ft: int) -> torch.Tensor:
    """Inverse of `space_to_depth`: `(B, 1 + k, C*ft*fs*fs, H, W)` -> `(B, 1 + k*ft, C, H*fs, W*fs)`."""
    b, n, cf, h, w = x.shape
    if cf % (ft * fs * fs):
        raise ConfigError(f"depth_to_space: {cf} channels do not split into groups of {ft}x{fs}x{fs}")
    c = cf // (ft * fs * fs)
    x = x.reshape(b, n, c, ft, fs, fs, h, w).permute(0, 1, 3, 2, 6, 4, 7, 5)  # (B, n, ft, C, H, fs, W, fs)
    x = x.reshape(b, n * ft, c, h * fs, w * fs)
    return x[:, ft - 1 :]  # drop the frames that padded frame 0


def channel_average(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Average consecutive groups of channels: `(..., C, H, W)` -> `(..., channels, H, W)`; C % channels == 0."""
    c = x.shape[-3]
    if c % channels:
        raise ConfigError(f"channel_average: {c} channels do not split into {channels} groups")
    return x.unflatten(-3, (channels, c // channels)).mean(dim=-3)


def channel_repeat(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat every channel in place: `(..., C, H, W)` -> `(..., channels, H, W)`; channels % C == 0."""
    c = x.shape[-3]
    if channels % c:
        raise ConfigError(f"channel_repeat: {channels} channels are not a multiple of {c}")
    return x.repeat_interleave(channels // c, dim=-3)


def channel_shortcut(x: torch.Tensor, channels: int) -> torch.Tensor | None:
    """Parameter-free channel matching (average or repeat), or None when the counts do not divide."""
    c = x.shape[-3]
    if c == channels:
        return x
    if c % channels == 0:
        return channel_average(x, channels)
    if channels % c == 0:
        return channel_repeat(x, channels)
    return None


class CausalDownsample(nn.Module):
    """Downsample by `fs` in H and W and `ft` in time (causal), `(B, 1+k*ft, C_in, H, W)` -> `(B, 1+k, C_out, H/fs, W/fs)`.

    3x3 conv to `C_out / (ft*fs*fs)` channels at full resolution, then `space_to_depth`; plus the
    shortcut `channel_average(space_to_depth(x))` when the channel counts divide.
    """

    def __init__(self, in_channels: int, out_channels: int, fs: int = 2, ft: int = 1) -> None:
        super().__init__()
        f = ft * fs * fs
        if f < 2:
            raise ConfigError(f"CausalDownsample needs fs > 1 or ft > 1, got fs={fs}, ft={ft}")
        if out_channels % f:
            raise ConfigError(f"CausalDownsample: out_channels {out_channels} must be a multiple of {f}")
        self.fs, self.ft, self.out_channels = fs, ft, out_channels
        self.conv = SpatialConv(in_channels, out_channels // f, 3)
        self.use_shortcut = (in_channels * f) % out_channels == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = space_to_depth(self.conv(x), self.fs, self.ft)
        if self.use_shortcut:
            y = y + channel_average(space_to_depth(x, self.fs, self.ft), self.out_channels)
        return y


class CausalUpsample(nn.Module):
    """Upsample by `fs` in H and W and `ft` in time (causal), `(B, 1+k, C_in, H, W)` -> `(B, 1+k*ft, C_out, H*fs, W*fs)`.

    3x3 conv to `C_out * ft*fs*fs` channels, then `depth_to_space`; plus the shortcut
    `depth_to_space(channel_repeat(x))` (nearest-neighbour upsampling) when the counts divide. Output
    frames of latent frame j come from latent frame j only.
    """

    def __init__(self, in_channels: int, out_channels: int, fs: int = 2, ft: int = 1) -> None:
        super().__init__()
        f = ft * fs * fs
        if f < 2:
            raise ConfigError(f"CausalUpsample needs fs > 1 or ft > 1, got fs={fs}, ft={ft}")
        self.fs, self.ft, self.out_channels = fs, ft, out_channels
        self.conv = SpatialConv(in_channels, out_channels * f, 3)
        self.use_shortcut = (out_channels * f) % in_channels == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.ft * self.fs * self.fs
        y = self.conv(x)
        if self.use_shortcut:
            y = y + channel_repeat(x, self.out_channels * f)
        return depth_to_space(y, self.fs, self.ft)
