"""Shared neural-network layers for worldfm models.

Video layers here work in the *frames layout* `(B, T, C, H, W)`: batch, time, channels, height,
width. Spatial layers fold time into the batch (a free view), so every 2D op runs per frame; temporal
layers mix frames causally (frame t sees frames <= t only). Models take and return the public
`(B, C, T, H, W)` layout and convert once at their edges.
"""

from worldfm.nn.attention import FrameAttention
from worldfm.nn.conv import CausalResBlock, CausalTemporalConv, SpatialConv
from worldfm.nn.norm import ChannelRMSNorm, FrameGroupNorm, make_norm
from worldfm.nn.resample import (
    CausalDownsample,
    CausalUpsample,
    channel_average,
    channel_repeat,
    depth_to_space,
    space_to_depth,
)
from worldfm.nn.wavelet import HaarPatcher, haar_matrix

__all__ = [
    "CausalDownsample",
    "CausalResBlock",
    "CausalTemporalConv",
    "CausalUpsample",
    "ChannelRMSNorm",
    "FrameAttention",
    "FrameGroupNorm",
    "HaarPatcher",
    "SpatialConv",
    "channel_average",
    "channel_repeat",
    "depth_to_space",
    "haar_matrix",
    "make_norm",
    "space_to_depth",
]
