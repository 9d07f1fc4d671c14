"""Attention layers for video in the frames layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldfm.errors import ConfigError
from worldfm.nn.norm import make_norm


class FrameAttention(nn.Module):
    """Residual multi-head self-attention over the pixels of each frame, `(B, T, C, H, W)` -> same.

    Tokens never attend across frames, so the layer is trivially causal in time. Uses
    `scaled_dot_product_attention` (fused kernels on CPU and GPU).
    """

    def __init__(self, channels: int, heads: int = 1, groups: int = 8, norm: str = "rms") -> None:
        super().__init__()
        if channels % heads:
            raise ConfigError(f"FrameAttention: {channels} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = make_norm(norm, channels, groups)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)  # start as identity: the block only adds what it learns
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        tokens = self.norm(x).reshape(b * t, c, h * w).transpose(1, 2)  # (B*T, HW, C)
        q, k, v = self.qkv(tokens).view(b * t, h * w, 3, self.heads, c // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        y = self.out(y.transpose(1, 2).reshape(b * t, h * w, c))  # (B*T, HW, C)
        return x + y.transpose(1, 2).reshape(b, t, c, h, w)
