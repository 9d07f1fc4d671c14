"""Continuous (CV) latents: the identity bottleneck and the latent statistics world models use.

A CV tokenizer is a plain autoencoder (as Cosmos' CV tokenizers are): the encoder output is the
latent. World models train on normalised latents `(z - mean) / std` with per-channel statistics
measured on training data after the tokenizer is trained and stored in its config
(`latent_mean`, `latent_std`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from worldfm.errors import ConfigError
from worldfm.tokenizers.config import TokenizerConfig


def _stats(config: TokenizerConfig, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if config.kind != "continuous":
        raise ConfigError("latent statistics apply to continuous tokenizers only")
    if config.latent_mean is None or config.latent_std is None:
        raise ConfigError(
            f"tokenizer {config.name!r} has no latent_mean/latent_std yet; measure them with "
            "worldfm.tokenizers.continuous.latent_statistics and store them with with_latent_stats"
        )
    shape = (1, -1, 1, 1, 1)
    mean = torch.tensor(config.latent_mean, dtype=like.dtype, device=like.device).view(shape)
    std = torch.tensor(config.latent_std, dtype=like.dtype, device=like.device).view(shape)
    return mean, std


def normalize_latents(config: TokenizerConfig, latents: torch.Tensor) -> torch.Tensor:
    """`(B, C, T, H, W)` raw CV latents -> `(latents - mean) / std` per channel."""
    mean, std = _stats(config, latents)
    return (latents - mean) / std


def denormalize_latents(config: TokenizerConfig, latents: torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize_latents`."""
    mean, std = _stats(config, latents)
    return latents * std + mean


def latent_statistics(batches: Iterable[torch.Tensor]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std over batches of `(B, C, T, H, W)` latents (float64 running sums)."""
    total = None
    total_sq = None
    count = 0
    for z in batches:
        if z.ndim != 5:
            raise ConfigError(f"latents must be (B, C, T, H, W), got shape {tuple(z.shape)}")
        z64 = z.detach().to(torch.float64).transpose(0, 1).flatten(1)  # (C, N)
        s, sq = z64.sum(dim=1), z64.square().sum(dim=1)
        total = s if total is None else total + s
        total_sq = sq if total_sq is None else total_sq + sq
        count += z64.shape[1]
    if total is None or total_sq is None or count == 0:
        raise ConfigError("latent_statistics got no latents")
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def with_latent_stats(
    config: TokenizerConfig, mean: Iterable[float], std: Iterable[float]
) -> TokenizerConfig:
    """A copy of `config` holding the given per-channel statistics (validated)."""
    return config.replace(latent_mean=tuple(float(v) for v in mean), latent_std=tuple(float(v) for v in std))
