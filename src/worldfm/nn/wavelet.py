"""Haar wavelet packet patching: a lossless, invertible fold of pixels and frames into channels.

`HaarPatcher(ps, pt)` takes a public-layout video `(B, C, T, H, W)` with `T = 1 + k*pt` and H, W
multiples of `ps`, folds each `pt x ps x ps` block (time causally padded with copies of frame 0, as
in `space_to_depth`) into channels, and mixes each block with a full Haar wavelet packet of
log2(pt) temporal and log2(ps) spatial levels. Cosmos' tokenizers start the same way: the network
then works at 1/ps resolution on frequency bands instead of raw pixels, which is much cheaper.

Normalisation: orthonormal, as Cosmos' rescaled Haar: each 1-level step maps a pair (a, b) to
((a + b) / sqrt 2, (a - b) / sqrt 2), so the whole packet is an orthogonal matrix and an error of
size e on the coefficients is an error of size e on the pixels (an averaging normalisation would
amplify decoder errors by sqrt(block) on the way back to pixels). The low band of a block of n
values is their mean times sqrt(n). `unpatch(patch(x)) == x` up to float rounding.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.nn.resample import depth_to_space, space_to_depth


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@functools.lru_cache(maxsize=32)
def haar_matrix(n: int, inverse: bool = False) -> torch.Tensor:
    """The orthogonal `(n, n)` Haar wavelet packet matrix for n = 2^L (L levels on all bands), float64.

    Rows give the bands (row 0 is the block mean times sqrt(n)); the inverse is the transpose.
    """
    if not _is_pow2(n):
        raise ConfigError(f"Haar block size must be a power of two, got {n}")
    step = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / 2**0.5
    if inverse:
        step = step.T
    m = torch.ones(1, 1, dtype=torch.float64)
    while m.shape[0] < n:
        m = torch.kron(step, m)
    return m


class HaarPatcher(nn.Module):
    """Causal Haar packet patching. `patch`: `(B, C, 1 + k*pt, H, W)` -> frames `(B, 1 + k, C*pt*ps*ps, H/ps, W/ps)`.

    `unpatch` is the exact inverse (frames layout in, public layout out). The matrices are
    non-persistent buffers (not saved in checkpoints).
    """

    def __init__(self, ps: int, pt: int) -> None:
        super().__init__()
        if not (_is_pow2(ps) and _is_pow2(pt)):
            raise ConfigError(f"Haar patch sizes must be powers of two, got spatial {ps}, temporal {pt}")
        self.ps, self.pt = ps, pt
        # Channel order inside a block is (dt, dy, dx), matching space_to_depth, so the 3D packet is
        # the Kronecker product of the 1D packets along each axis.
        fwd = torch.kron(haar_matrix(pt), torch.kron(haar_matrix(ps), haar_matrix(ps)))
        inv = torch.kron(haar_matrix(pt, True), torch.kron(haar_matrix(ps, True), haar_matrix(ps, True)))
        self.register_buffer("fwd", fwd.float(), persistent=False)
        self.register_buffer("inv", inv.float(), persistent=False)

    @property
    def block(self) -> int:
        return self.pt * self.ps * self.ps

    def patch(self, video: torch.Tensor) -> torch.Tensor:
        """`(B, C, T, H, W)` public layout -> frames `(B, 1 + (T-1)/pt, C*pt*ps*ps, H/ps, W/ps)`."""
        x = space_to_depth(video.transpose(1, 2), self.ps, self.pt)  # (B, n, C*blk, h, w)
        if self.block == 1:
            return x
        b, n, cb, h, w = x.shape
        x = x.view(b, n, cb // self.block, self.block, h, w)
        x = torch.einsum("pq,bncqhw->bncphw", self.fwd.to(x.dtype), x)
        return x.reshape(b, n, cb, h, w)

    def unpatch(self, x: torch.Tensor) -> torch.Tensor:
        """Frames `(B, n, C*pt*ps*ps, h, w)` -> public `(B, C, 1 + (n-1)*pt, h*ps, w*ps)`."""
        if self.block > 1:
            b, n, cb, h, w = x.shape
            x = x.view(b, n, cb // self.block, self.block, h, w)
            x = torch.einsum("pq,bncqhw->bncphw", self.inv.to(x.dtype), x).reshape(b, n, cb, h, w)
        return depth_to_space(x, self.ps, self.pt).transpose(1, 2)
