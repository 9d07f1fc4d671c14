"""Finite Scalar Quantisation (Mentzer et al. 2023, "FSQ: VQ-VAE made simple").

Each of the d latent channels is squashed into a bounded range and rounded to one of `levels[i]`
values; the product of the levels is the codebook size (8,8,8,5,5,5 -> 64,000). There is no learned
codebook and no auxiliary loss; gradients pass the rounding straight through.

Codes are the quantised values scaled to [-1, 1]: channel i takes values (q - L_i//2) / (L_i//2)
for q in 0 .. L_i - 1. Indices are the mixed-radix numbers sum_i q_i * prod_{j<i} L_j in
[0, codebook_size). `indices_to_codes(codes_to_indices(c)) == c` exactly, and the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from worldfm.errors import ConfigError


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient (identity in backward)."""
    return x + (x.round() - x).detach()


def digit_basis(levels: Sequence[int]) -> list[int]:
    """The mixed-radix place values of FSQ digits: a token's index is sum(digit[i] * basis[i]), digit i in
    [0, levels[i]), basis[i] = prod(levels[:i]) (the first level varies fastest). One definition for the
    quantiser and the entropy coder, which both split indices into digits."""
    return [math.prod(levels[:i]) for i in range(len(levels))]


class FSQ(nn.Module):
    """FSQ over channel `dim` of a tensor (default 1, i.e. `(B, d, ...)` with d = len(levels))."""

    def __init__(self, levels: Sequence[int], eps: float = 1e-3) -> None:
        super().__init__()
        levels = tuple(int(v) for v in levels)
        if not levels or min(levels) < 2:
            raise ConfigError(f"FSQ levels must be ints >= 2, got {levels}")
        self.levels = levels
        self.eps = eps
        self.codebook_size = math.prod(levels)
        basis = digit_basis(levels)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        self.register_buffer("_basis", torch.tensor(basis, dtype=torch.int64), persistent=False)
        self.register_buffer(
            "_half", torch.tensor([v // 2 for v in levels], dtype=torch.float32), persistent=False
        )

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def bits_per_token(self) -> float:
        return math.log2(self.codebook_size)

    def _check(self, z: torch.Tensor, dim: int) -> None:
        if z.shape[dim] != self.dim:
            raise ConfigError(f"FSQ expects {self.dim} channels on dim {dim}, got shape {tuple(z.shape)}")

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Channels-last z -> values in (-L//2 - eps', L//2 - (1 - L%2) + eps') that round to L levels."""
        levels = self._levels.to(z.dtype)
        half_l = (levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Quantise: float z -> codes in [-1, 1] of the same shape (straight-through gradients)."""
        self._check(z, dim)
        zl = z.movedim(dim, -1)
        codes = round_ste(self.bound(zl.float())) / self._half
        return codes.to(z.dtype).movedim(-1, dim)

    def codes_to_indices(self, codes: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Codes `(..., d on dim, ...)` -> int64 indices with `dim` removed."""
        self._check(codes, dim)
        c = codes.movedim(dim, -1).float()
        digits = (c * self._half + self._half).round().long()
        return (digits * self._basis).sum(dim=-1)

    def indices_to_codes(self, indices: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Int indices in [0, codebook_size) -> float32 codes with a new channel axis at `dim`."""
        if indices.is_floating_point() or indices.is_complex():
            raise ConfigError(f"FSQ indices must be an integer tensor, got {indices.dtype}")
        idx = indices.long()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.codebook_size):
            raise ConfigError(
                f"FSQ indices must lie in [0, {self.codebook_size}), got range "
                f"[{int(idx.min())}, {int(idx.max())}]"
            )
        digits = (idx.unsqueeze(-1) // self._basis) % self._levels.long()
        codes = (digits.float() - self._half) / self._half
        return codes.movedim(-1, dim)

    def quantize(self, z: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes, indices) for float z; indices carry no gradient."""
        codes = self(z, dim)
        with torch.no_grad():
            indices = self.codes_to_indices(codes.detach(), dim)
        return codes, indices

    def extra_repr(self) -> str:
        return f"levels={self.levels}, codebook_size={self.codebook_size}"
