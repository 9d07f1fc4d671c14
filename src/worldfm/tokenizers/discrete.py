"""Discrete (DV) tokens: FSQ codes and integer indices, and their bit costs."""

from __future__ import annotations

import math

import torch
from torch import nn

from worldfm.tokenizers.config import TokenizerConfig
from worldfm.tokenizers.fsq import FSQ


class DiscreteBottleneck(nn.Module):
    """FSQ on the encoder output: `(B, d, T, H, W)` float -> codes of the same shape and `(B, T, H, W)` int64 indices."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.fsq = FSQ(config.fsq_levels)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fsq.quantize(z, dim=1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """`(B, T, H, W)` int indices -> `(B, d, T, H, W)` float32 codes."""
        return self.fsq.indices_to_codes(indices, dim=1)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        return self.fsq.codes_to_indices(codes, dim=1)


def bits_per_pixel(num_tokens: int, codebook_size: int, num_pixels: int) -> float:
    """Bits of a token stream (log2 codebook bits per token, no entropy coding) per video pixel (frame x H x W)."""
    return num_tokens * math.log2(codebook_size) / num_pixels
