"""3D rotary position embedding (RoPE) over (time, height, width) token grids, as in Cosmos' DiT.

The head dimension D is split into three even parts, one per axis: `d_h = d_w = 2 * (D // 6)` and
`d_t = D - d_h - d_w` (time gets the remainder). Each part is rotated by angles `pos * theta^(-2i/d)`
of its own axis, so the attention score between two tokens depends only on their offsets in t, h
and w, never on absolute positions (`tests/nn/test_rope_adaln.py` checks this).

Rotation pairs are the two halves of each head vector (the "rotate half" layout): for
`x = [x1, x2]`, `rope(x) = [x1 cos - x2 sin, x1 sin + x2 cos]` with one angle per pair.
"""

from __future__ import annotations

import torch
from torch import nn

from worldfm.errors import ConfigError


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """(d_t, d_h, d_w): how many channels of a head of size `head_dim` each axis rotates (all even)."""
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 6 or head_dim % 2:
        raise ConfigError(f"3D RoPE needs an even head dimension >= 6, got {head_dim!r}")
    ds = 2 * (head_dim // 6)
    return head_dim - 2 * ds, ds, ds


def _axis_angles(n: int, dim: int, theta: float, device: torch.device) -> torch.Tensor:
    """(n, dim/2) angles `pos * theta^(-2i/dim)` for positions 0..n-1 (float64 for exactness)."""
    inv = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    return torch.arange(n, dtype=torch.float64, device=device)[:, None] * inv[None]


def rope_3d_angles(
    t: int, h: int, w: int, head_dim: int, theta: float = 10000.0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Angles `(t*h*w, head_dim/2)` float64 for a t x h x w grid flattened t-major (then h, then w)."""
    dt, dh, dw = rope_axis_dims(head_dim)
    device = torch.device(device)
    at = _axis_angles(t, dt, theta, device)[:, None, None, :].expand(t, h, w, dt // 2)
    ah = _axis_angles(h, dh, theta, device)[None, :, None, :].expand(t, h, w, dh // 2)
    aw = _axis_angles(w, dw, theta, device)[None, None, :, :].expand(t, h, w, dw // 2)
    return torch.cat([at, ah, aw], dim=-1).reshape(t * h * w, head_dim // 2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x` `(..., N, D)` by per-token angles given as `cos`, `sin` `(N, D/2)` (broadcast over `...`).

    Half-precision inputs are rotated in float32 (bf16 angles would blur distant positions) and
    returned in their own dtype."""
    dtype = x.dtype
    xf = x if dtype in (torch.float32, torch.float64) else x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    cos, sin = cos.to(xf.dtype), sin.to(xf.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(dtype)


class RoPE3D(nn.Module):
    """Holds theta and a cache of (cos, sin) per grid size; `forward(t, h, w, device)` -> `(N, D/2)` each.

    The tables are computed in float64 and stored in float32; no state is saved with the model.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        rope_axis_dims(head_dim)
        if not theta > 1:
            raise ConfigError(f"RoPE theta must be > 1, got {theta!r}")
        self.head_dim, self.theta = head_dim, float(theta)
        self._cache: dict[tuple[int, int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(
        self, t: int, h: int, w: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        key = (t, h, w, str(device))
        if key not in self._cache:
            angles = rope_3d_angles(t, h, w, self.head_dim, self.theta, device)
            self._cache[key] = (angles.cos().float(), angles.sin().float())
        return self._cache[key]

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, theta={self.theta:g}, axes={rope_axis_dims(self.head_dim)}"
