"""The causal video encoder and decoder networks of the worldfm tokenizers.

Encoder, for a video `(B, 3, 1 + k*tf, H, W)` in [-1, 1]:

    Haar packet patch (pt x ps x ps, causal)          -> frames (B, 1 + k*tf/pt, 3*pt*ps*ps, H/ps, W/ps)
    1x1 conv -> [depth x CausalResBlock, CausalDownsample] per level (space and/or time by 2)
    mid CausalResBlock (+ FrameAttention + CausalResBlock when `attention`)
    norm -> SiLU -> 3x3 conv to latent_dim (+ channel-average shortcut) -> (B, latent_dim, 1 + k, H/sf, W/sf)

The decoder mirrors it (`decoder_depth` blocks per level; conv in with a channel-repeat shortcut, mid, [blocks, CausalUpsample] per
level, conv out, inverse Haar). Every layer is per frame or causal in time, and each resampling
step maps frame 0 alone and later frames in aligned groups, so:

- the first latent frame encodes the first video frame alone (an image is a one-frame video);
- latent frame j depends on video frames <= j*tf only, and decoded frames of chunk j depend on
  latent frames <= j only.

Only 2D convolutions and matrix products are used (no Conv3d; see `worldfm.nn.conv`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldfm.nn import (
    CausalDownsample,
    CausalResBlock,
    CausalUpsample,
    FrameAttention,
    HaarPatcher,
    SpatialConv,
)
from worldfm.nn.norm import make_norm
from worldfm.nn.resample import channel_shortcut
from worldfm.tokenizers.config import TokenizerConfig


def _mid(config: TokenizerConfig, width: int) -> nn.ModuleList:
    g, k, n = config.norm_groups, config.temporal_kernel, config.norm
    layers: list[nn.Module] = [CausalResBlock(width, width, g, k, n)]
    if config.attention:
        heads = max(1, width // 64)
        layers += [FrameAttention(width, heads, g, n), CausalResBlock(width, width, g, k, n)]
    return nn.ModuleList(layers)


class Encoder(nn.Module):
    """Video `(B, C_in, 1 + k*tf, H, W)` -> continuous latents `(B, latent_dim, 1 + k, H/sf, W/sf)`."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        c = config
        g, k, widths = c.norm_groups, c.temporal_kernel, c.widths
        self.patcher = HaarPatcher(c.patch_spatial, c.patch_temporal)
        # 1x1: the Haar bands already describe each patch; the res blocks add spatial context.
        self.conv_in = SpatialConv(c.in_channels * self.patcher.block, widths[0], 1)
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        steps = c.resample_steps
        for i, w in enumerate(widths):
            self.blocks.append(nn.ModuleList(CausalResBlock(w, w, g, k, c.norm) for _ in range(c.depth)))
            if i < len(steps):
                fs, ft = steps[i]
                self.downs.append(CausalDownsample(w, widths[i + 1], fs, ft))
        self.mid = _mid(c, widths[-1])
        self.norm_out = make_norm(c.norm, widths[-1], g)
        self.conv_out = SpatialConv(widths[-1], c.latent_dim, 3)
        self.latent_dim = c.latent_dim

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(self.patcher.patch(video))  # frames (B, n, w0, H/ps, W/ps)
        for i, blocks in enumerate(self.blocks):
            for block in blocks:
                h = block(h)
            if i < len(self.downs):
                h = self.downs[i](h)
        for layer in self.mid:
            h = layer(h)
        z = self.conv_out(F.silu(self.norm_out(h)))
        shortcut = channel_shortcut(h, self.latent_dim)
        if shortcut is not None:  # DC-AE: the latent starts as a channel average of the features
            z = z + shortcut
        return z.transpose(1, 2).contiguous()  # (B, latent_dim, n, h, w)


class Decoder(nn.Module):
    """Latents `(B, latent_dim, 1 + k, h, w)` -> video `(B, C_in, 1 + k*tf, h*sf, w*sf)` (unbounded floats)."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        c = config
        g, k, widths = c.norm_groups, c.temporal_kernel, c.widths
        self.patcher = HaarPatcher(c.patch_spatial, c.patch_temporal)
        self.conv_in = SpatialConv(c.latent_dim, widths[-1], 3)
        self.top_width = widths[-1]
        self.mid = _mid(c, widths[-1])
        self.blocks = nn.ModuleList()
        self.ups = nn.ModuleList()
        steps = c.resample_steps
        blocks = c.blocks_per_decoder_level
        for i in reversed(range(len(widths))):  # coarsest level first
            w = widths[i]
            self.blocks.append(nn.ModuleList(CausalResBlock(w, w, g, k, c.norm) for _ in range(blocks)))
            if i > 0:
                fs, ft = steps[i - 1]
                self.ups.append(CausalUpsample(w, widths[i - 1], fs, ft))
        self.norm_out = make_norm(c.norm, widths[0], g)
        self.conv_out = SpatialConv(widths[0], c.in_channels * self.patcher.block, 3)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.transpose(1, 2)  # frames (B, n, latent_dim, h, w)
        h = self.conv_in(z)
        shortcut = channel_shortcut(z, self.top_width)
        if shortcut is not None:
            h = h + shortcut
        for layer in self.mid:
            h = layer(h)
        for i, blocks in enumerate(self.blocks):
            for block in blocks:
                h = block(h)
            if i < len(self.ups):
                h = self.ups[i](h)
        h = self.conv_out(F.silu(self.norm_out(h)))
        return self.patcher.unpatch(h)
