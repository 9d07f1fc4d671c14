"""Normalisation layers that never mix frames, so causal video models stay causal."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldfm.errors import ConfigError


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over (channel group, H, W) of each frame separately.

    Input and output: frames layout `(B, T, C, H, W)` (or `(N, C, H, W)`). Statistics are per frame,
    never over time, so frame t of the output depends on frame t of the input only.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-6) -> None:
        if num_groups < 1 or num_channels % num_groups:
            raise ConfigError(f"GroupNorm: {num_channels} channels do not split into {num_groups} groups")
        super().__init__(num_groups, num_channels, eps=eps, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            b, t = x.shape[:2]
            y = F.group_norm(x.flatten(0, 1), self.num_groups, self.weight, self.bias, self.eps)
            return y.unflatten(0, (b, t))
        return super().forward(x)


class ChannelRMSNorm(nn.Module):
    """RMS normalisation over the channels of each pixel of each frame, with a learned per-channel scale.

    Input and output: `(B, T, C, H, W)` or `(N, C, H, W)` (channels on dim -3). Being per pixel, it
    is causal in time and local in space: a tile of a frame is normalised exactly as it would be
    inside the whole frame, which makes tiled encoding and decoding match untiled (GroupNorm's
    per-frame statistics would differ from tile to tile). DC-AE uses the same norm.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ChannelRMSNormFn.apply(x, self.weight, self.eps)


class _ChannelRMSNormFn(torch.autograd.Function):
    """y = x * r * w with r = 1 / sqrt(mean_c(x^2) + eps), reduced over dim -3.

    A hand-written backward (dx = r * (g*w - x*r * mean_c(g*w * x*r))) makes a training step's norms
    about 3x cheaper on CPU than autograd's chain of elementwise ops, which dominated the profile.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, weight: torch.Tensor, eps: float
    ) -> torch.Tensor:
        xf = x if x.dtype in (torch.float32, torch.float64) else x.float()  # bf16/fp16: reduce in fp32
        r = torch.rsqrt(xf.square().mean(dim=-3, keepdim=True) + eps).to(x.dtype)
        w = weight.to(x.dtype)[:, None, None]
        ctx.save_for_backward(x, w, r)
        ctx.weight_dtype = weight.dtype  # type: ignore[attr-defined]
        return x * r * w

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, g: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, w, r = ctx.saved_tensors  # type: ignore[attr-defined]
        xr = x * r
        gw = g * w
        dx = (gw - xr * (gw * xr).mean(dim=-3, keepdim=True)) * r
        dims = tuple(d for d in range(g.ndim) if d != g.ndim - 3)
        dw = (g * xr).sum(dim=dims)
        return dx, dw.to(ctx.weight_dtype), None  # type: ignore[attr-defined]


def make_norm(kind: str, channels: int, groups: int = 8) -> nn.Module:
    """`"rms"` -> ChannelRMSNorm (per pixel), `"group"` -> FrameGroupNorm (per frame)."""
    if kind == "rms":
        return ChannelRMSNorm(channels)
    if kind == "group":
        return FrameGroupNorm(groups, channels)
    raise ConfigError(f"norm must be 'rms' or 'group', got {kind!r}")
